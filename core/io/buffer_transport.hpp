// The transport of a buffer-driven (sans-I/O) stream: reads take the bytes the
// caller fed in, writes queue bytes for the caller to send. It cannot wait.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "uptls/transport.hpp"

namespace uptls::detail {

// A byte queue: append at the back, take from the front, compacted lazily.
class byte_queue {
 public:
  std::size_t size() const noexcept { return bytes_.size() - head_; }
  bool empty() const noexcept { return size() == 0; }
  std::span<const std::byte> front() const noexcept { return std::span(bytes_).subspan(head_); }
  void append(std::span<const std::byte> b);
  void consume(std::size_t n) noexcept;
  // Frees the memory once the queue is empty (idle connections hold nothing).
  void release() noexcept;

 private:
  std::vector<std::byte> bytes_;
  std::size_t head_ = 0;
};

class buffer_transport final : public transport {
 public:
  // Queued output beyond this makes writes would-block until the caller sends some.
  static constexpr std::size_t output_limit = 64 * 1024;

  result<std::size_t> read_some(std::span<std::byte> buf) override;
  result<std::size_t> write_some(std::span<const std::byte> buf) override;
  void shutdown_write() noexcept override { write_shut_ = true; }
  void close() noexcept override { closed_ = true; }
  result<> wait(wait_for, clock::time_point) override { return errc::usage; }

  // errc::usage when more than `limit` fed bytes would wait unread, or once closed.
  result<> feed(std::span<const std::byte> bytes, std::size_t limit);
  void feed_eof() noexcept { eof_ = true; }
  std::span<const std::byte> output() const noexcept { return out_.front(); }
  void consume_output(std::size_t n) noexcept;
  // Bytes fed and not yet read.
  std::size_t unread() const noexcept { return in_.size(); }

 private:
  byte_queue in_;
  byte_queue out_;
  bool eof_ = false;
  bool write_shut_ = false;
  bool closed_ = false;
};

}  // namespace uptls::detail
