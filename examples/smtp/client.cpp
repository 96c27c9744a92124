// uptls-example-smtp-client: send one message over SMTP with STARTTLS.
//
//   uptls-example-smtp-client HOST PORT CA_FILE [SERVER_NAME]
//
// Connects, reads the greeting, says EHLO, upgrades the same connection with
// STARTTLS, says EHLO again over TLS, sends one message and says QUIT. TLS is
// required: if the server does not offer STARTTLS, refuses it, or the handshake
// fails, the client stops before sending anything else. Prints the dialogue and
// what TLS negotiated; exits 0 when the server accepted the message.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "uptls/smtp.hpp"
#include "uptls/uptls.hpp"

namespace {

int fail(const char* what, std::error_code ec) {
  std::printf("%s failed: %s (%s)\n", what, ec.message().c_str(), ec.category().name());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s HOST PORT CA_FILE [SERVER_NAME]\n", argv[0]);
    return 2;
  }
  const std::string host = argv[1];
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  const std::string server_name = argc > 4 ? argv[4] : host;

  // 1. The TLS settings, compiled once into an immutable context that every
  //    connection may share. The default profile is strict (TLS 1.2-1.3, forward
  //    secret key exchange, AEAD ciphers); the client checks the server's chain
  //    against CA_FILE and its name against SERVER_NAME.
  uptls::tls_config cfg;
  cfg.ca_file = argv[3];
  const uptls::backend& tls = *uptls::backends().front();  // the build's default backend
  auto ctx = tls.make_context(cfg, uptls::role::client);
  if (!ctx) return fail("the TLS configuration", ctx.error());

  // 2. A TCP connection, wrapped in a stream that starts in plaintext. Each call
  //    below waits at most io_timeout for the server (then errc::timeout).
  auto conn = uptls::tcp_connect(host, port);
  if (!conn) return fail("connecting", conn.error());
  uptls::stream_options opts = uptls::smtp::line_limits();  // SMTP's 1000-octet lines
  opts.io_timeout = std::chrono::seconds(10);

  // 3. The SMTP client. The stream is blocking (the default), so each call runs
  //    to its end. The trace prints every line: C: ours, S: the server's.
  uptls::smtp::client_options copts;
  copts.ehlo_name = "client.example";
  copts.trace = [](std::string_view dir, std::string_view line) {
    std::printf("%.*s: %.*s\n", static_cast<int>(dir.size()), dir.data(), static_cast<int>(line.size()), line.data());
  };
  uptls::smtp::client smtp(uptls::stream(std::move(conn).value(), opts), copts);

  // 4. Greeting, EHLO, STARTTLS, the handshake, EHLO again over TLS. What the
  //    server said before the upgrade is forgotten.
  if (const uptls::result<> r = smtp.open(*ctx, uptls::peer_options{server_name}); !r) {
    // e.g. errc::starttls_not_offered, errc::cert_untrusted; the library's own words:
    std::printf("detail: %s\n", smtp.connection().last_failure().text.c_str());
    return fail("STARTTLS", r.error());
  }
  const uptls::session_info& tls_facts = *smtp.connection().session();
  std::printf("tls: %s via %s, forward secret: %s, certificate verified: %s\n",
              std::string(uptls::to_string(tls_facts.version)).c_str(), tls_facts.backend.c_str(),
              tls_facts.forward_secret ? "yes" : "no", tls_facts.verified ? "yes" : "no");

  // 5. One message. A refused command gives an error in smtp::reply_category()
  //    whose value is the server's reply code (e.g. 550).
  const uptls::result<> sent = smtp.send_mail("alice@example.org", {"bob@example.org"},
                                              "Subject: hello\r\n\r\nHello over STARTTLS.\r\n");
  if (!sent) return fail("sending", sent.error());
  std::printf("accepted: %d\n", smtp.last_reply().code);

  // 6. QUIT, and close_notify before the connection closes.
  if (const uptls::result<> bye = smtp.quit(); !bye) return fail("QUIT", bye.error());
  return 0;
}
