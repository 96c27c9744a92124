// uptls-example-smtp-server: an SMTP server with STARTTLS on one thread.
//
//   uptls-example-smtp-server CERT KEY [PORT] [SESSIONS]
//
// Listens on 127.0.0.1:PORT (0 or absent: a free port, printed), offers
// STARTTLS and refuses mail before it, and prints every message it receives.
// All connections run on uptls's event server: one thread, epoll, and a
// deadline for every wait, so a slow or silent client stalls nobody. Stops on
// SIGINT or SIGTERM, or after SESSIONS client sessions have ended.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "uptls/smtp.hpp"
#include "uptls/uptls.hpp"

namespace {

uptls::event_server* running = nullptr;  // for the signal handler: stop() is safe there

void on_signal(int) {
  if (running != nullptr) running->stop();
}

int fail(const char* what, std::error_code ec) {
  std::printf("%s failed: %s\n", what, ec.message().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CERT KEY [PORT] [SESSIONS]\n", argv[0]);
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(argc > 3 ? std::atoi(argv[3]) : 0);
  const long sessions = argc > 4 ? std::atol(argv[4]) : 0;  // 0: until a signal

  // The server's certificate and key, compiled into a context all sessions share.
  uptls::tls_config cfg;
  cfg.cert_file = argv[1];
  cfg.key_file = argv[2];
  auto ctx = uptls::backends().front()->make_context(cfg, uptls::role::server);
  if (!ctx) return fail("the TLS configuration", ctx.error());

  // What every session offers and allows. require_tls: MAIL before STARTTLS
  // gets 530, so no message ever arrives in plaintext.
  auto opts = std::make_shared<uptls::smtp::server_options>();
  opts->hostname = "mx.example";
  opts->tls = *ctx;
  opts->require_tls = true;

  // Called on the server's thread with every message delivered.
  auto sink = [](const uptls::smtp::message& m) {
    std::printf("message from <%s> to <%s> over TLS: %s (%s), %zu bytes\n", m.from.c_str(),
                m.to.empty() ? "" : m.to.front().c_str(), m.over_tls ? "yes" : "no",
                m.over_tls ? std::string(uptls::to_string(m.session.version)).c_str() : "plaintext", m.data.size());
    std::fflush(stdout);
  };

  auto listener = uptls::tcp_listener::listen("127.0.0.1", port);
  if (!listener) return fail("listening", listener.error());
  const std::uint16_t bound = listener->port();

  uptls::event_server_options server_opts;
  server_opts.busy_reply = uptls::smtp::busy_reply;  // past max_connections: "421 ..." and close
  server_opts.stream = uptls::smtp::line_limits();
  long ended = 0;
  server_opts.on_session_end = [&](uptls::loop_session&, const uptls::result<>& why) {
    std::printf("session ended: %s\n", why.ok() ? "QUIT" : why.error().message().c_str());
    std::fflush(stdout);
    if (sessions > 0 && ++ended >= sessions && running != nullptr) running->stop();
  };

  auto server = uptls::event_server::make(std::move(listener).value(), uptls::smtp::session_factory(opts, sink),
                                          std::move(server_opts));
  if (!server) return fail("starting the event server", server.error());
  running = server->get();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  std::printf("listening on 127.0.0.1:%u\n", bound);
  std::fflush(stdout);
  const uptls::result<> r = (*server)->run();  // until stop()
  running = nullptr;
  const uptls::event_server_stats st = (*server)->stats();
  std::printf("stopped: %zu sessions, %zu ended ok, %zu failed\n", st.accepted, st.completed, st.failed);
  return r ? 0 : fail("the event loop", r.error());
}
