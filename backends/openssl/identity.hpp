// Certificates: what we trust, who we are, and how strictly we check the peer.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <system_error>

#include "uptls/config.hpp"

namespace uptls::ossl {

// Loads the CA file or PEM text and/or the system store; errc::invalid_config
// (and *why naming the field) if unreadable.
std::error_code load_trust(SSL_CTX* ctx, const tls_config& cfg, role side, std::string* why);

// Loads our PEM chain and key (files or text, the key decrypted with
// key_password) and checks that they belong together; errc::invalid_config
// otherwise. cfg must outlive ctx (the password callback reads it). Nothing to
// do without a certificate.
std::error_code load_identity(SSL_CTX* ctx, const tls_config& cfg, std::string* why);

// The peer verification mode: clients always verify the server (unless the
// dangerous switch is on); servers ask for client certificates as configured.
void set_verification(SSL_CTX* ctx, const tls_config& cfg, role side);

}  // namespace uptls::ossl
