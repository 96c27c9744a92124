// uptls-demo-imap: for every compiled-in backend, a uptls IMAP server with
// STARTTLS on a loopback port (TLS required before any login) and the uptls
// IMAP client upgrading, logging in, selecting INBOX and fetching one message,
// with the dialogue and the negotiated TLS parameters.
//
// Usage: uptls-demo-imap --certs DIR [--profile strict|legacy]
//   DIR holds the test PKI (ca.pem, server-rsa.pem, server-rsa.key).
// Exits 0 only when every backend fetched the message over TLS.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "uptls/imap.hpp"
#include "uptls/uptls.hpp"

namespace {

using namespace std::chrono_literals;
namespace imap = uptls::imap;

const std::string message = "From: <alice@demo.localhost>\r\nSubject: uptls IMAP demo\r\n\r\nFetched after STARTTLS.\r\n";

// The application behind the hand-off: one folder with one message, read-only.
class demo_box final : public imap::mailbox {
 public:
  std::vector<std::string> folders() override { return {"INBOX"}; }
  std::optional<std::uint32_t> open_folder(std::string_view name) override {
    if (name != "INBOX") return std::nullopt;
    return 1;
  }
  std::optional<std::string> message(std::uint32_t seq) override {
    if (seq != 1) return std::nullopt;
    return ::message;
  }
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
    std::printf("  cannot set up: %s\n",
                (!server_ctx ? to_string(server_ctx) : !client_ctx ? to_string(client_ctx) : to_string(listener)).c_str());
    return false;
  }
  uptls::stream_options stream_opts = imap::line_limits();
  stream_opts.io_timeout = 10s;
  std::printf("  server: uptls IMAP on 127.0.0.1:%u with STARTTLS, TLS required before login\n\n", listener->port());

  std::error_code server_ended;
  std::thread server([&] {
    auto conn = listener->accept(10s);
    if (!conn) {
      server_ended = conn.error();
      return;
    }
    imap::server_options opts;
    opts.hostname = "imap.demo.localhost";
    opts.tls = *server_ctx;
    opts.require_tls = true;
    // Only a login inside TLS with the right password opens the mailbox.
    const imap::login_handler on_login = [](const imap::login_request& who) -> std::unique_ptr<imap::mailbox> {
      if (!who.over_tls || who.user != "bob" || who.password != "demo-pw") return nullptr;
      return std::make_unique<demo_box>();
    };
    server_ended = imap::serve(uptls::stream(std::move(conn).value(), stream_opts), opts, on_login).error();
  });

  bool ok = false;
  auto conn = uptls::tcp_connect("127.0.0.1", listener->port(), uptls::socket_options{.connect_timeout = 5s});
  if (!conn) {
    std::printf("  cannot connect: %s\n", conn.error().message().c_str());
  } else {
    imap::client_options opts;
    opts.trace = [](std::string_view dir, std::string_view line) {
      std::printf("  %.*s: %.*s\n", static_cast<int>(dir.size()), dir.data(), static_cast<int>(line.size()), line.data());
    };
    imap::client c(uptls::stream(std::move(conn).value(), stream_opts), opts);
    std::error_code ec = c.open(*client_ctx, uptls::peer_options{"localhost"}).error();
    if (!ec) ec = c.login("bob", "demo-pw").error();
    if (!ec) ec = c.select("INBOX").error();
    if (!ec) ec = c.fetch(1).error();
    if (ec) std::printf("  !! failed: %s\n", ec.message().c_str());
    if (const uptls::session_info* s = c.connection().session()) {
      std::printf("  -- negotiated %s, %s, %s, verified %s\n", std::string(uptls::to_string(s->version)).c_str(),
                  s->suite.name.c_str(), s->forward_secret ? "forward secret" : "NOT forward secret", s->verified ? "yes" : "NO");
    }
    ok = !ec && c.connection().is_tls() && c.message() == message;
    (void)c.logout();
  }
  server.join();
  std::printf("  -- server session ended: %s\n  result: %s\n", server_ended ? server_ended.message().c_str() : "LOGOUT",
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
  std::printf("uptls IMAP STARTTLS demo: one server and one client per backend, on 127.0.0.1\n");
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
