#include "errors.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <climits>

namespace uptls::ossl {
namespace {

class openssl_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "openssl"; }
  std::string message(int value) const override {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(value), buf, sizeof buf);
    return buf;
  }
};

// Local failures (no alert from the peer) by SSL_R_* reason.
std::error_code from_ssl_reason(int reason, const failure_facts& f) noexcept {
  switch (reason) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return from_verify_result(f.verify_result);
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
      return errc::handshake_failure;
    // Bytes that cannot start a TLS record: a plaintext service, HTTP, or the
    // implicit-TLS / STARTTLS ports mixed up.
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
      return errc::not_tls;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_UNSUPPORTED_SSL_VERSION:
      return errc::protocol_version;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return errc::cert_required;
    case SSL_R_NO_APPLICATION_PROTOCOL:
      return errc::no_application_protocol;
    case SSL_R_INAPPROPRIATE_FALLBACK:
      return errc::inappropriate_fallback;
    case SSL_R_DH_KEY_TOO_SMALL:
      return errc::insufficient_security;
    case SSL_R_EE_KEY_TOO_SMALL:
    case SSL_R_CA_KEY_TOO_SMALL:
    case SSL_R_CA_MD_TOO_WEAK:
      return errc::cert_invalid;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return f.handshaking ? errc::eof : errc::truncated;
#endif
    default:
      return {};
  }
}

// What we told the peer says what kind of fault we found, when the reason did not.
std::error_code from_alert_sent(int alert) noexcept {
  switch (alert) {
    case SSL_AD_HANDSHAKE_FAILURE: return errc::handshake_failure;
    case SSL_AD_PROTOCOL_VERSION: return errc::protocol_version;
    case SSL_AD_INSUFFICIENT_SECURITY: return errc::insufficient_security;
    case SSL_AD_INAPPROPRIATE_FALLBACK: return errc::inappropriate_fallback;
    case SSL_AD_NO_APPLICATION_PROTOCOL: return errc::no_application_protocol;
    case SSL_AD_CERTIFICATE_REQUIRED: return errc::cert_required;
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
      return errc::cert_invalid;
    case SSL_AD_INTERNAL_ERROR: return errc::internal;
    default: return errc::bad_message;  // decode, MAC, unexpected message, illegal parameter
  }
}

}  // namespace

const std::error_category& openssl_category() noexcept {
  static const openssl_error_category instance;
  return instance;
}

std::error_code library_error(unsigned long err) noexcept {
  // OpenSSL 3 packs library and reason into 31 bits; the top bit flags a system
  // error whose errno is the reason, which also fits.
  return {static_cast<int>(err & static_cast<unsigned long>(INT_MAX)), openssl_category()};
}

errc from_verify_result(long v) noexcept {
  switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return errc::cert_expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return errc::cert_not_yet_valid;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    // A chain that ends in a root nobody trusts is an unknown CA, not a
    // self-signed peer: GnuTLS and mbedTLS say "signer not trusted" for it.
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return errc::cert_untrusted;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return errc::cert_self_signed;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return errc::cert_name_mismatch;
    default:
      return errc::cert_invalid;
  }
}

int alert_in_reason(unsigned long err) noexcept {
  if (err == 0 || ERR_GET_LIB(err) != ERR_LIB_SSL) return -1;
  const int reason = ERR_GET_REASON(err);
  // SSL_R_SSLV3_ALERT_* and SSL_R_TLSV1*_ALERT_* are the alert number plus this offset.
  if (reason < SSL_AD_REASON_OFFSET || reason > SSL_AD_REASON_OFFSET + 255) return -1;
  return reason - SSL_AD_REASON_OFFSET;
}

// Order matters: the transport's own failure explains everything after it; an
// alert from the peer is the peer's word; then end of stream; then OpenSSL's
// local reason; then the alert we sent.
std::error_code classify(const failure_facts& f) noexcept {
  if (f.transport) return f.transport;
  if (f.alert_received >= 0) return from_alert(f.alert_received);
  if (f.eof) return f.handshaking ? errc::eof : errc::truncated;
  if (f.ssl_error == SSL_ERROR_ZERO_RETURN) return errc::eof;  // close_notify in the handshake
  if (f.err != 0 && ERR_GET_LIB(f.err) == ERR_LIB_SSL) {
    if (const std::error_code ec = from_ssl_reason(ERR_GET_REASON(f.err), f)) return ec;
  }
  if (f.alert_sent >= 0) return from_alert_sent(f.alert_sent);
  if (f.err != 0 && ERR_GET_LIB(f.err) == ERR_LIB_SSL) return errc::bad_message;
  return errc::internal;
}

}  // namespace uptls::ossl
