// uptls smtp: the client side, with hints for the mistakes users make most
// (STARTTLS against port 465 and the reverse, a stripped STARTTLS, a server that
// only speaks RSA key exchange).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "print.hpp"
#include "uptls/fallback.hpp"
#include "uptls/smtp.hpp"
#include "uptls/stream.hpp"
#include "uptls/transport.hpp"

namespace uptls::cli {
namespace {

struct plan {
  std::string host;
  std::uint16_t port = 25;
  bool implicit = false;
  const backend* library = nullptr;
  profile security = profile::strict;
  std::chrono::milliseconds timeout{30'000};
  tls_config cfg;
  peer_options peer;
  smtp::client_options opts;
  int server_lines = 0;  // lines the server sent, to tell a silent server from a rude one
  bool fallback = false;
  bool eof_is_trigger = false;
};

void hint_for(const plan& p, std::error_code ec, bool handshake_started) {
  if (ec == errc::timeout && p.server_lines == 0 && !p.implicit) {
    print_hint("no SMTP greeting came: a port-465 server waits for the TLS handshake first; try --implicit");
  } else if (ec == errc::not_tls && p.implicit) {
    print_hint("the server spoke plaintext first: this port uses STARTTLS (25/587); drop --implicit");
  } else if (ec == errc::starttls_not_offered) {
    print_hint("the server did not offer STARTTLS (or something on the path removed it); only EHLO was sent."
               " --opportunistic would go on WITHOUT TLS");
  } else if ((ec == errc::handshake_failure || ec == errc::insufficient_security) && handshake_started &&
             p.security == profile::strict && !p.fallback) {
    print_hint("the server refused the strict profile; --fallback retries on a fresh connection with RSA key"
               " exchange allowed (and reports it)");
  } else if (ec == errc::eof && handshake_started && p.security == profile::strict && !p.eof_is_trigger) {
    // Some servers (Python's asyncio, for one) hang up on a ClientHello they
    // cannot serve instead of sending an alert; --fallback alone never climbs
    // down on that, because an attacker can cut a connection too.
    print_hint(std::string("the server closed the connection during the handshake without an alert; ") +
               (p.fallback ? "add --eof-is-trigger" : "--fallback --eof-is-trigger") +
               " retries once on a fresh connection with RSA key exchange allowed (and reports it)."
               " An attacker can cut connections too: use it only for a server you know does this");
  } else if (ec == errc::cert_untrusted || ec == errc::cert_self_signed) {
    print_hint("the certificate does not lead to a CA you trust: give the CA with --ca FILE");
  } else if (ec == errc::cert_name_mismatch) {
    print_hint("the certificate is not for '" + p.peer.server_name + "': check --name");
  } else if (ec == errc::connection_refused) {
    print_hint("nothing listens there; SMTP is 25 or 587 with STARTTLS, 465 with --implicit");
  }
}

// After the TLS session exists: EHLO (with or without a greeting), the optional
// message, QUIT.
int converse(plan& p, smtp::client& c, std::error_code opened, const args& a) {
  if (opened) {
    print_failure(opened, &c.connection().last_failure());
    hint_for(p, opened, static_cast<bool>(c.connection().error()));
    return 1;
  }
  if (const session_info* s = c.connection().session()) {
    std::printf("\n");
    print_session(*s);
  } else {
    std::printf("\nWITHOUT TLS: the server did not offer STARTTLS (--opportunistic)\n");
  }
  std::string caps;
  for (const auto& k : c.capabilities()) caps += (caps.empty() ? "" : ", ") + k;
  std::printf("capabilities:     %s\n\n", caps.c_str());
  int status = 0;
  if (a.has("--send")) {
    const auto& v = a.values("--send");
    const std::string data((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (const std::error_code ec = c.send_mail(v[0], {v[1]}, data)) {
      print_failure(ec, nullptr);
      status = 1;
    } else {
      print_trace()("*", "message accepted: " + (c.last_reply().lines.empty() ? "" : c.last_reply().lines.back()));
    }
  }
  if (const std::error_code ec = c.quit(); ec && status == 0) {
    print_failure(ec, nullptr);
    status = 1;
  }
  return status;
}

int direct(plan& p, const args& a) {
  auto ctx = p.library->make_context(p.cfg, role::client);
  if (!ctx) {
    print_failure(ctx.error(), nullptr);
    return 1;
  }
  auto conn = tcp_connect(p.host, p.port, socket_options{p.timeout, p.timeout});
  if (!conn) {
    print_failure(conn.error(), nullptr);
    hint_for(p, conn.error(), false);
    return 1;
  }
  stream s(std::move(conn).value(), smtp::line_limits());
  if (!p.implicit) {
    smtp::client c(std::move(s), p.opts);
    const std::error_code ec = c.open(*ctx, p.peer);
    return converse(p, c, ec, a);
  }
  if (const std::error_code ec = s.start_tls(*ctx, p.peer)) {
    print_failure(ec, &s.last_failure());
    hint_for(p, ec, true);
    return 1;
  }
  smtp::client c(std::move(s), p.opts);
  const std::error_code ec = c.open_implicit();
  return converse(p, c, ec, a);
}

int with_fallback(plan& p, const args& a) {
  fallback_request req;
  req.host = p.host;
  req.port = p.port;
  req.socket = socket_options{p.timeout, p.timeout};
  req.stream_opts = smtp::line_limits();
  req.peer = p.peer;
  req.base = p.cfg;
  req.eof_is_trigger = p.eof_is_trigger;
  req.ladder = {{p.library, profile::strict}};
  if (p.library->caps().rsa_key_exchange) req.ladder.push_back({p.library, profile::legacy});
  if (!p.implicit) {
    smtp::client_options opts = p.opts;
    req.before_tls = [opts](stream& s) { return smtp::starttls_prelude(s, opts); };
  }
  fallback_result res = connect_with_fallback(req);
  const std::string text = res.report.to_string();
  std::string_view report = text;
  while (!report.empty()) {  // every attempt, then the outcome
    const std::size_t eol = report.find('\n');
    print_trace()("*", report.substr(0, eol));
    if (eol == std::string_view::npos) break;
    report.remove_prefix(eol + 1);
  }
  if (!res.ok()) {
    const attempt_report* last = res.report.attempts.empty() ? nullptr : &res.report.attempts.back();
    print_failure(res.report.error, last != nullptr ? &last->failure : nullptr);
    hint_for(p, res.report.error, last != nullptr && last->stage == attempt_stage::handshake);
    return 1;
  }
  smtp::client c(std::move(*res.connection), p.opts);
  const std::error_code ec = p.implicit ? c.open_implicit() : c.open_upgraded();
  return converse(p, c, ec, a);
}

}  // namespace

int smtp_command(int argc, char** argv) {
  args a;
  a.option("--implicit", 0).option("--backend").option("--profile").option("--fallback", 0).option("--ca");
  a.option("--name").option("--ehlo").option("--opportunistic", 0).option("--timeout").option("--send", 2);
  a.option("--dangerous-skip-verification", 0).option("--eof-is-trigger", 0);
  if (!a.parse(argc, argv, 2) || a.positional().empty() || a.positional().size() > 2) {
    std::fprintf(stderr, "uptls smtp: %s\nusage: uptls smtp HOST [PORT] [options] (uptls help)\n",
                 a.error().empty() ? "give HOST and maybe PORT" : a.error().c_str());
    return 2;
  }
  plan p;
  p.host = a.positional()[0];
  p.implicit = a.has("--implicit");
  p.port = p.implicit ? 465 : 25;
  if (a.positional().size() == 2) {
    const auto port = parse_port(a.positional()[1]);
    if (!port || *port == 0) {
      std::fprintf(stderr, "uptls smtp: bad port '%s'\n", a.positional()[1].c_str());
      return 2;
    }
    p.port = *port;
  }
  p.library = pick_backend(a);
  const auto security = pick_profile(a);
  const auto timeout = pick_timeout(a);
  if (p.library == nullptr || !security || !timeout) return 2;
  if (a.has("--fallback") && a.has("--profile")) {
    std::fprintf(stderr, "uptls smtp: --fallback runs strict then legacy; it takes no --profile\n");
    return 2;
  }
  if (a.has("--eof-is-trigger") && !a.has("--fallback")) {
    std::fprintf(stderr, "uptls smtp: --eof-is-trigger is a fallback rule; it needs --fallback\n");
    return 2;
  }
  if (p.implicit && a.has("--opportunistic")) {
    std::fprintf(stderr, "uptls smtp: --opportunistic means STARTTLS; implicit TLS is never optional\n");
    return 2;
  }
  p.security = *security;
  p.timeout = *timeout;
  p.fallback = a.has("--fallback");
  p.eof_is_trigger = a.has("--eof-is-trigger");
  p.cfg.security = p.security;
  p.cfg.ca_file = a.get("--ca");
  p.cfg.system_trust = p.cfg.ca_file.empty();
  p.cfg.dangerous_skip_verification = a.has("--dangerous-skip-verification");
  p.cfg.handshake_timeout = p.timeout;
  p.peer.server_name = a.get("--name", p.host);
  p.opts.ehlo_name = a.get("--ehlo", "localhost");
  p.opts.mode = a.has("--opportunistic") ? smtp::tls_mode::opportunistic : smtp::tls_mode::required;
  const smtp::trace_fn print = print_trace();
  p.opts.trace = [&p, print](std::string_view dir, std::string_view line) {
    if (dir == "S") ++p.server_lines;
    print(dir, line);
  };
  std::printf("*: %s %s:%u with %s, profile %s\n", p.implicit ? "implicit TLS to" : "STARTTLS to", p.host.c_str(),
              p.port, std::string(p.library->name()).c_str(),
              a.has("--fallback") ? "strict then legacy" : std::string(to_string(p.security)).c_str());
  return a.has("--fallback") ? with_fallback(p, a) : direct(p, a);
}

}  // namespace uptls::cli
