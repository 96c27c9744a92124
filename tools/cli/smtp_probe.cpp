// The SMTP and LMTP dialogues of `uptls probe` (smtp://, submission://,
// smtps://, lmtp://): greeting, EHLO (LHLO), STARTTLS or implicit TLS, EHLO
// again over TLS, the optional message, QUIT.
#include <optional>

#include "probe.hpp"
#include "uptls/smtp.hpp"

namespace uptls::cli {
namespace {

// A trace that also tells env where the session is: the server's 220 to
// STARTTLS starts the handshake (an EOF after it is a server hanging up on our
// ClientHello, not a dialogue failure), and the client speaks again only once
// TLS is up.
probe_env::trace_fn watch_starttls(probe_env& env) {
  return [&env, show = env.tracer(), starttls_sent = false](std::string_view dir, std::string_view line) mutable {
    show(dir, line);
    if (dir == "C" && env.where() == stage::handshake) env.at(stage::tls);
    if (dir == "C") starttls_sent = line == "STARTTLS";
    if (dir == "S" && starttls_sent && (line == "220" || line.substr(0, 4) == "220 ")) env.at(stage::handshake);
  };
}

// Opens the session on a direct connection (no ladder).
result<> open_direct(probe_env& env, const smtp::client_options& opts, std::optional<smtp::client>& c) {
  const probe_plan& p = env.plan();
  auto ctx = env.tls_context();
  if (!ctx) return ctx.status();
  auto s = env.dial(smtp::line_limits(env.stream_defaults()));
  if (!s) return s.status();
  if (!p.implicit()) {
    c.emplace(std::move(s).value(), opts);
    return c->open(*ctx, env.peer());
  }
  env.at(stage::handshake);
  const result<> up = s->start_tls(*ctx, env.peer());
  // The client owns the stream either way, so that its failure detail stays readable.
  c.emplace(std::move(s).value(), opts);
  if (!up) return up;
  env.at(stage::tls);
  return c->open_implicit();
}

int run(probe_env& env, smtp::dialect proto) {
  const probe_plan& p = env.plan();
  smtp::client_options opts;
  opts.ehlo_name = p.ehlo;
  opts.mode = p.opportunistic ? smtp::tls_mode::opportunistic : smtp::tls_mode::required;
  opts.proto = proto;
  opts.trace = watch_starttls(env);

  std::optional<smtp::client> c;
  if (p.laddered()) {
    fallback_result res =
        env.climb(p.implicit() ? implicit_tls() : smtp::starttls_prelude(opts), smtp::line_limits(env.stream_defaults()));
    if (!res.ok()) return env.ladder_failed(res.report);
    c.emplace(std::move(*res.connection), opts);
    // Implicit TLS: the greeting comes inside TLS; STARTTLS: it came before the upgrade.
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
  if (p.send) {
    const result<> sent = c->send_mail(p.send->from, p.send->to, p.send->data);
    delivery_report d;
    d.message = &*p.send;
    d.accepted = sent.ok();
    d.code = c->last_reply().code;
    d.reply = c->last_reply().lines.empty() ? std::string() : c->last_reply().lines.back();
    d.per_recipient = c->recipient_replies();
    env.delivered(d);
    if (!sent) status = env.failed(sent.error());
  }
  // QUIT even after a refused message: the server is still in a clean state.
  if (const result<> q = c->quit(); !q && status == exit_ok) status = env.failed(q.error());
  return status;
}

}  // namespace

int run_smtp(probe_env& env) { return run(env, smtp::dialect::smtp); }
int run_lmtp(probe_env& env) { return run(env, smtp::dialect::lmtp); }

}  // namespace uptls::cli
