#include "identity.hpp"

#include <openssl/err.h>

#include "uptls/errc.hpp"

namespace uptls::ossl {
namespace {

// Keeps the handshake going whatever the chain looks like; only for
// dangerous_skip_verification on a server that still asks for a certificate.
int accept_anything(int /*preverify_ok*/, X509_STORE_CTX* /*store*/) { return 1; }

}  // namespace

std::error_code load_trust(SSL_CTX* ctx, const tls_config& cfg, role side) {
  if (!cfg.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr) != 1) return errc::invalid_config;
    if (side == role::server) {
      // Tells clients which CAs we accept so that they pick the right certificate.
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.ca_file.c_str());
      if (names == nullptr) return errc::invalid_config;
      SSL_CTX_set_client_CA_list(ctx, names);
    }
  }
  if (cfg.system_trust && SSL_CTX_set_default_verify_paths(ctx) != 1) return errc::invalid_config;
  return {};
}

std::error_code load_identity(SSL_CTX* ctx, const tls_config& cfg) {
  if (cfg.cert_file.empty()) return {};
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1) return errc::invalid_config;
  if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1) return errc::invalid_config;
  if (SSL_CTX_check_private_key(ctx) != 1) return errc::invalid_config;
  return {};
}

void set_verification(SSL_CTX* ctx, const tls_config& cfg, role side) {
  if (side == role::client) {
    SSL_CTX_set_verify(ctx, cfg.dangerous_skip_verification ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
    return;
  }
  if (cfg.client_certificates == client_auth::none) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return;
  }
  int mode = SSL_VERIFY_PEER;
  if (cfg.client_certificates == client_auth::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, cfg.dangerous_skip_verification ? accept_anything : nullptr);
}

}  // namespace uptls::ossl
