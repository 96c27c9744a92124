#include "suites.hpp"

#include <mbedtls/ssl_ciphersuites.h>

#include <array>

namespace uptls::mbed {
namespace {

// Forward secret and AEAD only; the strongest first, as OpenSSL orders
// ECDHE+AESGCM:ECDHE+CHACHA20, so that servers pick alike on every backend.
constexpr std::array strict_suites = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,       MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,       MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
};

// Appended after strict's by legacy: plain RSA key exchange for the servers
// that offer nothing else.
constexpr std::array rsa_suites = {
    MBEDTLS_TLS_RSA_WITH_AES_128_GCM_SHA256, MBEDTLS_TLS_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_RSA_WITH_AES_128_CBC_SHA256, MBEDTLS_TLS_RSA_WITH_AES_256_CBC_SHA256,
    MBEDTLS_TLS_RSA_WITH_AES_128_CBC_SHA,    MBEDTLS_TLS_RSA_WITH_AES_256_CBC_SHA,
};

template <class List>
void append_known(std::vector<int>& out, const List& ids) {
  for (const int id : ids) {
    if (has_suite(id)) out.push_back(id);
  }
}

}  // namespace

bool has_suite(int id) noexcept { return mbedtls_ssl_ciphersuite_from_id(id) != nullptr; }

std::vector<int> profile_suites(profile p) {
  std::vector<int> out;
  append_known(out, strict_suites);
  if (p == profile::legacy) append_known(out, rsa_suites);
  out.push_back(0);
  return out;
}

}  // namespace uptls::mbed
