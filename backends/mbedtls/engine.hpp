// One TLS connection over an mbedtls_ssl_context whose I/O callbacks call the
// uptls::transport it was handed. The callbacks also read the cleartext part of
// the handshake (wire.hpp) for the facts mbedTLS keeps private, and the verify
// callback adds the checks mbedTLS 2.28 lacks (IP address names).
#pragma once

#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "uptls/backend.hpp"
#include "engine/engine.hpp"
#include "wire.hpp"

namespace uptls::mbed {

class mbed_context;

// A new engine for one connection of ctx over io (see context::make_engine).
result<std::unique_ptr<detail::engine>> make_mbed_engine(std::shared_ptr<const mbed_context> ctx, transport& io,
                                                 const peer_options& peer);

class mbed_engine final : public detail::engine {
 public:
  mbed_engine(std::shared_ptr<const mbed_context> ctx, transport& io);
  ~mbed_engine() override;
  mbed_engine(const mbed_engine&) = delete;
  mbed_engine& operator=(const mbed_engine&) = delete;

  // Binds the mbedTLS context to the configuration, the transport and the peer's name.
  std::error_code setup(const peer_options& peer);

  result<> handshake() override;
  result<std::size_t> read(std::span<std::byte> buf) override;
  result<std::size_t> write(std::span<const std::byte> buf) override;
  result<> close() override;
  std::size_t pending() const override;
  session_info session() const override;
  const failure_info& failure() const override { return failure_; }
  void rebind(transport& io) noexcept override { io_ = &io; }

  // The server's SNI callback (mbedtls_ssl_conf_sni): records the name the client asked for.
  static int on_server_name(void* unused, mbedtls_ssl_context* ssl, const unsigned char* name, std::size_t len);

 private:
  // The mbedTLS context first, so that its address is the connection's
  // (callbacks that get only the mbedtls_ssl_context find their engine).
  struct connection {
    mbedtls_ssl_context ssl;
    mbed_engine* owner;
  };
  enum class phase { handshaking, open, failed };

  static int on_send(void* self, const unsigned char* buf, std::size_t len);
  int send_now(std::span<const std::byte> bytes);
  int flush_flight();
  static int on_recv(void* self, unsigned char* buf, std::size_t len);
  static int on_verify(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags);

  mbedtls_ssl_context& ssl() noexcept { return conn_.ssl; }
  const mbedtls_ssl_context& ssl() const noexcept { return conn_.ssl; }
  // What the verification found so far (ours and mbedTLS's own checks).
  std::uint32_t verify_result() const noexcept;
  bool refuse_presented_client_cert();
  result<> finish_handshake();
  void record_session();
  std::error_code fail(int ret);
  std::error_code fail(std::error_code ec, int ret, int alert_to_send);
  std::error_code failed() const noexcept { return error_; }
  // What the transport waits for after a call it blocked, as a result.
  result<> blocked() const noexcept { return result<>::blocked(blocked_); }
  int received_alert(int ret) const noexcept;
  void send_alert(int alert) noexcept;

  std::shared_ptr<const mbed_context> ctx_;
  transport* io_;
  connection conn_{};
  phase phase_ = phase::handshaking;

  // What the I/O callbacks saw.
  wire_reader from_peer_;
  wire_reader to_peer_;
  bool watching_ = true;  // the wire readers run until the handshake is over
  // mbedTLS sends each handshake message on its own; they are held here and
  // sent as one flight when it turns to reading (or finishes), as OpenSSL and
  // GnuTLS do. A peer that refuses our first message and closes then cannot
  // make our next write fail before we have read its alert.
  std::vector<std::byte> flight_;
  std::size_t flight_sent_ = 0;
  std::error_code io_error_;
  bool io_eof_ = false;
  wait_for blocked_ = wait_for::none;  // what the transport waits for when it would block

  // Verification.
  std::optional<std::vector<std::uint8_t>> expected_ip_;
  bool peer_cert_seen_ = false;
  bool self_signed_leaf_ = false;
  int deepest_ = -1;

  std::string server_name_;  // client: the name we check and send (if not an IP)
  std::string sni_;          // what went over the wire as SNI
  bool offered_session_ = false;
  bool peer_closed_ = false;
  bool close_sent_ = false;

  std::error_code error_;
  failure_info failure_;
  // What only the handshake's cleartext flight tells (mbedTLS has no getter);
  // the rest of session() is read from mbedTLS when asked.
  bool resumed_ = false;
  int group_ = -1;  // the ServerKeyExchange's NamedGroup, -1 if none
};

}  // namespace uptls::mbed
