#include "driven.hpp"

#include <algorithm>

namespace uptls::test {

driven_stream::driven_stream(drive_mode mode, std::unique_ptr<transport> near, stream_options opts) : mode_(mode) {
  if (mode == drive_mode::buffer_driven) {
    s_ = std::make_unique<stream>(stream::buffer_driven(opts));
    near_ = std::move(near);
    return;
  }
  opts.mode = mode == drive_mode::blocking ? io_mode::blocking : io_mode::non_blocking;
  s_ = std::make_unique<stream>(std::move(near), opts);
}

void driven_stream::pump_out() {
  for (int i = 0; i < 1000; ++i) {
    const auto out = s_->output();
    if (out.empty()) return;
    const result<std::size_t> r = near_->write_some(out);
    if (!r.ok()) return;  // full (the far end reads later) or gone (the stream learns it by reading)
    s_->consume_output(*r);
  }
}

bool driven_stream::pump_in() {
  if (near_eof_) return false;
  std::byte buf[16 * 1024];
  const result<std::size_t> r = near_->read_some(buf);
  if (!r.ok()) {
    if (r.failed()) {
      near_eof_ = true;
      s_->feed_eof();  // a reset: the stream sees the end of what it got
      return true;
    }
    return false;
  }
  if (*r == 0) {
    near_eof_ = true;
    s_->feed_eof();
    return true;
  }
  (void)s_->feed(std::span(buf, *r));
  return true;
}

void driven_stream::wait(wait_for w, std::chrono::steady_clock::time_point end) {
  if (mode_ != drive_mode::buffer_driven) {
    (void)s_->wait(w);
    return;
  }
  // Buffer-driven: send what is queued, take what arrived, or sleep on the
  // connection until either can move (or the stream's own deadline comes).
  pump_out();
  if (w == wait_for::read && pump_in()) return;
  auto until = end;
  if (const auto d = s_->next_deadline(); d && *d < until) until = *d;
  if (w == wait_for::write) {
    (void)near_->wait(wait_for::write, until);
    pump_out();
    return;
  }
  (void)near_->wait(wait_for::read, until);
  (void)pump_in();
}

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
