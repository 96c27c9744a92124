// Server side: does a ClientHello offer a TLS version we accept?
//
// A GnuTLS server with TLS 1.3 disabled ignores supported_versions, and one
// with TLS 1.2 disabled does not look at legacy_version first: both then fail
// on the cipher suites (handshake_failure, alert 40). OpenSSL answers
// protocol_version (alert 70), and a fallback ladder treats the two very
// differently, so the server checks the versions itself before GnuTLS does.
#pragma once

#include <cstdint>
#include <span>

#include "uptls/config.hpp"

namespace uptls::detail::gtls {

enum class version_offer {
  acceptable,  // some offered version lies in [min, max]
  none,        // well-formed, and no offered version is acceptable
  malformed,   // could not be parsed: left to GnuTLS to reject
};

// Looks at a ClientHello body (the handshake message without its 4-byte header).
version_offer check_client_versions(std::span<const std::uint8_t> hello, tls_version min, tls_version max);

}  // namespace uptls::detail::gtls
