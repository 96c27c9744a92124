// Two transports joined in memory. Each direction is a bounded byte queue under
// one shared mutex. Calls never block; wait() sleeps on a condition variable
// until the other end moves bytes, closes, or the deadline passes.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "uptls/transport.hpp"

namespace uptls {
namespace {

struct channel {
  std::deque<std::byte> bytes;
  bool write_closed = false;  // writer sent EOF or went away
  bool read_closed = false;   // reader went away: writes fail like EPIPE
};

struct shared_state {
  std::mutex m;
  std::condition_variable cv;
  channel dir[2];  // dir[0]: end 0 -> end 1, dir[1]: end 1 -> end 0
  pipe_options opts;
};

class pipe_end final : public transport {
 public:
  pipe_end(std::shared_ptr<shared_state> s, int side) : s_(std::move(s)), side_(side) {}
  ~pipe_end() override { close(); }

  result<std::size_t> read_some(std::span<std::byte> buf) override {
    std::lock_guard lock(s_->m);
    if (closed_) return errc::usage;
    channel& in = s_->dir[1 - side_];
    if (read_paused_) {
      read_paused_ = false;
      return result<std::size_t>::blocked(wait_for::read);
    }
    if (in.bytes.empty()) {
      if (in.write_closed) return std::size_t{0};
      return result<std::size_t>::blocked(wait_for::read);
    }
    read_paused_ = s_->opts.pause_after_chunk;
    const std::size_t n = std::min({buf.size(), in.bytes.size(), s_->opts.max_chunk});
    std::copy_n(in.bytes.begin(), n, buf.begin());
    in.bytes.erase(in.bytes.begin(), in.bytes.begin() + static_cast<std::ptrdiff_t>(n));
    s_->cv.notify_all();
    return n;
  }

  result<std::size_t> write_some(std::span<const std::byte> buf) override {
    std::lock_guard lock(s_->m);
    if (closed_ || write_shut_) return errc::usage;
    channel& out = s_->dir[side_];
    if (out.read_closed) return errc::connection_reset;
    const std::size_t cap = s_->opts.capacity;
    if (write_paused_) {
      write_paused_ = false;
      return result<std::size_t>::blocked(wait_for::write);
    }
    if (out.bytes.size() >= cap) return result<std::size_t>::blocked(wait_for::write);
    write_paused_ = s_->opts.pause_after_chunk;
    const std::size_t n = std::min({buf.size(), cap - out.bytes.size(), s_->opts.max_chunk});
    out.bytes.insert(out.bytes.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    s_->cv.notify_all();
    return n;
  }

  result<> wait(wait_for w, clock::time_point deadline) override {
    std::unique_lock lock(s_->m);
    if (closed_) return errc::usage;
    const auto ready = [&] {
      if (w == wait_for::read) {
        const channel& in = s_->dir[1 - side_];
        return !in.bytes.empty() || in.write_closed;
      }
      const channel& out = s_->dir[side_];
      return out.bytes.size() < s_->opts.capacity || out.read_closed;
    };
    if (s_->cv.wait_until(lock, deadline, ready)) return {};
    return errc::timeout;
  }

  void shutdown_write() noexcept override {
    std::lock_guard lock(s_->m);
    write_shut_ = true;
    s_->dir[side_].write_closed = true;
    s_->cv.notify_all();
  }

  void close() noexcept override {
    std::lock_guard lock(s_->m);
    if (closed_) return;
    closed_ = true;
    s_->dir[side_].write_closed = true;
    s_->dir[1 - side_].read_closed = true;
    s_->cv.notify_all();
  }

 private:
  std::shared_ptr<shared_state> s_;
  int side_;
  bool closed_ = false;
  bool write_shut_ = false;
  bool read_paused_ = false;   // pause_after_chunk: the next read would block once
  bool write_paused_ = false;  // pause_after_chunk: the next write would block once
};

}  // namespace

std::pair<std::unique_ptr<transport>, std::unique_ptr<transport>> make_memory_pipe(pipe_options opts) {
  auto s = std::make_shared<shared_state>();
  if (opts.max_chunk == 0) opts.max_chunk = 1;
  if (opts.capacity == 0) opts.capacity = 1;
  s->opts = opts;
  return {std::make_unique<pipe_end>(s, 0), std::make_unique<pipe_end>(s, 1)};
}

}  // namespace uptls
