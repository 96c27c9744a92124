#include "io/buffer_transport.hpp"

#include <algorithm>
#include <cstring>

namespace uptls::detail {

void byte_queue::append(std::span<const std::byte> b) {
  if (b.empty()) return;
  // Compact before growing when the consumed head is at least half of the storage.
  if (head_ > 0 && head_ >= bytes_.size() / 2) {
    bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  bytes_.insert(bytes_.end(), b.begin(), b.end());
}

void byte_queue::consume(std::size_t n) noexcept {
  head_ += std::min(n, size());
  if (head_ == bytes_.size()) {
    bytes_.clear();
    head_ = 0;
  }
}

void byte_queue::release() noexcept {
  if (!empty()) return;
  std::vector<std::byte>().swap(bytes_);
  head_ = 0;
}

result<std::size_t> buffer_transport::read_some(std::span<std::byte> buf) {
  if (closed_) return errc::usage;
  if (in_.empty()) {
    if (eof_) return std::size_t{0};
    in_.release();
    return result<std::size_t>::blocked(wait_for::read);
  }
  const std::size_t n = std::min(buf.size(), in_.size());
  std::memcpy(buf.data(), in_.front().data(), n);
  in_.consume(n);
  return n;
}

result<std::size_t> buffer_transport::write_some(std::span<const std::byte> buf) {
  if (closed_ || write_shut_) return errc::usage;
  if (out_.size() >= output_limit) return result<std::size_t>::blocked(wait_for::write);
  const std::size_t n = std::min(buf.size(), output_limit - out_.size());
  out_.append(buf.first(n));
  return n;
}

result<> buffer_transport::feed(std::span<const std::byte> bytes, std::size_t limit) {
  if (closed_ || eof_) return errc::usage;
  if (in_.size() + bytes.size() > limit) return errc::usage;
  in_.append(bytes);
  return {};
}

void buffer_transport::consume_output(std::size_t n) noexcept {
  out_.consume(n);
  out_.release();
}

}  // namespace uptls::detail
