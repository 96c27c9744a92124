// The one rule that decides whether a failed attempt may be retried one rung down.
// It reads only the portable error and the wire facts the stream recorded, so every
// backend is judged alike.
#include "uptls/fallback.hpp"

namespace uptls {
namespace {

constexpr int alert_handshake_failure = 40;
constexpr int alert_insufficient_security = 71;

bool is_certificate_error(std::error_code ec) {
  return ec == errc::cert_expired || ec == errc::cert_not_yet_valid || ec == errc::cert_untrusted ||
         ec == errc::cert_self_signed || ec == errc::cert_name_mismatch || ec == errc::cert_invalid ||
         ec == errc::cert_required || ec == errc::cert_rejected_by_peer;
}

bool is_transport_error(std::error_code ec) {
  return ec == errc::timeout || ec == errc::connection_reset || ec == errc::connection_refused ||
         ec == errc::network;
}

fallback_verdict stop(std::string_view why) { return {false, why}; }
fallback_verdict next(std::string_view why) { return {true, why}; }

fallback_verdict classify_handshake(std::error_code ec, const failure_info& f, bool eof_is_trigger) {
  if (is_certificate_error(ec)) return stop("certificate and name errors are never retried");
  if (is_transport_error(ec)) return stop("resets, timeouts and network errors are never retried");
  if (ec == errc::plaintext_injection) {
    return stop("plaintext arrived after the go-ahead, before the handshake (possible injection): never retried");
  }
  if (ec == errc::protocol_version) {
    return stop("protocol_version: the next rung has the same versions, never retried");
  }
  if (ec == errc::inappropriate_fallback) {
    return stop("inappropriate_fallback: the server saw a downgrade, never retried");
  }
  const bool policy_alert = (ec == errc::handshake_failure && f.alert_received == alert_handshake_failure) ||
                            (ec == errc::insufficient_security && f.alert_received == alert_insufficient_security);
  if (policy_alert && !f.server_handshake_seen) {
    return ec == errc::handshake_failure
               ? next("fatal alert 40 (handshake_failure) before the server's first handshake message: policy mismatch")
               : next("fatal alert 71 (insufficient_security) before the server's first handshake message: policy mismatch");
  }
  if (f.server_handshake_seen) {
    return stop("the failure came after the server's first handshake message: never retried");
  }
  if (ec == errc::handshake_failure || ec == errc::insufficient_security) {
    return stop("no fatal alert 40/71 came from the server: never retried");
  }
  if (ec == errc::eof && f.eof_before_server_hello) {
    return eof_is_trigger
               ? next("the server closed the connection before ServerHello (EOF is a trigger by the caller's choice)")
               : stop("the server closed the connection before ServerHello; EOF is a trigger only with eof_is_trigger");
  }
  if (ec == errc::eof) return stop("the connection ended after the server had started to answer: never retried");
  return stop("this failure is never retried");
}

}  // namespace

fallback_verdict classify_failure(attempt_stage stage, std::error_code ec, const failure_info& failure,
                                  bool eof_is_trigger) noexcept {
  switch (stage) {
    case attempt_stage::connect:
      return stop("connection failures are never retried");
    case attempt_stage::prelude:
      return stop("the plaintext dialogue failed (STARTTLS missing or refused, or a bad reply): never retried");
    case attempt_stage::checks:
      return stop("the session was refused after the handshake: never retried");
    case attempt_stage::done:
      return stop("the attempt succeeded");
    case attempt_stage::handshake:
      break;
  }
  if (!ec) return stop("the attempt succeeded");
  return classify_handshake(ec, failure, eof_is_trigger);
}

std::string_view to_string(attempt_stage s) noexcept {
  switch (s) {
    case attempt_stage::connect: return "connect";
    case attempt_stage::prelude: return "prelude";
    case attempt_stage::handshake: return "handshake";
    case attempt_stage::checks: return "checks";
    case attempt_stage::done: return "done";
  }
  return "unknown";
}

}  // namespace uptls
