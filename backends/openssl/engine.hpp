// One TLS connection: an SSL over the transport BIO.
#pragma once

#include <memory>
#include <optional>

#include "bio.hpp"
#include "context.hpp"
#include "handles.hpp"
#include "engine/engine.hpp"

namespace uptls::ossl {

class openssl_engine final : public detail::engine {
 public:
  // An engine for one connection over io; errc::internal if OpenSSL cannot
  // allocate one, errc::invalid_config for a server name OpenSSL refuses.
  static result<std::unique_ptr<detail::engine>> make(std::shared_ptr<const openssl_context> ctx, transport& io,
                                              const peer_options& peer);
  // The engine that owns ssl (for OpenSSL's callbacks), or nullptr.
  static openssl_engine* from(const SSL* ssl) noexcept;

  result<> handshake() override;
  result<std::size_t> read(std::span<std::byte> buf) override;
  result<std::size_t> write(std::span<const std::byte> buf) override;
  result<> close() override;
  std::size_t pending() const override;
  session_info session() const override;
  const failure_info& failure() const override { return failure_; }
  void rebind(transport& io) noexcept override { io_.io = &io; }

  // The context this engine was made from (for the session cache callback).
  const openssl_context& owner() const noexcept { return *ctx_; }
  // The name the client asked for; empty on servers.
  const std::string& server_name() const noexcept { return peer_.server_name; }

  // Public for make_unique only: make() is the way in (it runs prepare()).
  openssl_engine(std::shared_ptr<const openssl_context> ctx, transport& io, const peer_options& peer);

 private:
  enum class op { handshake, read, write, close };
  enum class phase { handshaking, open, failed };

  std::error_code prepare();
  // Would-block, the peer's close_notify (0 bytes), or a fatal error.
  result<std::size_t> after_failure(int ret, op what);
  result<std::size_t> fatal(std::error_code ec);
  static void on_info(const SSL* ssl, int where, int ret);

  std::shared_ptr<const openssl_context> ctx_;
  peer_options peer_;
  bio_state io_;  // declared before ssl_: the BIO points here until SSL_free
  ssl_ptr ssl_;
  phase phase_ = phase::handshaking;
  bool close_sent_ = false;
  bool peer_closed_ = false;
  std::error_code fatal_;
  failure_info failure_;
};

}  // namespace uptls::ossl
