// Follows one direction of a TLS 1.2 connection record by record, as the bytes
// pass through the engine's I/O callbacks, and keeps what mbedTLS offers no
// getter for: which handshake messages went by in the clear (a resumed
// handshake has no Certificate), the group of an ECDHE ServerKeyExchange, and
// fatal alerts (their description only while the direction is unencrypted).
// Nothing is buffered beyond a record header and a few message bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace uptls::mbed {

// Handshake message types (RFC 5246 7.4) the engine asks about.
enum class hs_type : std::uint8_t { server_hello = 2, certificate = 11, server_key_exchange = 12 };

class wire_reader {
 public:
  // Reads bytes that went over the wire in this direction, in order.
  void feed(std::span<const std::byte> bytes) noexcept;

  // True when a message of that type passed in the clear.
  bool saw(hs_type t) const noexcept { return (seen_ >> static_cast<unsigned>(t)) & 1U; }
  // The NamedGroup of an ECDHE ServerKeyExchange, -1 if none passed.
  int named_group() const noexcept { return group_; }
  // The description of the first fatal alert sent in the clear, -1 if none.
  int fatal_alert() const noexcept { return alert_; }
  // True when any alert record passed (encrypted ones included).
  bool any_alert() const noexcept { return any_alert_; }
  // True once ChangeCipherSpec passed: later records are encrypted.
  bool encrypted() const noexcept { return ccs_; }
  // True when a record header could not be TLS (plaintext such as "220 ..." or
  // "GET /"): content type 20-23 and major version 3, or else the peer speaks
  // something else here. Decided on the first two bytes, like core's watch.
  bool not_tls() const noexcept { return not_tls_; }

 private:
  void record_byte(std::uint8_t b) noexcept;
  void handshake_byte(std::uint8_t b) noexcept;

  std::array<std::uint8_t, 5> header_{};
  std::size_t header_len_ = 0;
  std::size_t body_left_ = 0;
  std::uint8_t type_ = 0;
  bool type_encrypted_ = false;  // the record being read was sent after ChangeCipherSpec
  std::array<std::uint8_t, 2> alert_body_{};
  std::size_t alert_len_ = 0;

  std::array<std::uint8_t, 4> msg_header_{};
  std::size_t msg_header_len_ = 0;
  std::size_t msg_left_ = 0;
  std::array<std::uint8_t, 3> msg_head_{};  // first bytes of the message body
  std::size_t msg_head_len_ = 0;

  std::uint32_t seen_ = 0;
  int group_ = -1;
  int alert_ = -1;
  bool any_alert_ = false;
  bool ccs_ = false;
  bool not_tls_ = false;
  bool framed_ = false;        // a whole record header was read: the peer speaks TLS
  bool framing_lost_ = false;  // a later header made no sense (a broken peer, not plaintext): stop reading
};

}  // namespace uptls::mbed
