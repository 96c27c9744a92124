// Certificates: what we trust, who we are, and how strictly we check the peer.
#pragma once

#include <openssl/ssl.h>

#include <system_error>

#include "uptls/config.hpp"

namespace uptls::ossl {

// Loads the CA file and/or the system store; errc::invalid_config if unreadable.
std::error_code load_trust(SSL_CTX* ctx, const tls_config& cfg, role side);

// Loads our PEM chain and key and checks that they belong together;
// errc::invalid_config otherwise. Nothing to do without a cert_file.
std::error_code load_identity(SSL_CTX* ctx, const tls_config& cfg);

// The peer verification mode: clients always verify the server (unless the
// dangerous switch is on); servers ask for client certificates as configured.
void set_verification(SSL_CTX* ctx, const tls_config& cfg, role side);

}  // namespace uptls::ossl
