#include "errors.hpp"

#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#include "uptls/errc.hpp"

namespace uptls::mbed {
namespace {

class mbedtls_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mbedtls"; }
  std::string message(int value) const override {
    char text[200] = {};
    mbedtls_strerror(value, text, sizeof text);
    return text;
  }
};

// Codes that name the library's or the caller's fault, not the peer's. Some
// exist on one side of the 2.28 / 3.x divide only, hence the #ifdefs.
bool local_fault(int ret) noexcept {
  switch (ret) {
    case MBEDTLS_ERR_SSL_ALLOC_FAILED:
    case MBEDTLS_ERR_SSL_INTERNAL_ERROR:
    case MBEDTLS_ERR_SSL_NO_RNG:
    case MBEDTLS_ERR_SSL_BAD_INPUT_DATA:
    case MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE:
#if defined(MBEDTLS_ERR_SSL_HW_ACCEL_FAILED)
    case MBEDTLS_ERR_SSL_HW_ACCEL_FAILED:
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_CONFIG)
    case MBEDTLS_ERR_SSL_BAD_CONFIG:
#endif
      return true;
    default:
      return false;
  }
}

bool missing_setting(int ret) noexcept {
  switch (ret) {
    case MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED:
    case MBEDTLS_ERR_SSL_PRIVATE_KEY_REQUIRED:
#if defined(MBEDTLS_ERR_SSL_CERTIFICATE_REQUIRED)
    case MBEDTLS_ERR_SSL_CERTIFICATE_REQUIRED:
#endif
#if defined(MBEDTLS_ERR_SSL_CERTIFICATE_VERIFICATION_WITHOUT_HOSTNAME)
    case MBEDTLS_ERR_SSL_CERTIFICATE_VERIFICATION_WITHOUT_HOSTNAME:
#endif
      return true;
    default:
      return false;
  }
}

bool no_common_suite(int ret) noexcept {
  switch (ret) {
#if defined(MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN)
    case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
#endif
#if defined(MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE)
    case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
#endif
#if defined(MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE)
    case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
#endif
      return true;
    default:
      return false;
  }
}

bool no_common_version(int ret) noexcept {
#if defined(MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION)
  if (ret == MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION) return true;
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION)
  if (ret == MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION) return true;
#endif
  return false;
}

// The Certificate message was refused (2.28 and 3.x name it differently).
bool bad_certificate(int ret) noexcept {
#if defined(MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE)
  if (ret == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE) return true;
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_CERTIFICATE)
  if (ret == MBEDTLS_ERR_SSL_BAD_CERTIFICATE) return true;
#endif
  return false;
}

// mbedTLS answers some refusals only with a generic "bad ClientHello" code;
// the alert it sent says which refusal it was.
std::error_code from_alert_sent(int alert) noexcept {
  switch (alert) {
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE: return errc::handshake_failure;
    case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION: return errc::protocol_version;
    case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY: return errc::insufficient_security;
    case MBEDTLS_SSL_ALERT_MSG_INAPROPRIATE_FALLBACK: return errc::inappropriate_fallback;
    case MBEDTLS_SSL_ALERT_MSG_NO_APPLICATION_PROTOCOL: return errc::no_application_protocol;
    default: return {};
  }
}

}  // namespace

const std::error_category& library_category() noexcept {
  static const mbedtls_category instance;
  return instance;
}

std::error_code library_error(int ret) noexcept { return {ret, library_category()}; }

std::error_code from_verify_flags(std::uint32_t flags, bool self_signed_leaf) noexcept {
  if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
    return self_signed_leaf ? errc::cert_self_signed : errc::cert_untrusted;
  }
  if (flags & MBEDTLS_X509_BADCERT_EXPIRED) return errc::cert_expired;
  if (flags & MBEDTLS_X509_BADCERT_FUTURE) return errc::cert_not_yet_valid;
  if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) return errc::cert_name_mismatch;
  if (flags & MBEDTLS_X509_BADCERT_MISSING) return errc::cert_required;
  return errc::cert_invalid;
}

std::error_code classify(const failure_facts& f) noexcept {
  const int ret = f.ret;
  if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) return from_alert(f.alert_received);
  if (ret == MBEDTLS_ERR_SSL_CONN_EOF) return errc::truncated;
  if (no_common_suite(ret)) return errc::handshake_failure;
  if (no_common_version(ret)) return errc::protocol_version;
  if (ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) return errc::cert_required;
#if defined(MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL)
  if (ret == MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL) return errc::no_application_protocol;
#endif
  // A chain mbedTLS refused, or one our own checks refused (the IP address, a
  // presented client certificate under "optional"): the flags say why.
  const std::uint32_t bad = f.verify_flags & ~std::uint32_t{MBEDTLS_X509_BADCERT_SKIP_VERIFY};
  if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || (bad_certificate(ret) && bad != 0)) {
    return from_verify_flags(bad, f.self_signed_leaf);
  }
  if (missing_setting(ret)) return errc::invalid_config;
  if (local_fault(ret)) return errc::internal;
  if (const std::error_code sent = from_alert_sent(f.alert_sent)) return sent;
  return errc::bad_message;
}

int alert_for_flags(std::uint32_t flags) noexcept {
  if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) return MBEDTLS_SSL_ALERT_MSG_BAD_CERT;
  if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE | MBEDTLS_X509_BADCERT_NS_CERT_TYPE |
               MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY)) {
    return MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT;
  }
  if (flags & MBEDTLS_X509_BADCERT_EXPIRED) return MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED;
  if (flags & MBEDTLS_X509_BADCERT_REVOKED) return MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED;
  if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) return MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA;
  return MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN;
}

std::string verify_text(std::uint32_t flags) {
  char text[512] = {};
  const int n = mbedtls_x509_crt_verify_info(text, sizeof text, "", flags);
  std::string out = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : std::string{};
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out) {
    if (c == '\n') c = ';';
  }
  return out;
}

}  // namespace uptls::mbed
