#include "wire.hpp"

#include <algorithm>

namespace uptls::mbed {
namespace {
constexpr std::uint8_t change_cipher_spec = 20;
constexpr std::uint8_t alert = 21;
constexpr std::uint8_t handshake = 22;
constexpr std::uint8_t application_data = 23;
constexpr std::uint8_t tls_major_version = 3;  // SSL 3.0 to TLS 1.3 all say 3
constexpr std::uint8_t fatal = 2;
constexpr std::uint8_t named_curve = 3;  // ECCurveType (RFC 8422 5.4)
}  // namespace

void wire_reader::feed(std::span<const std::byte> bytes) noexcept {
  std::size_t i = 0;
  while (i < bytes.size() && !not_tls_ && !framing_lost_) {
    if (body_left_ == 0) {
      record_byte(std::to_integer<std::uint8_t>(bytes[i++]));
      continue;
    }
    // Only alerts and cleartext handshake bodies are read; the rest is skipped whole.
    const std::size_t take = std::min(body_left_, bytes.size() - i);
    if (type_ == alert || (type_ == handshake && !type_encrypted_)) {
      for (std::size_t k = 0; k < take; ++k) {
        const auto b = std::to_integer<std::uint8_t>(bytes[i + k]);
        if (type_ == handshake) {
          handshake_byte(b);
        } else if (alert_len_ < alert_body_.size()) {
          alert_body_[alert_len_++] = b;
        }
      }
    }
    body_left_ -= take;
    i += take;
    if (body_left_ == 0 && type_ == alert && !type_encrypted_ && alert_len_ == alert_body_.size() &&
        alert_body_[0] == fatal && alert_ < 0) {
      alert_ = alert_body_[1];
    }
  }
}

void wire_reader::record_byte(std::uint8_t b) noexcept {
  header_[header_len_++] = b;
  // Only the first record says whether the peer speaks TLS at all; garbage after
  // a whole record is a broken TLS peer (bad_message), so reading just stops.
  const bool bad = (header_len_ == 1 && (b < change_cipher_spec || b > application_data)) ||
                   (header_len_ == 2 && b != tls_major_version);
  if (bad) {
    (framed_ ? framing_lost_ : not_tls_) = true;
    return;
  }
  if (header_len_ < header_.size()) return;
  header_len_ = 0;
  framed_ = true;
  type_ = header_[0];
  type_encrypted_ = ccs_;
  body_left_ = (std::size_t{header_[3]} << 8) | header_[4];
  alert_len_ = 0;
  if (type_ == alert) any_alert_ = true;
  if (type_ == change_cipher_spec) ccs_ = true;
}

void wire_reader::handshake_byte(std::uint8_t b) noexcept {
  if (msg_left_ == 0 && msg_header_len_ < msg_header_.size()) {
    msg_header_[msg_header_len_++] = b;
    if (msg_header_len_ < msg_header_.size()) return;
    msg_left_ = (std::size_t{msg_header_[1]} << 16) | (std::size_t{msg_header_[2]} << 8) | msg_header_[3];
    msg_head_len_ = 0;
    if (msg_header_[0] < 32) seen_ |= 1U << msg_header_[0];
    if (msg_left_ == 0) msg_header_len_ = 0;  // an empty message (ServerHelloDone)
    return;
  }
  if (msg_head_len_ < msg_head_.size()) msg_head_[msg_head_len_++] = b;
  if (msg_head_len_ == msg_head_.size() && msg_header_[0] == static_cast<std::uint8_t>(hs_type::server_key_exchange) &&
      msg_head_[0] == named_curve && group_ < 0) {
    group_ = (msg_head_[1] << 8) | msg_head_[2];
  }
  if (--msg_left_ == 0) msg_header_len_ = 0;
}

}  // namespace uptls::mbed
