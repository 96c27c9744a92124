#include "identity.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "handles.hpp"
#include "uptls/errc.hpp"

namespace uptls::ossl {
namespace {

// Keeps the handshake going whatever the chain looks like; only for
// dangerous_skip_verification on a server that still asks for a certificate.
int accept_anything(int /*preverify_ok*/, X509_STORE_CTX* /*store*/) { return 1; }

std::error_code refuse(std::string* why, std::string_view text) {
  if (why != nullptr) *why = text;
  return errc::invalid_config;
}

// The key's password, or failure (never a terminal prompt, which OpenSSL's
// default callback would do for an encrypted key and no password).
int password_cb(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* password = static_cast<const std::string*>(userdata);
  if (password == nullptr || password->empty() || size <= 0) return -1;
  if (password->size() > static_cast<std::size_t>(size)) return -1;
  std::memcpy(buf, password->data(), password->size());
  return static_cast<int>(password->size());
}

struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using mem_bio = std::unique_ptr<BIO, bio_free>;

mem_bio memory(const std::string& pem) {
  return mem_bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in pem, in order; empty when there is none or one is broken.
std::vector<x509_ptr> read_certificates(const std::string& pem) {
  std::vector<x509_ptr> out;
  mem_bio bio = memory(pem);
  if (!bio) return out;
  for (;;) {
    x509_ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!c) break;
    out.push_back(std::move(c));
  }
  // The loop ends at the first thing that is not a certificate: fine at the
  // end of the text (PEM_R_NO_START_LINE), a broken certificate otherwise.
  const unsigned long e = ERR_peek_last_error();
  if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
  } else if (e != 0) {
    out.clear();
  }
  return out;
}

}  // namespace

std::error_code load_trust(SSL_CTX* ctx, const tls_config& cfg, role side, std::string* why) {
  if (!cfg.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr) != 1) {
      return refuse(why, "ca_file: unreadable, or no PEM certificate in it");
    }
    if (side == role::server) {
      // Tells clients which CAs we accept so that they pick the right certificate.
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.ca_file.c_str());
      if (names == nullptr) return refuse(why, "ca_file: no certificate names in it");
      SSL_CTX_set_client_CA_list(ctx, names);
    }
  }
  if (!cfg.ca_pem.empty()) {
    const std::vector<x509_ptr> cas = read_certificates(cfg.ca_pem);
    if (cas.empty()) return refuse(why, "ca_pem: no PEM certificate in it, or a broken one");
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const x509_ptr& ca : cas) {
      if (X509_STORE_add_cert(store, ca.get()) != 1) return refuse(why, "ca_pem: a certificate was refused");
      if (side == role::server && SSL_CTX_add_client_CA(ctx, ca.get()) != 1) {
        return refuse(why, "ca_pem: a certificate name was refused");
      }
    }
  }
  if (cfg.system_trust && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return refuse(why, "system_trust: the system store cannot be read");
  }
  return {};
}

std::error_code load_identity(SSL_CTX* ctx, const tls_config& cfg, std::string* why) {
  // The password lives in the context's own copy of the config, as long as ctx.
  SSL_CTX_set_default_passwd_cb(ctx, password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::string*>(&cfg.key_password));
  if (!cfg.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1) {
      return refuse(why, "cert_file: unreadable, or no PEM certificate in it");
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return refuse(why, "key_file: unreadable, not a PEM private key, or a wrong key_password");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) return refuse(why, "key_file: does not match cert_file");
    return {};
  }
  if (cfg.cert_pem.empty()) return {};
  std::vector<x509_ptr> chain = read_certificates(cfg.cert_pem);
  if (chain.empty()) return refuse(why, "cert_pem: no PEM certificate in it, or a broken one");
  if (SSL_CTX_use_certificate(ctx, chain.front().get()) != 1) return refuse(why, "cert_pem: the leaf was refused");
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      return refuse(why, "cert_pem: a chain certificate was refused");
    }
  }
  mem_bio bio = memory(cfg.key_pem);
  if (!bio) return errc::internal;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, password_cb, const_cast<std::string*>(&cfg.key_password)),
      &EVP_PKEY_free);
  if (!key) return refuse(why, "key_pem: not a PEM private key, or a wrong key_password");
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) return refuse(why, "key_pem: does not match cert_pem");
  if (SSL_CTX_check_private_key(ctx) != 1) return refuse(why, "key_pem: does not match cert_pem");
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
