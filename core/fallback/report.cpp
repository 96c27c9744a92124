// The text of a ladder's report: one line per attempt and one for the outcome,
// stable enough to grep in logs and to compare in tests.
#include <string>

#include "uptls/fallback.hpp"

namespace uptls {
namespace {

// Library texts may carry newlines or other control bytes; a log line must not.
std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// "cert_expired" for our own codes, "generic:111" for anything else.
std::string code_name(std::error_code ec) {
  if (ec.category() == category()) return std::string(to_string(static_cast<errc>(ec.value())));
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value());
}

std::string describe_session(const session_info& s) {
  std::string out = std::string(to_string(s.version)) + " " + s.suite.name + " (" + std::string(to_string(s.kx));
  if (s.group != named_group::none) out += " " + std::string(to_string(s.group));
  out += s.forward_secret ? ", forward secret)" : ", not forward secret)";
  return out;
}

std::string describe_failure(const attempt_report& a) {
  std::string out = std::string(to_string(a.stage)) + " failed: " + code_name(a.error) + " (" +
                    one_line(a.error.message());
  const failure_info& f = a.failure;
  if (f.alert_received >= 0) out += "; alert " + std::to_string(f.alert_received) + " received";
  if (f.alert_sent >= 0) out += "; alert " + std::to_string(f.alert_sent) + " sent";
  if (f.server_handshake_seen) out += "; after the server's first handshake message";
  if (f.eof_before_server_hello) out += "; EOF before ServerHello";
  if (f.library) {
    out += "; ";
    out += f.library.category().name();
    out += " " + std::to_string(f.library.value());
    if (!f.text.empty()) out += ": \"" + one_line(f.text) + "\"";
  } else if (!f.text.empty()) {
    out += "; \"" + one_line(f.text) + "\"";
  }
  out += ")";
  return out;
}

}  // namespace

std::string attempt_report::to_string() const {
  std::string out = "attempt " + std::to_string(rung + 1) + "/" + std::to_string(rungs) + " " + backend + " " +
                    std::string(uptls::to_string(security)) + ": ";
  if (session) {
    out += "connected: " + describe_session(*session);
    if (error) out += ", refused: " + code_name(error);
  } else {
    out += describe_failure(*this);
  }
  if (stage == attempt_stage::done) {
    out += " -> won";
  } else {
    out += allows_next ? " -> next rung" : " -> stop";
  }
  if (!why.empty()) out += ": " + why;
  return out;
}

std::string fallback_report::to_string() const {
  std::string out;
  for (const attempt_report& a : attempts) out += a.to_string() + "\n";
  out += "outcome " + host + ":" + std::to_string(port);
  if (was_pinned) out += " (pinned strict)";
  out += error ? ": failed: " + code_name(error) : std::string(": ok");
  if (!why.empty()) out += ": " + why;
  if (pin_error) out += "; pin file not written: " + one_line(pin_error.message());
  return out;
}

}  // namespace uptls
