// What a finished GnuTLS handshake negotiated, in uptls::session_info's terms.
#pragma once

#include <gnutls/gnutls.h>

#include <string>

#include "uptls/session.hpp"

namespace uptls::detail::gtls {

// The facts of `session` after a successful handshake. `sni_sent` is what a
// client sent as server name (empty for none); `verified` whether the peer's
// certificate was checked and passed.
session_info session_facts(gnutls_session_t session, role side, const std::string& sni_sent, bool verified);

// The IANA name of the negotiated suite, e.g. "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".
std::string iana_suite_name(gnutls_session_t session);

}  // namespace uptls::detail::gtls
