#include "verify.hpp"

#include <arpa/inet.h>
#include <gnutls/x509.h>

#include <array>
#include <gsl/narrow>
#include <gsl/util>
#include <vector>

#include "errors.hpp"

namespace uptls::detail::gtls {
namespace {

// Whether the leaf names itself as its issuer: a self-signed certificate that
// is not in the trust store, rather than one from an unknown CA.
bool leaf_self_signed(gnutls_session_t session) {
  unsigned count = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &count);
  if (certs == nullptr || count == 0) return false;
  gnutls_x509_crt_t crt = nullptr;
  if (gnutls_x509_crt_init(&crt) < 0) return false;
  auto release = gsl::finally([&] { gnutls_x509_crt_deinit(crt); });
  if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0) return false;
  return gnutls_x509_crt_check_issuer(crt, crt) != 0;
}

// The alert OpenSSL sends for the same fault, so peers hear alike from both.
int alert_for(errc e) {
  switch (e) {
    case errc::cert_untrusted:
    case errc::cert_self_signed:
      return GNUTLS_A_UNKNOWN_CA;
    case errc::cert_expired:
    case errc::cert_not_yet_valid:
      return GNUTLS_A_CERTIFICATE_EXPIRED;
    default:
      return GNUTLS_A_BAD_CERTIFICATE;
  }
}

}  // namespace

verify_result verify_peer(gnutls_session_t session, role side, const std::string& expected_name,
                          client_auth mode) {
  verify_result out;
  unsigned count = 0;
  out.presented = gnutls_certificate_get_peers(session, &count) != nullptr && count > 0;
  if (!out.presented) {
    if (side == role::server && mode == client_auth::optional) return out;
    out.error = side == role::server ? errc::cert_required : errc::cert_invalid;
    const bool tls13 = gnutls_protocol_get_version(session) == GNUTLS_TLS1_3;
    out.alert = side == role::server && tls13 ? GNUTLS_A_CERTIFICATE_REQUIRED : GNUTLS_A_HANDSHAKE_FAILURE;
    return out;
  }

  // The peer's role decides the key purpose: a server certificate for the
  // client, a client certificate for the server.
  std::vector<gnutls_typed_vdata_st> want;
  const char* purpose = side == role::client ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT;
  want.push_back({GNUTLS_DT_KEY_PURPOSE_OID, reinterpret_cast<unsigned char*>(const_cast<char*>(purpose)), 0});

  std::array<unsigned char, 16> ip{};
  if (side == role::client) {
    if (inet_pton(AF_INET, expected_name.c_str(), ip.data()) == 1) {
      want.push_back({GNUTLS_DT_IP_ADDRESS, ip.data(), 4});
    } else if (inet_pton(AF_INET6, expected_name.c_str(), ip.data()) == 1) {
      want.push_back({GNUTLS_DT_IP_ADDRESS, ip.data(), 16});
    } else {
      want.push_back({GNUTLS_DT_DNS_HOSTNAME,
                      reinterpret_cast<unsigned char*>(const_cast<char*>(expected_name.c_str())), 0});
    }
  }

  unsigned status = 0;
  const int rc = gnutls_certificate_verify_peers(session, want.data(), gsl::narrow<unsigned>(want.size()), &status);
  if (rc < 0) {
    // Could not even be parsed or checked (bad DER, chain too long, ...).
    out.status = GNUTLS_CERT_INVALID;
    out.error = errc::cert_invalid;
    out.alert = GNUTLS_A_BAD_CERTIFICATE;
    return out;
  }
  if (status != 0) {
    out.status = status;
    const errc e = from_verify_status(status, leaf_self_signed(session));
    out.error = e;
    out.alert = alert_for(e);
    return out;
  }
  out.passed = true;
  return out;
}

}  // namespace uptls::detail::gtls
