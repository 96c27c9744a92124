// A transport wrapper that watches the records a peer sends during the handshake.
//
// It lets core classify handshake failures the same way on every backend, from the
// bytes on the wire rather than from each library's error text: whether the
// peer's first record was a fatal alert (and which), whether any handshake record
// arrived, whether the peer spoke something that is not TLS at all, whether the
// connection ended first, and the transport error that stopped the handshake.
// Once the handshake is over the stream takes it out of the data path.
#pragma once

#include <array>
#include <cstdint>

#include "uptls/transport.hpp"

namespace uptls::detail {

struct wire_facts {
  bool any_byte = false;          // the peer sent at least one byte
  bool handshake_seen = false;    // a handshake record (type 22) arrived
  bool not_tls = false;           // the first bytes cannot be a TLS record (later garbage is not this)
  bool framed = false;            // a whole record header arrived: the peer speaks TLS framing
  int first_alert = -1;           // description of a fatal alert that came before any handshake record
  // Description of the first fatal alert sent in the clear at any point of the
  // handshake (a record of type 21 and length 2: an encrypted alert is longer).
  // A TLS 1.3 client that refuses the server's certificate sends its alert in
  // the clear (OpenSSL does), and some servers (GnuTLS) then fail to decrypt it.
  int plain_alert = -1;
  bool eof = false;               // the peer closed during the handshake
  std::error_code transport_error;  // a timeout, reset or other transport failure
};

class handshake_watch final : public transport {
 public:
  explicit handshake_watch(transport& inner) : inner_(inner) {}

  result<std::size_t> read_some(std::span<std::byte> buf) override;
  result<std::size_t> write_some(std::span<const std::byte> buf) override;
  void shutdown_write() noexcept override { inner_.shutdown_write(); }
  void close() noexcept override { inner_.close(); }
  result<> wait(wait_for w, clock::time_point deadline) override { return inner_.wait(w, deadline); }
  int native_handle() const noexcept override { return inner_.native_handle(); }

  // Stops parsing: after the handshake every read is forwarded as is.
  void stop() noexcept { active_ = false; }
  const wire_facts& facts() const noexcept { return facts_; }
  // Bytes moved each way so far: the stream's measure of handshake progress.
  std::uint64_t bytes_moved() const noexcept { return moved_; }

 private:
  void observe(std::span<const std::byte> bytes);

  transport& inner_;
  bool active_ = true;
  std::uint64_t moved_ = 0;
  wire_facts facts_;
  std::array<std::uint8_t, 5> header_{};
  std::size_t header_len_ = 0;
  std::size_t body_left_ = 0;
  std::size_t body_len_ = 0;
  std::uint8_t type_ = 0;
  std::array<std::uint8_t, 2> alert_{};
  std::size_t alert_len_ = 0;
  bool framing_lost_ = false;  // a later header made no sense: nothing more to read from the bytes
};

}  // namespace uptls::detail
