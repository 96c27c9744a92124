#include "uptls/errc.hpp"

#include <string>

namespace uptls {
namespace {

struct entry {
  errc code;
  std::string_view name;
  std::string_view message;
};

// One row per errc, in declaration order: name for logs, message for people.
constexpr entry table[] = {
    {errc::usage, "usage", "call not valid in the stream's current state"},
    {errc::unsupported, "unsupported", "setting not supported by this TLS backend"},
    {errc::invalid_config, "invalid_config", "invalid TLS configuration"},
    {errc::timeout, "timeout", "timed out waiting for the peer"},
    {errc::connection_refused, "connection_refused", "connection refused"},
    {errc::connection_reset, "connection_reset", "connection reset by peer"},
    {errc::network, "network", "network error"},
    {errc::eof, "eof", "peer closed the connection"},
    {errc::incomplete_line, "incomplete_line", "peer closed the connection in the middle of a line"},
    {errc::line_too_long, "line_too_long", "line longer than the limit"},
    {errc::plaintext_injection, "plaintext_injection",
     "plaintext received after the STARTTLS go-ahead, before the TLS handshake (possible injection)"},
    {errc::truncated, "truncated", "TLS stream ended without close_notify (truncation)"},
    {errc::handshake_failure, "handshake_failure", "TLS handshake failure: no parameters in common"},
    {errc::insufficient_security, "insufficient_security", "peer requires stronger security (insufficient_security)"},
    {errc::protocol_version, "protocol_version", "no TLS protocol version in common"},
    {errc::inappropriate_fallback, "inappropriate_fallback", "peer detected an inappropriate fallback"},
    {errc::not_tls, "not_tls",
     "peer does not speak TLS here (plaintext service, or implicit TLS and STARTTLS ports mixed up)"},
    {errc::bad_message, "bad_message", "malformed or unexpected TLS message"},
    {errc::peer_alert, "peer_alert", "peer sent a fatal TLS alert"},
    {errc::no_application_protocol, "no_application_protocol", "no ALPN protocol in common"},
    {errc::cert_expired, "cert_expired", "peer certificate has expired"},
    {errc::cert_not_yet_valid, "cert_not_yet_valid", "peer certificate is not yet valid"},
    {errc::cert_untrusted, "cert_untrusted", "peer certificate is not signed by a trusted CA"},
    {errc::cert_self_signed, "cert_self_signed", "peer certificate is self-signed and not trusted"},
    {errc::cert_name_mismatch, "cert_name_mismatch", "peer certificate does not match the expected name"},
    {errc::cert_invalid, "cert_invalid", "peer certificate is invalid"},
    {errc::cert_required, "cert_required", "no certificate was sent where one is required (by the peer, or by us)"},
    {errc::cert_rejected_by_peer, "cert_rejected_by_peer", "peer rejected our certificate"},
    {errc::starttls_not_offered, "starttls_not_offered", "server does not offer STARTTLS"},
    {errc::starttls_refused, "starttls_refused", "server refused STARTTLS"},
    {errc::protocol_error, "protocol_error", "malformed or unexpected reply in the application protocol dialogue"},
    {errc::preauthenticated, "preauthenticated", "the server greeted the session as already authenticated (PREAUTH), so it cannot be upgraded to TLS"},
    {errc::fallback_anomaly, "fallback_anomaly",
     "permissive retry negotiated a forward-secret suite: the strict failure was not the server's doing (possible attack)"},
    {errc::pinned_downgrade, "pinned_downgrade",
     "strict handshake failed with a host pinned to strict TLS (possible downgrade attack)"},
    {errc::internal, "internal", "internal TLS library error"},
};

const entry* find(int value) noexcept {
  for (const auto& e : table) {
    if (static_cast<int>(e.code) == value) return &e;
  }
  return nullptr;
}

class uptls_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "uptls"; }
  std::string message(int value) const override {
    const entry* e = find(value);
    return e ? std::string(e->message) : "unknown uptls error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const uptls_category instance;
  return instance;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

errc from_alert(int alert) noexcept {
  switch (alert) {
    case 40: return errc::handshake_failure;
    case 70: return errc::protocol_version;
    case 71: return errc::insufficient_security;
    case 86: return errc::inappropriate_fallback;
    case 120: return errc::no_application_protocol;
    case 42:  // bad_certificate
    case 43:  // unsupported_certificate
    case 44:  // certificate_revoked
    case 45:  // certificate_expired
    case 46:  // certificate_unknown
    case 48:  // unknown_ca
      return errc::cert_rejected_by_peer;
    case 116:  // certificate_required (TLS 1.3): the peer wanted ours and got none
      return errc::cert_required;
    default:
      return errc::peer_alert;
  }
}

std::string_view to_string(errc e) noexcept {
  const entry* found = find(static_cast<int>(e));
  return found ? found->name : "unknown";
}

}  // namespace uptls
