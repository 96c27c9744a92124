// The POP3 dialogue of `uptls probe` (pop3://, pop3s://): greeting, CAPA, STLS
// or implicit TLS, CAPA again over TLS, QUIT. No login: a probe has no password.
#include <optional>

#include "probe.hpp"
#include "uptls/pop3.hpp"

namespace uptls::cli {
namespace {

// A trace that also tells env where the session is: the +OK to STLS starts
// the handshake, and the client speaks again only once TLS is up.
probe_env::trace_fn watch_stls(probe_env& env) {
  return [&env, show = env.tracer(), stls_sent = false](std::string_view dir, std::string_view line) mutable {
    show(dir, line);
    if (dir == "C" && env.where() == stage::handshake) env.at(stage::tls);
    if (dir == "C") stls_sent = line == "STLS";
    if (dir == "S" && stls_sent && (line == "+OK" || line.substr(0, 4) == "+OK ")) env.at(stage::handshake);
  };
}

result<> open_direct(probe_env& env, const pop3::client_options& opts, std::optional<pop3::client>& c) {
  const probe_plan& p = env.plan();
  auto ctx = env.tls_context();
  if (!ctx) return ctx.status();
  auto s = env.dial(pop3::line_limits(env.stream_defaults()));
  if (!s) return s.status();
  if (!p.implicit()) {
    c.emplace(std::move(s).value(), opts);
    return c->open(*ctx, env.peer());
  }
  env.at(stage::handshake);
  const result<> up = s->start_tls(*ctx, env.peer());
  c.emplace(std::move(s).value(), opts);  // owns the stream either way: its failure detail stays readable
  if (!up) return up;
  env.at(stage::tls);
  return c->open_implicit();
}

}  // namespace

int run_pop3(probe_env& env) {
  const probe_plan& p = env.plan();
  pop3::client_options opts;
  opts.mode = p.opportunistic ? pop3::tls_mode::opportunistic : pop3::tls_mode::required;
  opts.trace = watch_stls(env);

  std::optional<pop3::client> c;
  if (p.laddered()) {
    fallback_result res =
        env.climb(p.implicit() ? implicit_tls() : pop3::starttls_prelude(opts), pop3::line_limits(env.stream_defaults()));
    if (!res.ok()) return env.ladder_failed(res.report);
    c.emplace(std::move(*res.connection), opts);
    if (const result<> r = p.implicit() ? c->open_implicit() : c->open_upgraded(); !r) return env.failed(r.error());
  } else if (const result<> r = open_direct(env, opts, c); !r) {
    return env.failed(r.error(), c ? &c->connection().last_failure() : nullptr);
  }

  if (const session_info* s = c->connection().session()) {
    env.tls_up(*s);
  } else {
    env.at(stage::dialogue);
    env.without_tls(c->tls_skip_reason());
  }
  env.capabilities(c->capabilities());
  if (const result<> q = c->quit(); !q) return env.failed(q.error());
  return env.succeeded();
}

}  // namespace uptls::cli
