#include "handshake_watch.hpp"

namespace uptls::detail {
namespace {
constexpr std::uint8_t alert_record = 21;
constexpr std::uint8_t handshake_record = 22;
constexpr std::uint8_t alert_level_fatal = 2;

// A TLS record header: type 20..23, major version 3 (SSL 3.0 to TLS 1.3 all use 3).
bool plausible_header(std::uint8_t type, std::uint8_t major) {
  return type >= 20 && type <= 23 && major == 3;
}
}  // namespace

result<std::size_t> handshake_watch::read_some(std::span<std::byte> buf) {
  const result<std::size_t> r = inner_.read_some(buf);
  if (r.ok()) moved_ += *r;
  if (!active_) return r;
  if (r.ok() && *r > 0) {
    observe(buf.first(*r));
  } else if (r.ok()) {
    if (!facts_.transport_error) facts_.eof = true;
  } else if (r.failed()) {
    if (!facts_.eof && !facts_.transport_error) facts_.transport_error = r.error();
  }
  return r;
}

// Only the first event counts: after the peer's EOF a library still tries to
// send an alert, and that write failing is a consequence, not the cause.
result<std::size_t> handshake_watch::write_some(std::span<const std::byte> buf) {
  const result<std::size_t> r = inner_.write_some(buf);
  if (r.ok()) moved_ += *r;
  if (active_ && r.failed() && !facts_.eof && !facts_.transport_error) facts_.transport_error = r.error();
  return r;
}

// Walks record headers without buffering records: only the 5-byte header and the
// 2-byte body of an alert are kept.
void handshake_watch::observe(std::span<const std::byte> bytes) {
  if (!bytes.empty()) facts_.any_byte = true;
  for (std::size_t i = 0; i < bytes.size() && !facts_.not_tls && !framing_lost_;) {
    if (body_left_ > 0) {
      const std::size_t take = std::min(body_left_, bytes.size() - i);
      if (type_ == alert_record) {
        for (std::size_t k = 0; k < take && alert_len_ < alert_.size(); ++k) {
          alert_[alert_len_++] = std::to_integer<std::uint8_t>(bytes[i + k]);
        }
        if (alert_len_ == alert_.size() && alert_[0] == alert_level_fatal) {
          if (!facts_.handshake_seen && facts_.first_alert < 0) facts_.first_alert = alert_[1];
          if (body_len_ == alert_.size() && facts_.plain_alert < 0) facts_.plain_alert = alert_[1];
        }
      }
      body_left_ -= take;
      i += take;
      continue;
    }
    header_[header_len_++] = std::to_integer<std::uint8_t>(bytes[i++]);
    if (header_len_ == 1 || header_len_ == 2) {
      // Decide on the first two bytes: "220 ..." or "HTTP/1.1" fail here at once.
      // Only the first record says whether the peer speaks TLS at all: garbage
      // after a whole record is a broken TLS peer (the library's bad_message),
      // not plaintext, so from then on the watcher only stops reading.
      const std::uint8_t type = header_[0];
      const bool bad = (header_len_ == 1 && !(type >= 20 && type <= 23)) ||
                       (header_len_ == 2 && !plausible_header(type, header_[1]));
      if (bad && facts_.framed) framing_lost_ = true;
      else if (bad) facts_.not_tls = true;
      continue;
    }
    if (header_len_ < header_.size()) continue;
    type_ = header_[0];
    body_left_ = (std::size_t{header_[3]} << 8) | header_[4];
    body_len_ = body_left_;
    header_len_ = 0;
    alert_len_ = 0;
    facts_.framed = true;
    if (type_ == handshake_record) facts_.handshake_seen = true;
  }
}

}  // namespace uptls::detail
