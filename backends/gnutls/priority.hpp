// The GnuTLS priority string for a profile (docs/architecture.md "Profiles").
#pragma once

#include <string>

#include "uptls/config.hpp"

namespace uptls::detail::gtls {

// The priority string for cfg's profile and version range, as `side` uses it.
// Pure string building; gnutls_priority_init is what rejects a bad one.
std::string priority_string(const tls_config& cfg, role side);

}  // namespace uptls::detail::gtls
