// The IMAP dialogues of `uptls probe` (imap://, imaps://): greeting,
// CAPABILITY, STARTTLS or implicit TLS, CAPABILITY again inside TLS, LOGOUT.
#include <optional>

#include "probe.hpp"
#include "uptls/imap.hpp"

namespace uptls::cli {
namespace {

// A trace that also tells env where the session is: the tagged OK to STARTTLS
// starts the handshake (an EOF after it is a server hanging up on our
// ClientHello, not a dialogue failure), and the client speaks again only once
// TLS is up.
probe_env::trace_fn watch_starttls(probe_env& env) {
  return [&env, show = env.tracer(), tag = std::string()](std::string_view dir, std::string_view line) mutable {
    show(dir, line);
    if (dir == "C" && env.where() == stage::handshake) env.at(stage::tls);
    if (dir == "C") {
      const std::size_t sp = line.find(' ');
      tag = sp != std::string_view::npos && line.substr(sp + 1) == "STARTTLS" ? std::string(line.substr(0, sp)) : "";
    }
    if (dir == "S" && !tag.empty() && line.substr(0, tag.size() + 4) == tag + " OK ") env.at(stage::handshake);
  };
}

result<> open_direct(probe_env& env, const imap::client_options& opts, std::optional<imap::client>& c) {
  const probe_plan& p = env.plan();
  auto ctx = env.tls_context();
  if (!ctx) return ctx.status();
  auto s = env.dial(imap::line_limits(env.stream_defaults()));
  if (!s) return s.status();
  if (!p.implicit()) {
    c.emplace(std::move(s).value(), opts);
    return c->open(*ctx, env.peer());
  }
  env.at(stage::handshake);
  const result<> up = s->start_tls(*ctx, env.peer());
  c.emplace(std::move(s).value(), opts);
  if (!up) return up;
  env.at(stage::tls);
  return c->open_implicit();
}

}  // namespace

int run_imap(probe_env& env) {
  const probe_plan& p = env.plan();
  imap::client_options opts;
  opts.mode = p.opportunistic ? imap::tls_mode::opportunistic : imap::tls_mode::required;
  opts.trace = watch_starttls(env);

  std::optional<imap::client> c;
  if (p.laddered()) {
    fallback_result res = env.climb(p.implicit() ? implicit_tls() : imap::starttls_prelude(opts),
                                    imap::line_limits(env.stream_defaults()));
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
  int status = env.succeeded();
  if (const result<> q = c->logout(); !q && status == exit_ok) status = env.failed(q.error());
  return status;
}

}  // namespace uptls::cli
