// GnuTLS's own error codes as a std::error_category, and their translation
// into the portable uptls::errc vocabulary.
#pragma once

#include <system_error>

#include "uptls/config.hpp"
#include "uptls/errc.hpp"

namespace uptls::detail::gtls {

// The category of GnuTLS's negative return codes; name() is "gnutls", message()
// is gnutls_strerror's text.
const std::error_category& category() noexcept;

// A GnuTLS return code (negative) as a std::error_code in that category.
std::error_code library_error(int code) noexcept;

// The errc for a failed certificate check: `status` holds gnutls_certificate_status_t
// bits, `leaf_self_signed` whether the peer's first certificate issued itself.
errc from_verify_status(unsigned status, bool leaf_self_signed) noexcept;

// The errc for a GnuTLS return code when no alert or verify status refines it.
// `side` is the role of the session that failed.
errc from_library(int code, role side) noexcept;

}  // namespace uptls::detail::gtls
