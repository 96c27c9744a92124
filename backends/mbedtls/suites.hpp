// The cipher suites of the named profiles (docs/architecture.md "Profiles"), as mbedTLS ids.
#pragma once

#include <vector>

#include "uptls/config.hpp"

namespace uptls::mbed {

// The profile's suites in preference order, only those this mbedTLS build has,
// terminated by 0 as mbedtls_ssl_conf_ciphersuites wants. mbedTLS's own default
// list allows TLS 1.0 and plain RSA key exchange, so every profile is explicit.
std::vector<int> profile_suites(profile p);

// True when this mbedTLS build has the suite.
bool has_suite(int id) noexcept;

}  // namespace uptls::mbed
