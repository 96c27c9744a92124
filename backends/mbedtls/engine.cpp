// The engine's life: set-up, handshake, data, close (engine.hpp).
#include "engine.hpp"

#include <gsl/assert>

#include "compat.hpp"
#include "context.hpp"
#include "names.hpp"

namespace uptls::mbed {
namespace {

// Handshake steps and retries after a "want" that the transport did not cause
// (mbedTLS asks to be called again after some internal steps). A handshake
// has about twenty steps; the bound only stops a library that never finishes.
constexpr int max_rounds = 1000;

bool wants_io(int ret) noexcept { return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE; }

}  // namespace

result<std::unique_ptr<detail::engine>> make_mbed_engine(std::shared_ptr<const mbed_context> ctx, transport& io,
                                                 const peer_options& peer) {
  auto e = std::make_unique<mbed_engine>(std::move(ctx), io);
  if (auto ec = e->setup(peer)) return ec;
  return std::unique_ptr<detail::engine>(std::move(e));
}

mbed_engine::mbed_engine(std::shared_ptr<const mbed_context> ctx, transport& io) : ctx_(std::move(ctx)), io_(&io) {
  Expects(ctx_ != nullptr);
  mbedtls_ssl_init(&conn_.ssl);
  conn_.owner = this;
}

mbed_engine::~mbed_engine() { mbedtls_ssl_free(&conn_.ssl); }

std::error_code mbed_engine::setup(const peer_options& peer) {
  const tls_config& cfg = ctx_->config();
  const bool client = ctx_->side() == role::client;
  Expects(!client || !peer.server_name.empty() || cfg.dangerous_skip_verification);

  if (mbedtls_ssl_setup(&ssl(), &ctx_->ssl_config()) != 0) return errc::internal;
  mbedtls_ssl_set_bio(&ssl(), this, on_send, on_recv, nullptr);
  mbedtls_ssl_set_verify(&ssl(), on_verify, this);
  if (!client) return {};

  server_name_ = peer.server_name;
  if (auto ip = ip_bytes(server_name_)) {
    // No SNI for an address (RFC 6066 3); mbedTLS would send one and, in 2.28,
    // compare the address with DNS names only. on_verify checks iPAddress SANs.
    expected_ip_ = std::move(ip);
    if (mbedtls_ssl_set_hostname(&ssl(), nullptr) != 0) return errc::internal;
  } else if (!server_name_.empty()) {
    // Both the SNI and the name the certificate is checked against.
    if (mbedtls_ssl_set_hostname(&ssl(), server_name_.c_str()) != 0) return errc::invalid_config;
    sni_ = server_name_;
  }
  if (cfg.resumption && !server_name_.empty()) {
    offered_session_ = ctx_->client_sessions().restore(server_name_, ssl());
  }
  return {};
}

result<> mbed_engine::handshake() {
  if (error_) return failed();
  if (phase_ == phase::open) return {};
  for (int round = 0; round < max_rounds; ++round) {
    if (handshake_over(ssl())) {
      // The last flight (the server's Finished) is still held here.
      blocked_ = wait_for::none;
      const int flushed = flush_flight();
      if (flushed == MBEDTLS_ERR_SSL_WANT_WRITE) return result<>::blocked(wait_for::write);
      if (flushed != 0) return fail(flushed);
      return finish_handshake();
    }
    blocked_ = wait_for::none;
    const int ret = mbedtls_ssl_handshake_step(&ssl());
    if (ret == 0) {
      if (refuse_presented_client_cert()) return failed();
      continue;
    }
    if (wants_io(ret)) {
      if (blocked_ != wait_for::none) return blocked();
      continue;
    }
    return fail(ret);
  }
  return fail(make_error_code(errc::internal), MBEDTLS_ERR_SSL_INTERNAL_ERROR, MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR);
}

result<> mbed_engine::finish_handshake() {
  watching_ = false;  // what follows is encrypted
  phase_ = phase::open;
  // The flight buffer grew to the largest flight (~2 KiB: hello, certificate,
  // key exchange) and is used only during the handshake: an idle connection
  // should not keep it. Only when nothing of it is still waiting to go out.
  if (flight_.empty()) std::vector<std::byte>().swap(flight_);
  record_session();
  if (ctx_->side() == role::client && ctx_->config().resumption && !server_name_.empty()) {
    ctx_->client_sessions().store(server_name_, ssl());
  }
  return {};
}

result<std::size_t> mbed_engine::read(std::span<std::byte> buf) {
  Expects(!buf.empty());
  if (error_) return failed();
  if (phase_ != phase::open) return make_error_code(errc::usage);
  if (peer_closed_) return std::size_t{0};
  auto* out = reinterpret_cast<unsigned char*>(buf.data());
  for (int round = 0; round < max_rounds; ++round) {
    blocked_ = wait_for::none;
    const int ret = mbedtls_ssl_read(&ssl(), out, buf.size());
    if (ret > 0) return static_cast<std::size_t>(ret);
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      peer_closed_ = true;
      return std::size_t{0};
    }
    if (ret == 0 || wants_io(ret)) {
      // 0: an empty record, or the end of the transport (then it is an error).
      if (io_eof_) return fail(MBEDTLS_ERR_SSL_CONN_EOF);
      if (blocked_ != wait_for::none) return blocked();
      continue;
    }
    return fail(ret);
  }
  return fail(make_error_code(errc::internal), MBEDTLS_ERR_SSL_INTERNAL_ERROR, -1);
}

result<std::size_t> mbed_engine::write(std::span<const std::byte> buf) {
  Expects(!buf.empty());
  if (error_) return failed();
  if (phase_ != phase::open || close_sent_) return make_error_code(errc::usage);
  const auto* in = reinterpret_cast<const unsigned char*>(buf.data());
  for (int round = 0; round < max_rounds; ++round) {
    blocked_ = wait_for::none;
    const int ret = mbedtls_ssl_write(&ssl(), in, buf.size());
    if (ret > 0) return static_cast<std::size_t>(ret);
    if (wants_io(ret) || ret == 0) {
      if (blocked_ != wait_for::none) return blocked();
      continue;
    }
    return fail(ret);
  }
  return fail(make_error_code(errc::internal), MBEDTLS_ERR_SSL_INTERNAL_ERROR, -1);
}

result<> mbed_engine::close() {
  if (error_) return failed();
  if (phase_ != phase::open) return make_error_code(errc::usage);
  // One close_notify per connection: a second close() has nothing to send.
  if (close_sent_) return {};
  blocked_ = wait_for::none;
  // Called again after want_write, mbedTLS flushes the alert it already queued.
  const int ret = mbedtls_ssl_close_notify(&ssl());
  if (ret == 0) {
    close_sent_ = true;
    return {};
  }
  if (wants_io(ret)) return result<>::blocked(blocked_ != wait_for::none ? blocked_ : wait_for::write);
  return fail(ret);
}

std::size_t mbed_engine::pending() const {
  if (phase_ != phase::open) return 0;
  return mbedtls_ssl_get_bytes_avail(&ssl());
}


}  // namespace uptls::mbed
