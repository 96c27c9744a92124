// The ManageSieve server of `uptls serve sieve`: uptls's own server sessions
// over an in-memory script store. Like the SMTP sink it is a test server: it
// accepts any name and password (and says so in its output), so it listens on
// loopback unless told otherwise.
#include "serve.hpp"
#include "uptls/sieve.hpp"

namespace uptls::cli {

event_server::factory make_sieve_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks) {
  auto opts = std::make_shared<sieve::server_options>();
  opts->tls = std::move(tls);
  opts->require_tls = plan.require_tls;
  opts->timeouts = sieve::server_timeouts{plan.timeout, plan.timeout};
  opts->trace = hooks.tracer();
  opts->check_login = [&hooks](std::string_view, std::string_view user, std::string_view) {
    hooks.note("any login is accepted (a test server): " + std::string(user));
    return true;
  };
  opts->handler = sieve::script_store({});
  return sieve::session_factory(opts);
}

}  // namespace uptls::cli
