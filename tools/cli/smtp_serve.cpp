// The SMTP and LMTP sinks of `uptls serve`: uptls's own server sessions, which
// take every message and hand it to the output.
#include "serve.hpp"

namespace uptls::cli {
namespace {

event_server::factory make(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks,
                           smtp::dialect proto) {
  auto opts = std::make_shared<smtp::server_options>();
  // With implicit TLS the stream is TLS before the session starts, and the
  // session offers no STARTTLS on it.
  opts->tls = std::move(tls);
  opts->require_tls = plan.require_tls;
  opts->proto = proto;
  // --timeout bounds each part of the dialogue, whatever the client trickles.
  opts->timeouts = smtp::server_timeouts{plan.timeout, plan.timeout, plan.timeout};
  opts->trace = hooks.tracer();
  return smtp::session_factory(opts, [&hooks](const smtp::message& m) { hooks.message(m); });
}

}  // namespace

event_server::factory make_smtp_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks) {
  return make(plan, std::move(tls), hooks, smtp::dialect::smtp);
}

event_server::factory make_lmtp_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks) {
  return make(plan, std::move(tls), hooks, smtp::dialect::lmtp);
}

}  // namespace uptls::cli
