// Where mbedTLS 2.28 and 3.x differ. meson.build probes the headers and passes
// UPTLS_MBEDTLS_* defines to this folder only; the rest of the backend calls
// these shims and never compares version numbers.
#pragma once

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>

#include <cstdint>
#include <string>

#if defined(MBEDTLS_USE_PSA_CRYPTO) || defined(MBEDTLS_SSL_PROTO_TLS1_3)
#include <psa/crypto.h>
#endif

// 3.x hides most struct members behind MBEDTLS_PRIVATE(); 2.28 has them public.
#if defined(UPTLS_MBEDTLS_PRIVATE_FIELDS)
#define UPTLS_MBEDTLS_FIELD(name) MBEDTLS_PRIVATE(name)
#else
#define UPTLS_MBEDTLS_FIELD(name) name
#endif

namespace uptls::mbed {

// Builds that route X.509 or TLS through PSA need psa_crypto_init() first
// (mbedTLS 3.x); it may be called any number of times. 0 or an error code.
inline int init_crypto() noexcept {
#if defined(MBEDTLS_USE_PSA_CRYPTO) || defined(MBEDTLS_SSL_PROTO_TLS1_3)
  return psa_crypto_init() == PSA_SUCCESS ? 0 : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
#else
  return 0;
#endif
}

// Pins the configuration to TLS 1.2 (the only version this backend negotiates).
inline void set_tls12_only(mbedtls_ssl_config& conf) noexcept {
#if defined(UPTLS_MBEDTLS_TLS_VERSION_ENUM)
  mbedtls_ssl_conf_min_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
  mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
}

// Loads a PEM or DER private key file, decrypted with password when it is not
// empty; 0 or an mbedTLS error.
inline int parse_key_file(mbedtls_pk_context& key, const char* path, const std::string& password,
                          mbedtls_ctr_drbg_context& rng) noexcept {
  const char* pwd = password.empty() ? nullptr : password.c_str();
#if defined(UPTLS_MBEDTLS_PK_PARSE_RNG)
  return mbedtls_pk_parse_keyfile(&key, path, pwd, mbedtls_ctr_drbg_random, &rng);
#else
  (void)rng;
  return mbedtls_pk_parse_keyfile(&key, path, pwd);
#endif
}

// The same for a key held as PEM text.
inline int parse_key(mbedtls_pk_context& key, const std::string& pem, const std::string& password,
                     mbedtls_ctr_drbg_context& rng) noexcept {
  // PEM input is parsed with its terminating NUL counted (mbedTLS's rule).
  const auto* text = reinterpret_cast<const unsigned char*>(pem.c_str());
  const auto* pwd = reinterpret_cast<const unsigned char*>(password.c_str());
#if defined(UPTLS_MBEDTLS_PK_PARSE_RNG)
  return mbedtls_pk_parse_key(&key, text, pem.size() + 1, password.empty() ? nullptr : pwd, password.size(),
                              mbedtls_ctr_drbg_random, &rng);
#else
  (void)rng;
  return mbedtls_pk_parse_key(&key, text, pem.size() + 1, password.empty() ? nullptr : pwd, password.size());
#endif
}

// 0 when the private key belongs to the certificate's public key.
inline int check_pair(const mbedtls_pk_context& pub, const mbedtls_pk_context& prv,
                      mbedtls_ctr_drbg_context& rng) noexcept {
#if defined(UPTLS_MBEDTLS_CHECK_PAIR_RNG)
  return mbedtls_pk_check_pair(&pub, &prv, mbedtls_ctr_drbg_random, &rng);
#else
  (void)rng;
  return mbedtls_pk_check_pair(&pub, &prv);
#endif
}

// Key exchange groups in preference order: x25519, then P-256, then P-384.
inline void set_groups(mbedtls_ssl_config& conf) noexcept {
#if defined(UPTLS_MBEDTLS_CONF_GROUPS)
  static const std::uint16_t groups[] = {MBEDTLS_SSL_IANA_TLS_GROUP_X25519, MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
                                         MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1, MBEDTLS_SSL_IANA_TLS_GROUP_NONE};
  mbedtls_ssl_conf_groups(&conf, groups);
#else
  static const mbedtls_ecp_group_id groups[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                                MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE};
  mbedtls_ssl_conf_curves(&conf, groups);
#endif
}

// True once the handshake has completed.
inline bool handshake_over(const mbedtls_ssl_context& ssl) noexcept {
#if defined(UPTLS_MBEDTLS_IS_HANDSHAKE_OVER)
  return mbedtls_ssl_is_handshake_over(const_cast<mbedtls_ssl_context*>(&ssl)) != 0;
#else
  return ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER;
#endif
}

// The description of the alert record mbedTLS just processed, right after it
// returned MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE; -1 when there is none. mbedTLS
// has no getter for it; the record it read is still in its input buffer.
inline int last_received_alert(const mbedtls_ssl_context& ssl) noexcept {
  const unsigned char* msg = ssl.UPTLS_MBEDTLS_FIELD(in_msg);
  if (msg == nullptr || ssl.UPTLS_MBEDTLS_FIELD(in_msgtype) != MBEDTLS_SSL_MSG_ALERT ||
      ssl.UPTLS_MBEDTLS_FIELD(in_msglen) < 2) {
    return -1;
  }
  return msg[1];
}

}  // namespace uptls::mbed
