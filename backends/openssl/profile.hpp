// The named profiles (docs/architecture.md "Profiles") as OpenSSL settings.
#pragma once

#include <openssl/ssl.h>

#include <system_error>

#include "uptls/config.hpp"

namespace uptls::ossl {

// TLS 1.2 cipher lists in preference order (forward secret AEAD first).
inline constexpr const char* strict_tls12_ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
inline constexpr const char* legacy_tls12_ciphers =
    "ECDHE+AESGCM:ECDHE+CHACHA20:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA";
// TLS 1.3 suites are all AEAD with (EC)DHE: the same for both profiles.
inline constexpr const char* tls13_suites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
inline constexpr const char* groups = "X25519:P-256:P-384";

// Versions, suites, groups and the protocol options every profile shares;
// errc::internal if OpenSSL refuses one of our own strings.
std::error_code apply_profile(SSL_CTX* ctx, const tls_config& cfg, role side);

}  // namespace uptls::ossl
