// Two transports joined in memory. Each direction is a bounded byte queue under
// one shared mutex; a zero timeout makes the ends non-blocking.
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

  io_result read_some(std::span<std::byte> buf) override {
    std::unique_lock lock(s_->m);
    if (closed_) return {0, io_status::error, errc::usage};
    channel& in = s_->dir[1 - side_];
    if (!wait_until(lock, [&] { return !in.bytes.empty() || in.write_closed; })) return timed_out();
    if (in.bytes.empty()) return {0, io_status::eof, {}};
    const std::size_t n = std::min(buf.size(), in.bytes.size());
    std::copy_n(in.bytes.begin(), n, buf.begin());
    in.bytes.erase(in.bytes.begin(), in.bytes.begin() + static_cast<std::ptrdiff_t>(n));
    s_->cv.notify_all();
    return {n, io_status::ok, {}};
  }

  io_result write_some(std::span<const std::byte> buf) override {
    std::unique_lock lock(s_->m);
    if (closed_ || write_shut_) return {0, io_status::error, errc::usage};
    channel& out = s_->dir[side_];
    const std::size_t cap = s_->opts.capacity;
    if (!wait_until(lock, [&] { return out.bytes.size() < cap || out.read_closed; })) return timed_out();
    if (out.read_closed) return {0, io_status::error, errc::connection_reset};
    const std::size_t n = std::min(buf.size(), cap - out.bytes.size());
    out.bytes.insert(out.bytes.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    s_->cv.notify_all();
    return {n, io_status::ok, {}};
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
  // False when the wait ran out; a zero timeout means "do not wait".
  template <class Pred>
  bool wait_until(std::unique_lock<std::mutex>& lock, Pred ready) {
    if (ready()) return true;
    if (s_->opts.timeout.count() == 0) {
      would_block_ = true;
      return false;
    }
    would_block_ = false;
    return s_->cv.wait_for(lock, wait_budget(s_->opts.timeout), ready);
  }
  io_result timed_out() const {
    if (would_block_) return {0, io_status::would_block, {}};
    return {0, io_status::error, errc::timeout};
  }

  std::shared_ptr<shared_state> s_;
  int side_;
  bool closed_ = false;
  bool write_shut_ = false;
  bool would_block_ = false;
};

}  // namespace

std::pair<std::unique_ptr<transport>, std::unique_ptr<transport>> make_memory_pipe(pipe_options opts) {
  auto s = std::make_shared<shared_state>();
  s->opts = opts;
  return {std::make_unique<pipe_end>(s, 0), std::make_unique<pipe_end>(s, 1)};
}

}  // namespace uptls
