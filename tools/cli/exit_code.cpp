#include "exit_code.hpp"

#include "uptls/errc.hpp"

namespace uptls::cli {

std::string_view to_string(stage s) noexcept {
  switch (s) {
    case stage::connect: return "connect";
    case stage::dialogue: return "dialogue";
    case stage::handshake: return "handshake";
    case stage::tls: return "tls";
  }
  return "unknown";
}

int exit_status_for(std::error_code ec, stage where) noexcept {
  if (!ec) return exit_ok;
  if (ec.category() == category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::cert_expired:
      case errc::cert_not_yet_valid:
      case errc::cert_untrusted:
      case errc::cert_self_signed:
      case errc::cert_name_mismatch:
      case errc::cert_invalid:
      case errc::cert_required:
      case errc::cert_rejected_by_peer:
        return exit_certificate;
      case errc::handshake_failure:
      case errc::insufficient_security:
      case errc::protocol_version:
      case errc::inappropriate_fallback:
      case errc::not_tls:
      case errc::bad_message:
      case errc::peer_alert:
      case errc::no_application_protocol:
      case errc::plaintext_injection:
      case errc::fallback_anomaly:
      case errc::pinned_downgrade:
        return exit_tls;
      case errc::invalid_config:
      case errc::unsupported:
        return exit_usage;
      default:
        break;
    }
  }
  // A reset, an EOF or a timeout in the middle of the handshake is the TLS
  // session failing, whatever the transport said.
  return where == stage::handshake ? exit_tls : exit_failed;
}

const char* const exit_codes_help =
    "Exit status:\n"
    "  0  success\n"
    "  1  the session failed: connect, the plaintext dialogue, a refused command (the error says why)\n"
    "  2  bad usage: arguments, or files and settings that cannot work\n"
    "  3  the TLS handshake failed (no common parameters, not TLS on that port, a hang-up)\n"
    "  4  a certificate was refused (untrusted, expired, wrong name, ...)\n"
    "  5  the scheme or protocol is not supported yet by this version of uptls\n";

}  // namespace uptls::cli
