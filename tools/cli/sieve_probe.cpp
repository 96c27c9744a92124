// The ManageSieve dialogue of `uptls probe` (sieve://): the capability
// greeting, STARTTLS, the handshake, the capabilities the server sends again
// inside TLS (the only ones shown), LOGOUT.
#include <optional>

#include "probe.hpp"
#include "uptls/sieve.hpp"

namespace uptls::cli {
namespace {

// A trace that also tells env where the session is: the OK to STARTTLS starts
// the handshake (an EOF after it is a server hanging up on our ClientHello),
// and the client's own note says when TLS is up.
probe_env::trace_fn watch_starttls(probe_env& env) {
  return [&env, show = env.tracer(), starttls_sent = false](std::string_view dir, std::string_view line) mutable {
    show(dir, line);
    if (dir == "*" && line.substr(0, 15) == "TLS established") env.at(stage::tls);
    if (dir == "C") starttls_sent = line == "STARTTLS";
    if (dir == "S" && starttls_sent && line.substr(0, 2) == "OK") env.at(stage::handshake);
  };
}

// "NAME value" per capability, as the output shows them.
std::vector<std::string> shown(const std::vector<sieve::capability>& caps) {
  std::vector<std::string> out;
  for (const auto& c : caps) out.push_back(c.value.empty() ? c.name : c.name + " " + c.value);
  return out;
}

}  // namespace

int run_sieve(probe_env& env) {
  const probe_plan& p = env.plan();
  sieve::client_options opts;
  opts.mode = p.opportunistic ? sieve::tls_mode::opportunistic : sieve::tls_mode::required;
  opts.trace = watch_starttls(env);

  std::optional<sieve::client> c;
  if (p.laddered()) {
    fallback_result res = env.climb(sieve::starttls_prelude(opts), sieve::line_limits(env.stream_defaults()));
    if (!res.ok()) return env.ladder_failed(res.report);
    c.emplace(std::move(*res.connection), opts);
    if (const result<> r = c->open_upgraded(); !r) return env.failed(r.error());
  } else {
    auto ctx = env.tls_context();
    if (!ctx) return env.failed(ctx.error());
    auto s = env.dial(sieve::line_limits(env.stream_defaults()));
    if (!s) return env.failed(s.error());
    c.emplace(std::move(s).value(), opts);
    if (const result<> r = c->open(*ctx, env.peer()); !r) return env.failed(r.error(), &c->connection().last_failure());
  }

  if (const session_info* s = c->connection().session()) {
    env.tls_up(*s);
  } else {
    env.at(stage::dialogue);
    env.without_tls(c->tls_skip_reason());
  }
  env.capabilities(shown(c->capabilities()));
  int status = env.succeeded();
  if (const result<> q = c->logout(); !q) status = env.failed(q.error());
  return status;
}

}  // namespace uptls::cli
