// Checking the peer's certificate: chain to the trusted CAs, key purpose for
// the peer's role, and (client side) the name or IP address we dialled.
#pragma once

#include <gnutls/gnutls.h>

#include <string>
#include <system_error>

#include "uptls/config.hpp"

namespace uptls::detail::gtls {

struct verify_result {
  bool presented = false;        // the peer sent a certificate
  bool passed = false;           // it was checked and found good
  unsigned status = 0;           // gnutls_certificate_status_t bits of a failed check
  std::error_code error;         // why it failed (uptls errc), empty if it did not
  int alert = -1;                // the alert that tells the peer why
};

// Checks the certificate the peer of `side` presented. `expected_name` is the
// client's server name (DNS name or IP literal), empty on a server. A server
// whose mode is client_auth::optional accepts a peer without a certificate.
verify_result verify_peer(gnutls_session_t session, role side, const std::string& expected_name,
                          client_auth mode);

}  // namespace uptls::detail::gtls
