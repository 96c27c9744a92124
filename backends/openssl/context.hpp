// One compiled tls_config: an SSL_CTX and what its callbacks need. Immutable
// once made (the client session cache has its own lock), shared by engines.
#pragma once

#include <memory>
#include <string>

#include "handles.hpp"
#include "session_cache.hpp"
#include "engine/engine.hpp"
#include "uptls/backend.hpp"

namespace uptls::ossl {

class openssl_context final : public detail::context_impl, public std::enable_shared_from_this<openssl_context> {
 public:
  // Compiles cfg (already accepted by check_config); errc::invalid_config for
  // unreadable files or a key that does not match the certificate.
  static result<std::shared_ptr<const context>> make(const backend& owner, const tls_config& cfg, role side,
                                                     std::string* why);

  result<std::unique_ptr<detail::engine>> make_engine(transport& io, const peer_options& peer) const override;
  const tls_config& config() const noexcept override { return cfg_; }
  role side() const noexcept override { return side_; }
  const backend& owner() const noexcept override { return owner_; }

  SSL_CTX* native() const noexcept { return ctx_.get(); }
  // The client's session cache; nullptr on servers or with resumption off.
  session_cache* cache() const noexcept { return cache_.get(); }

  // Tag for the constructor: make() is the only way in.
  struct token {};
  openssl_context(token, const backend& owner, const tls_config& cfg, role side, ctx_ptr ctx);

 private:
  static int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                         unsigned int inlen, void* arg);
  static int on_new_session(SSL* ssl, SSL_SESSION* sess);
  std::error_code setup(std::string* why);

  const backend& owner_;
  tls_config cfg_;
  role side_;
  ctx_ptr ctx_;
  std::string alpn_wire_;  // ours, in wire form; the select callback points into it
  std::unique_ptr<session_cache> cache_;
};

}  // namespace uptls::ossl
