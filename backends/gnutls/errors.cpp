#include "errors.hpp"

#include <gnutls/gnutls.h>

#include <string>

namespace uptls::detail::gtls {
namespace {

class gnutls_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gnutls"; }
  std::string message(int value) const override {
    const char* text = gnutls_strerror(value);
    return text != nullptr ? text : "unknown GnuTLS error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const gnutls_category instance;
  return instance;
}

std::error_code library_error(int code) noexcept { return {code, category()}; }

// Precedence follows the order in which OpenSSL's chain check stops (chain
// building, then the name, then the dates), so that a certificate with several
// faults gets the same errc on every backend.
errc from_verify_status(unsigned status, bool leaf_self_signed) noexcept {
  if ((status & GNUTLS_CERT_SIGNER_NOT_FOUND) != 0) {
    return leaf_self_signed ? errc::cert_self_signed : errc::cert_untrusted;
  }
  if ((status & GNUTLS_CERT_UNEXPECTED_OWNER) != 0) return errc::cert_name_mismatch;
  if ((status & GNUTLS_CERT_EXPIRED) != 0) return errc::cert_expired;
  if ((status & GNUTLS_CERT_NOT_ACTIVATED) != 0) return errc::cert_not_yet_valid;
  return errc::cert_invalid;
}

errc from_library(int code, role side) noexcept {
  switch (code) {
    case GNUTLS_E_NO_CIPHER_SUITES:
    case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
    case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
    case GNUTLS_E_NO_COMMON_KEY_SHARE:
    case GNUTLS_E_ECC_NO_SUPPORTED_CURVES:
    case GNUTLS_E_ECC_UNSUPPORTED_CURVE:
    case GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM:
    case GNUTLS_E_UNWANTED_ALGORITHM:
    case GNUTLS_E_UNKNOWN_PK_ALGORITHM:
    case GNUTLS_E_SAFE_RENEGOTIATION_FAILED:
      return errc::handshake_failure;
    case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
      return errc::protocol_version;
    case GNUTLS_E_INSUFFICIENT_SECURITY:
    case GNUTLS_E_DH_PRIME_UNACCEPTABLE:
      return errc::insufficient_security;
    case GNUTLS_E_INAPPROPRIATE_FALLBACK:
      return errc::inappropriate_fallback;
    case GNUTLS_E_NO_APPLICATION_PROTOCOL:
      return errc::no_application_protocol;
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
      return errc::peer_alert;
    case GNUTLS_E_CERTIFICATE_ERROR:
    case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
    case GNUTLS_E_CERTIFICATE_TIME_ERROR:
    case GNUTLS_E_UNSUPPORTED_CERTIFICATE_TYPE:
    case GNUTLS_E_CERTIFICATE_LIST_UNSORTED:
      return errc::cert_invalid;
    case GNUTLS_E_NO_CERTIFICATE_FOUND:
    case GNUTLS_E_CERTIFICATE_REQUIRED:
      // A server that asked for a certificate got none; a client got a server
      // without one, which no certificate key exchange allows.
      return side == role::server ? errc::cert_required : errc::cert_invalid;
    case GNUTLS_E_PREMATURE_TERMINATION:
    case GNUTLS_E_SESSION_EOF:
      return errc::truncated;
    case GNUTLS_E_TIMEDOUT:
      return errc::timeout;
    case GNUTLS_E_PUSH_ERROR:
    case GNUTLS_E_PULL_ERROR:
      return errc::network;
    case GNUTLS_E_MEMORY_ERROR:
    case GNUTLS_E_INTERNAL_ERROR:
    case GNUTLS_E_RANDOM_FAILED:
    case GNUTLS_E_LIB_IN_ERROR_STATE:
    case GNUTLS_E_INVALID_REQUEST:
      return errc::internal;
    default:
      // Everything else the library rejects is a malformed, unexpected or
      // undecryptable message from the peer.
      return errc::bad_message;
  }
}

}  // namespace uptls::detail::gtls
