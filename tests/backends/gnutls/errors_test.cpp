// GnuTLS codes, alerts and verify status bits in uptls terms.
#include "errors.hpp"

#include <gnutls/gnutls.h>
#include <gtest/gtest.h>

namespace uptls::detail::gtls {
namespace {

TEST(GnutlsErrors, CategoryIsNamedAfterTheLibraryAndUsesItsWords) {
  const std::error_code ec = library_error(GNUTLS_E_NO_CIPHER_SUITES);
  EXPECT_STREQ(ec.category().name(), "gnutls");
  EXPECT_EQ(ec.value(), GNUTLS_E_NO_CIPHER_SUITES);
  EXPECT_EQ(ec.message(), gnutls_strerror(GNUTLS_E_NO_CIPHER_SUITES));
  EXPECT_NE(ec.value(), static_cast<int>(errc::handshake_failure)) << "raw codes are GnuTLS's own numbers";
}

TEST(GnutlsErrors, VerifyStatusByTheFirstFaultOpensslWouldName) {
  EXPECT_EQ(from_verify_status(GNUTLS_CERT_INVALID | GNUTLS_CERT_EXPIRED, false), errc::cert_expired);
  EXPECT_EQ(from_verify_status(GNUTLS_CERT_INVALID | GNUTLS_CERT_NOT_ACTIVATED, false), errc::cert_not_yet_valid);
  EXPECT_EQ(from_verify_status(GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_NOT_FOUND, false), errc::cert_untrusted);
  EXPECT_EQ(from_verify_status(GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_NOT_FOUND, true), errc::cert_self_signed);
  EXPECT_EQ(from_verify_status(GNUTLS_CERT_INVALID | GNUTLS_CERT_UNEXPECTED_OWNER, false), errc::cert_name_mismatch);
  EXPECT_EQ(from_verify_status(GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOKED, false), errc::cert_invalid);
  EXPECT_EQ(from_verify_status(GNUTLS_CERT_INVALID | GNUTLS_CERT_PURPOSE_MISMATCH, false), errc::cert_invalid);
  // Several faults: the chain first, then the name, then the dates.
  EXPECT_EQ(from_verify_status(GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_EXPIRED | GNUTLS_CERT_UNEXPECTED_OWNER, false),
            errc::cert_untrusted);
  EXPECT_EQ(from_verify_status(GNUTLS_CERT_EXPIRED | GNUTLS_CERT_UNEXPECTED_OWNER, false), errc::cert_name_mismatch);
}

TEST(GnutlsErrors, LibraryCodes) {
  EXPECT_EQ(from_library(GNUTLS_E_NO_CIPHER_SUITES, role::server), errc::handshake_failure);
  EXPECT_EQ(from_library(GNUTLS_E_INSUFFICIENT_CREDENTIALS, role::client), errc::handshake_failure);
  EXPECT_EQ(from_library(GNUTLS_E_UNSUPPORTED_VERSION_PACKET, role::client), errc::protocol_version);
  EXPECT_EQ(from_library(GNUTLS_E_INAPPROPRIATE_FALLBACK, role::server), errc::inappropriate_fallback);
  EXPECT_EQ(from_library(GNUTLS_E_NO_APPLICATION_PROTOCOL, role::server), errc::no_application_protocol);
  EXPECT_EQ(from_library(GNUTLS_E_NO_CERTIFICATE_FOUND, role::server), errc::cert_required);
  EXPECT_EQ(from_library(GNUTLS_E_CERTIFICATE_REQUIRED, role::server), errc::cert_required);
  EXPECT_EQ(from_library(GNUTLS_E_NO_CERTIFICATE_FOUND, role::client), errc::cert_invalid);
  EXPECT_EQ(from_library(GNUTLS_E_PREMATURE_TERMINATION, role::client), errc::truncated);
  EXPECT_EQ(from_library(GNUTLS_E_DECRYPTION_FAILED, role::client), errc::bad_message);
  EXPECT_EQ(from_library(GNUTLS_E_UNEXPECTED_PACKET_LENGTH, role::server), errc::bad_message);
  EXPECT_EQ(from_library(GNUTLS_E_MEMORY_ERROR, role::server), errc::internal);
}

}  // namespace
}  // namespace uptls::detail::gtls
