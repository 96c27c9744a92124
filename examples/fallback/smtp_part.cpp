#include "smtp_part.hpp"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "server_process.hpp"
#include "uptls/fallback.hpp"
#include "uptls/smtp.hpp"
#include "uptls/uptls.hpp"

#ifndef UPTLS_LEGACY_SMTPD
#error "UPTLS_LEGACY_SMTPD must name tests/fallback/legacy_smtpd.py (or be empty)"
#endif

namespace demo {
namespace {

using namespace std::chrono_literals;

constexpr const char* python = "/usr/bin/python3";

outcome skip(std::string_view why) {
  std::cout << "skipped: " << why << "\n";
  return outcome::skipped;
}

outcome fail(std::string_view why, const uptls::fallback_report& report) {
  std::cout << "report:\n" << report.to_string() << "\n";
  std::cerr << "unexpected: " << why << "\n";
  return outcome::failed;
}

// The dialogue as the client sees it, indented under the step it belongs to.
void print_line(std::string_view direction, std::string_view line) {
  std::cout << "  " << direction << ": " << line << "\n";
}

// Marks where each attempt's dialogue ends; the full lines come with the report.
void print_attempt_end(const uptls::attempt_report& a) {
  std::cout << "  (attempt " << a.rung + 1 << "/" << a.rungs << " " << a.backend << " " << uptls::to_string(a.security)
            << " ended: " << (a.error ? a.error.message() : "connected") << " -> "
            << (a.error ? (a.allows_next ? "next rung" : "stop") : "won") << ")\n";
}

uptls::smtp::client_options dialogue_options() {
  uptls::smtp::client_options opts;
  opts.ehlo_name = "client.localhost";
  opts.mode = uptls::smtp::tls_mode::required;
  opts.trace = print_line;
  return opts;
}

// The three steps against a running server; the server is stopped by the caller.
outcome run_steps(const uptls::backend& strict_lib, const uptls::backend& legacy_lib, const std::string& certs,
                  std::uint16_t port) {
  const uptls::smtp::client_options opts = dialogue_options();
  uptls::fallback_request req;
  req.host = "127.0.0.1";
  req.port = port;
  req.socket = {.connect_timeout = 5000ms};
  // Each read or write of an attempt (and of the stream handed back) waits at most 5 s.
  req.stream_opts = uptls::smtp::line_limits();
  req.stream_opts.io_timeout = 5000ms;
  req.before_tls = uptls::smtp::starttls_prelude(opts);
  req.peer.server_name = "localhost";
  req.base.ca_file = certs + "/ca.pem";
  req.base.handshake_timeout = 10s;
  req.observer = print_attempt_end;

  std::cout << "\n-- 4. strict SMTP client alone (" << strict_lib.name() << "): STARTTLS, then a strict handshake\n";
  req.ladder = {{&strict_lib, uptls::profile::strict}};
  const uptls::fallback_result alone = uptls::connect_with_fallback(req);
  if (alone.ok()) return fail("the strict client connected to an RSA-only server", alone.report);
  const uptls::attempt_report& refused = alone.report.attempts.back();
  if (alone.report.error != uptls::errc::eof || !refused.failure.eof_before_server_hello)
    return fail("the strict client did not end on EOF before ServerHello", alone.report);
  std::cout << "failed: " << alone.report.error.message()
            << ": the server hung up after STARTTLS, before its ServerHello, without sending an alert (it accepts "
               "none of the strict cipher suites)\n"
            << "report:\n"
            << alone.report.to_string() << "\n";

  std::cout << "\n-- 5. fallback ladder " << strict_lib.name() << " strict, then " << legacy_lib.name()
            << " legacy, eof_is_trigger off (the default)\n";
  req.ladder = {{&strict_lib, uptls::profile::strict}, {&legacy_lib, uptls::profile::legacy}};
  const uptls::fallback_result kept = uptls::connect_with_fallback(req);
  if (kept.ok() || kept.report.attempts.size() != 1 || kept.report.attempts.front().allows_next)
    return fail("the ladder retried a connection that ended on EOF without the opt-in", kept.report);
  std::cout << "no retry: " << kept.report.attempts.front().why << "\n"
            << "(a bare EOF is also what an attacker who cuts the connection produces)\n"
            << "report:\n"
            << kept.report.to_string() << "\n";

  std::cout << "\n-- 6. the same ladder with eof_is_trigger = true\n";
  req.eof_is_trigger = true;
  uptls::fallback_result won = uptls::connect_with_fallback(req);
  std::cout << "report:\n" << won.report.to_string() << "\n";
  if (!won.ok() || !won.report.fell_back()) return fail("the ladder did not win on the legacy rung", won.report);
  const uptls::attempt_report& winner = won.report.attempts.at(*won.report.winner);
  std::cout << "winner: attempt " << winner.rung + 1 << " (" << winner.backend << " "
            << uptls::to_string(winner.security) << ") because attempt 1 ended with: "
            << won.report.attempts.front().why << "\n"
            << "session: " << winner.session->suite.name << ", key exchange " << uptls::to_string(winner.session->kx)
            << ", forward secret: " << (winner.session->forward_secret ? "yes" : "no") << "\n";

  std::cout << "\n-- 7. SMTP over the fallback session: EHLO again, one message, QUIT\n";
  uptls::smtp::client mail(std::move(*won.connection), opts);
  if (const std::error_code ec = mail.open_upgraded().error()) {
    std::cerr << "unexpected: EHLO over TLS failed: " << ec.message() << "\n";
    return outcome::failed;
  }
  if (mail.supports("STARTTLS")) {
    std::cerr << "unexpected: the server offers STARTTLS again inside TLS\n";
    return outcome::failed;
  }
  const std::error_code sent = mail.send_mail(
      "demo@client.localhost", {"postmaster@localhost"},
      "Subject: uptls fallback demo\n\nSent over " + winner.session->suite.name + " after a visible fallback.\n").error();
  const uptls::smtp::reply accepted = mail.last_reply();
  const std::error_code bye = mail.quit().error();
  if (sent || bye) {
    std::cerr << "unexpected: " << (sent ? "sending the message" : "QUIT") << " failed: "
              << (sent ? sent : bye).message() << "\n";
    return outcome::failed;
  }
  std::cout << "the server accepted the message (" << accepted.code << " "
            << (accepted.lines.empty() ? "" : accepted.lines.front()) << ")\n";
  return outcome::passed;
}

}  // namespace

outcome run_smtp_part(const uptls::backend& strict_lib, const uptls::backend& legacy_lib, const std::string& certs) {
  const std::string script = UPTLS_LEGACY_SMTPD;
  std::cout << "\n== part 2: SMTP STARTTLS against a legacy mail server\n";
  if (script.empty() || access(script.c_str(), R_OK) != 0)
    return skip("the server script tests/fallback/legacy_smtpd.py is not in this source tree");
  if (access(python, X_OK) != 0) return skip("/usr/bin/python3 is not installed");

  std::uint16_t port = 0;
  {
    auto probe = uptls::tcp_listener::listen("127.0.0.1", 0);
    if (!probe) {
      std::cerr << "cannot bind 127.0.0.1: " << probe.error().message() << "\n";
      return outcome::failed;
    }
    port = probe->port();
  }
  std::cout << "legacy server: aiosmtpd (legacy_smtpd.py) on 127.0.0.1:" << port
            << ", STARTTLS required, TLS 1.2 with RSA key exchange only (AES128-GCM-SHA256)\n";
  server_process server;
  std::string seen;
  if (!server.start({python, script, "--port", std::to_string(port), "--cert", certs + "/server-rsa.pem", "--key",
                     certs + "/server-rsa.key", "--mode", "legacy"}) ||
      !server.wait_for("READY", 10s, &seen)) {
    if (seen.find("No module named 'aiosmtpd'") != std::string::npos)
      return skip("python3-aiosmtpd is not installed (/usr/bin/python3 cannot import aiosmtpd)");
    std::cerr << "the legacy SMTP server did not start:\n" << seen << "\n";
    return outcome::failed;
  }

  const outcome result = run_steps(strict_lib, legacy_lib, certs, port);

  std::cout << "\n-- 8. stopping the legacy SMTP server\n";
  int status = 0;
  if (!server.end_input(3s, &status)) {
    std::cout << "it did not exit when its input closed: terminated\n";
    server.stop();
    return outcome::failed;
  }
  std::cout << "it exited when its input closed (status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ")\n";
  return result;
}

}  // namespace demo
