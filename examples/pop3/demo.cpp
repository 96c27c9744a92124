// uptls-demo-pop3: for every compiled-in backend, a uptls POP3 server with STLS
// on a loopback port (TLS required before any login) and the uptls POP3 client
// upgrading, logging in and fetching one message, with the dialogue and the
// negotiated TLS parameters.
//
// Usage: uptls-demo-pop3 --certs DIR [--profile strict|legacy]
//   DIR holds the test PKI (ca.pem, server-rsa.pem, server-rsa.key).
// Exits 0 only when every backend fetched the message over TLS.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "uptls/pop3.hpp"
#include "uptls/uptls.hpp"

namespace {

using namespace std::chrono_literals;
namespace pop3 = uptls::pop3;

const std::string message = "From: <alice@demo.localhost>\r\nSubject: uptls POP3 demo\r\n\r\nFetched over STLS.\r\n"
                            ".a line that starts with a dot\r\n";

// The application behind the hand-off: one user, one message, read-only.
class demo_drop final : public pop3::maildrop {
 public:
  bool login(const pop3::login_request& who) override { return who.user == "bob" && who.password == "demo-pw"; }
  std::size_t count() const override { return 1; }
  std::size_t size(std::size_t) const override { return pop3::wire_size(message); }
  std::string retrieve(std::size_t) override { return message; }
};

bool run(const uptls::backend& b, const std::string& certs, uptls::profile security) {
  std::printf("\n=== %s (%s), profile %s ===\n", std::string(b.name()).c_str(),
              std::string(b.library_version()).c_str(), std::string(uptls::to_string(security)).c_str());
  uptls::tls_config server_cfg;
  server_cfg.security = security;
  server_cfg.cert_file = certs + "/server-rsa.pem";
  server_cfg.key_file = certs + "/server-rsa.key";
  uptls::tls_config client_cfg;
  client_cfg.security = security;
  client_cfg.ca_file = certs + "/ca.pem";
  auto server_ctx = b.make_context(server_cfg, uptls::role::server);
  auto client_ctx = b.make_context(client_cfg, uptls::role::client);
  auto listener = uptls::tcp_listener::listen("127.0.0.1", 0);
  if (!server_ctx || !client_ctx || !listener) {
    std::printf("  cannot set up: %s\n", (!server_ctx ? to_string(server_ctx) : !client_ctx ? to_string(client_ctx) : to_string(listener)).c_str());
    return false;
  }
  uptls::stream_options stream_opts = pop3::line_limits();
  stream_opts.io_timeout = 10s;
  std::printf("  server: uptls POP3 on 127.0.0.1:%u with STLS, TLS required before login\n\n", listener->port());

  std::error_code server_ended;
  std::thread server([&] {
    auto conn = listener->accept(10s);
    if (!conn) {
      server_ended = conn.error();
      return;
    }
    pop3::server_options opts;
    opts.hostname = "pop.demo.localhost";
    opts.tls = *server_ctx;
    opts.require_tls = true;
    server_ended = pop3::serve(uptls::stream(std::move(conn).value(), stream_opts), opts,
                               [] { return std::make_unique<demo_drop>(); })
                       .error();
  });

  bool ok = false;
  auto conn = uptls::tcp_connect("127.0.0.1", listener->port(), uptls::socket_options{.connect_timeout = 5s});
  if (!conn) {
    std::printf("  cannot connect: %s\n", conn.error().message().c_str());
  } else {
    pop3::client_options opts;
    opts.trace = [](std::string_view dir, std::string_view line) {
      std::printf("  %.*s: %.*s\n", static_cast<int>(dir.size()), dir.data(), static_cast<int>(line.size()), line.data());
    };
    pop3::client c(uptls::stream(std::move(conn).value(), stream_opts), opts);
    std::error_code ec = c.open(*client_ctx, uptls::peer_options{"localhost"}).error();
    if (!ec) ec = c.login("bob", "demo-pw").error();
    if (!ec) ec = c.retr(1).error();
    if (ec) std::printf("  !! failed: %s\n", ec.message().c_str());
    if (const uptls::session_info* s = c.connection().session()) {
      std::printf("  -- negotiated %s, %s, %s, verified %s\n", std::string(uptls::to_string(s->version)).c_str(),
                  s->suite.name.c_str(), s->forward_secret ? "forward secret" : "NOT forward secret", s->verified ? "yes" : "NO");
    }
    ok = !ec && c.connection().is_tls() && c.retrieved() == message;
    (void)c.quit();
  }
  server.join();
  std::printf("  -- server session ended: %s\n  result: %s\n", server_ended ? server_ended.message().c_str() : "QUIT",
              ok ? "FETCHED over TLS" : "FAILED");
  return ok && !server_ended;
}

}  // namespace

int main(int argc, char** argv) {
  std::string certs;
  uptls::profile security = uptls::profile::strict;
  bool usable = argc % 2 == 1;  // options come in pairs
  for (int i = 1; usable && i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--certs") {
      certs = v;
    } else if (k == "--profile" && (v == "strict" || v == "legacy")) {
      security = v == "strict" ? uptls::profile::strict : uptls::profile::legacy;
    } else {
      usable = false;
    }
  }
  if (!usable || certs.empty()) {
    std::fprintf(stderr, "usage: %s --certs DIR [--profile strict|legacy]\n", argv[0]);
    return 2;
  }
  std::printf("uptls POP3 STLS demo: one server and one client per backend, on 127.0.0.1\n");
  int failed = 0;
  std::string summary;
  for (const uptls::backend* b : uptls::backends()) {
    const bool ok = run(*b, certs, security);
    failed += ok ? 0 : 1;
    summary += (summary.empty() ? "" : ", ") + std::string(b->name()) + (ok ? ": fetched" : ": FAILED");
  }
  std::printf("\n=== summary: %s ===\n", summary.c_str());
  return failed == 0 ? 0 : 1;
}
