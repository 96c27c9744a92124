#include "driven.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace uptls::test {

drive_mode mode_from_environment() {
  const char* v = std::getenv("UPTLS_TEST_MODE");
  const std::string m = v != nullptr ? v : "blocking";
  if (m == "blocking") return drive_mode::blocking;
  if (m == "non_blocking") return drive_mode::non_blocking;
  if (m == "buffer_driven") return drive_mode::buffer_driven;
  throw std::runtime_error("UPTLS_TEST_MODE must be blocking, non_blocking or buffer_driven, not " + m);
}

std::pair<stream, driver> driver::make(drive_mode mode, std::unique_ptr<transport> near, stream_options opts) {
  driver d(mode);
  if (mode == drive_mode::buffer_driven) {
    d.near_ = std::move(near);
    return {stream::buffer_driven(opts), std::move(d)};
  }
  opts.mode = mode == drive_mode::blocking ? io_mode::blocking : io_mode::non_blocking;
  return {stream(std::move(near), opts), std::move(d)};
}

void driver::pump_out(stream& s) {
  if (mode_ != drive_mode::buffer_driven || !near_) return;
  for (int i = 0; i < 1000; ++i) {
    const auto out = s.output();
    if (out.empty()) break;
    const result<std::size_t> r = near_->write_some(out);
    if (!r.ok()) return;  // full (the far end reads later) or gone (the stream learns it by reading)
    s.consume_output(*r);
  }
  // The connection is the owner's: once the stream is done and its last bytes
  // are out, the owner ends it, as an Asio program closes its socket.
  if (!s.output().empty()) return;
  if (s.current() == stream::state::closed) {
    near_->close();
  } else if (s.current() == stream::state::failed) {
    near_->shutdown_write();
  }
}

bool driver::pump_in(stream& s) {
  if (near_eof_ || (near_->native_handle() < 0 && s.current() == stream::state::closed)) return false;
  std::byte buf[16 * 1024];
  const result<std::size_t> r = near_->read_some(buf);
  if (r.would_block()) return false;
  if (!r.ok() || *r == 0) {
    // The end of the connection (or a reset): the stream sees the end of what it got.
    near_eof_ = true;
    s.feed_eof();
    return true;
  }
  (void)s.feed(std::span(buf, *r));
  return true;
}

void driver::wait(stream& s, wait_for w, std::chrono::steady_clock::time_point end) {
  if (mode_ != drive_mode::buffer_driven) {
    (void)s.wait(w);
    return;
  }
  // Buffer-driven: send what is queued, take what arrived, or sleep on the
  // connection until either can move (or the stream's own deadline comes).
  pump_out(s);
  if (w == wait_for::read && pump_in(s)) return;
  auto until = end;
  if (const auto d = s.next_deadline(); d && *d < until) until = *d;
  if (w == wait_for::write) {
    (void)near_->wait(wait_for::write, until);
    pump_out(s);
    return;
  }
  (void)near_->wait(wait_for::read, until);
  (void)pump_in(s);
}

driven_stream::driven_stream(std::pair<stream, driver> made)
    : s_(std::make_unique<stream>(std::move(made.first))), d_(std::move(made.second)) {}

driven_stream::driven_stream(drive_mode mode, std::unique_ptr<transport> near, stream_options opts)
    : driven_stream(driver::make(mode, std::move(near), opts)) {}

pipe_options pipe_for(drive_mode mode) {
  pipe_options p;
  if (mode == drive_mode::non_blocking) {
    p.max_chunk = 1;
    p.pause_after_chunk = true;  // every byte needs a wake-up of its own
  }
  return p;
}

driven_pipe make_driven_pipe(drive_mode mode, stream_options opts) {
  auto [near, far] = make_memory_pipe(pipe_for(mode));
  return {driven_stream(mode, std::move(near), opts), std::move(far)};
}

}  // namespace uptls::test
