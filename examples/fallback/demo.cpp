// uptls-demo-fallback --certs DIR [--strict BACKEND] [--legacy BACKEND]
//
// Starts a local legacy server, `openssl s_server -tls1_2 -cipher AES128-GCM-SHA256`
// (TLS 1.2 with plain RSA key exchange only, like the old mail services that answer
// a modern client with alert 40), on 127.0.0.1 with implicit TLS as on port 465.
// Shows a strict client failing, then the fallback ladder succeeding and its
// report, then stops the server. Then the same story over SMTP STARTTLS against
// tests/fallback/legacy_smtpd.py (aiosmtpd), which hangs up on a strict client
// without an alert: the ladder retries that only with eof_is_trigger (see
// smtp_part.hpp). DIR holds ca.pem and server-rsa.pem/.key. Exits 0 only when
// every part that ran behaved as expected (a missing aiosmtpd skips part 2).
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "server_process.hpp"
#include "smtp_part.hpp"
#include "uptls/fallback.hpp"
#include "uptls/uptls.hpp"

namespace {

using namespace std::chrono_literals;

const uptls::backend* pick(const std::string& name, bool need_rsa, const uptls::backend* avoid) {
  if (!name.empty()) return uptls::find_backend(name);
  const uptls::backend* fallback = nullptr;
  for (const uptls::backend* b : uptls::backends()) {
    if (need_rsa && !b->caps().rsa_key_exchange) continue;
    if (b != avoid) return b;  // a second library shows that rungs may differ
    fallback = b;
  }
  return fallback;
}

int usage() {
  std::cerr << "usage: uptls-demo-fallback --certs DIR [--strict BACKEND] [--legacy BACKEND]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string certs;
  std::string strict_name;
  std::string legacy_name;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage();
    if (arg == "--certs") certs = argv[++i];
    else if (arg == "--strict") strict_name = argv[++i];
    else if (arg == "--legacy") legacy_name = argv[++i];
    else return usage();
  }
  if (certs.empty()) return usage();

  const uptls::backend* strict_lib = pick(strict_name, false, nullptr);
  const uptls::backend* legacy_lib = pick(legacy_name, true, strict_lib);
  if (strict_lib == nullptr || legacy_lib == nullptr) {
    std::cerr << "no such backend in this build, or none with RSA key exchange for the legacy rung\n";
    return 1;
  }

  // A free loopback port for the server.
  std::uint16_t port = 0;
  {
    auto probe = uptls::tcp_listener::listen("127.0.0.1", 0);
    if (!probe) {
      std::cerr << "cannot bind 127.0.0.1: " << probe.error().message() << "\n";
      return 1;
    }
    port = probe->port();
  }

  std::cout << "== uptls fallback demo\n"
            << "\n== part 1: implicit TLS against a legacy server\n"
            << "legacy server: openssl s_server on 127.0.0.1:" << port
            << ", implicit TLS, TLS 1.2 with RSA key exchange only (AES128-GCM-SHA256)\n";
  demo::server_process server;
  if (!server.start({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-tls1_2", "-cipher",
                     "AES128-GCM-SHA256", "-cert", certs + "/server-rsa.pem", "-key", certs + "/server-rsa.key"}) ||
      !server.wait_for("ACCEPT", 10s)) {
    std::cerr << "the legacy server did not start (is the openssl command installed?)\n";
    return 1;
  }

  uptls::fallback_request req;
  req.host = "127.0.0.1";
  req.port = port;
  req.socket = {.connect_timeout = 5000ms};
  // Each read or write of an attempt (and of the stream handed back) waits at most 5 s.
  req.stream_opts.io_timeout = 5000ms;
  req.peer.server_name = "localhost";
  req.base.ca_file = certs + "/ca.pem";
  req.base.handshake_timeout = 10s;

  // 1. A strict client on its own, as most modern clients are.
  std::cout << "\n-- 1. strict client alone (" << strict_lib->name() << ")\n";
  req.ladder = {{strict_lib, uptls::profile::strict}};
  const uptls::fallback_result alone = uptls::connect_with_fallback(req);
  if (alone.ok()) {
    std::cerr << "unexpected: the strict client connected to an RSA-only server\n";
    return 1;
  }
  std::cout << "failed: " << alone.report.error.message() << "\n" << alone.report.to_string() << "\n";

  // 2. The ladder: strict first, legacy only for a policy mismatch before ServerHello.
  std::cout << "\n-- 2. fallback ladder: " << strict_lib->name() << " strict, then " << legacy_lib->name()
            << " legacy\n";
  uptls::pin_store pins;
  req.ladder = {{strict_lib, uptls::profile::strict}, {legacy_lib, uptls::profile::legacy}};
  req.pins = &pins;
  req.observer = [](const uptls::attempt_report& a) { std::cout << "observer: " << a.to_string() << "\n"; };
  uptls::fallback_result won = uptls::connect_with_fallback(req);
  std::cout << "report:\n" << won.report.to_string() << "\n";
  if (!won.ok()) {
    std::cerr << "the ladder failed\n";
    return 1;
  }
  const uptls::attempt_report& winner = won.report.attempts.at(*won.report.winner);
  std::cout << "winner: attempt " << winner.rung + 1 << " (" << winner.backend << " " << uptls::to_string(winner.security)
            << ") because attempt 1 ended with " << won.report.attempts.front().why << "\n"
            << "session: " << winner.session->suite.name << ", forward secret: " << (winner.session->forward_secret ? "yes" : "no")
            << "; pinned strict: " << (pins.is_pinned(req.host, port) ? "yes" : "no (only a strict handshake pins a host)")
            << "\n";
  const std::error_code wrote = won.connection->write("hello from the legacy rung\n").error();
  const bool echoed = !wrote && server.wait_for("hello from the legacy rung", 5s);
  std::cout << "sent a line over the fallback session: " << (echoed ? "the server received it" : "not received") << "\n";
  (void)won.connection->close();

  std::cout << "\n-- 3. stopping the legacy server\n";
  server.stop();
  if (!echoed) return 1;

  const demo::outcome smtp = demo::run_smtp_part(*strict_lib, *legacy_lib, certs);
  std::cout << "\n== done: part 1 passed, part 2 "
            << (smtp == demo::outcome::passed ? "passed" : smtp == demo::outcome::skipped ? "skipped" : "FAILED")
            << "\n";
  return smtp == demo::outcome::failed ? 1 : 0;
}
