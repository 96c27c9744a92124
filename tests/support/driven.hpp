// One stream under test, driven in one of the ways uptls supports, so that a
// test written once runs in every mode and must give the same result in each:
//
//   blocking       io_mode::blocking: every call waits inside
//   non_blocking   io_mode::non_blocking over a pipe that moves 1 byte per read
//                  and per write: every call returns would-block many times and
//                  is resumed after a wait
//   buffer_driven  stream::buffer_driven(): the test pumps bytes between the
//                  stream's feed()/output() and the connection, as an Asio or
//                  libuv program would
//
// run(step) calls step until it does not would-block, doing between calls what
// the mode's owner would do (nothing, poll, or pump).
#pragma once

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "support.hpp"

namespace uptls::test {

enum class drive_mode { blocking, non_blocking, buffer_driven };

inline std::string to_string(drive_mode m) {
  switch (m) {
    case drive_mode::blocking: return "blocking";
    case drive_mode::non_blocking: return "non_blocking";
    case drive_mode::buffer_driven: return "buffer_driven";
  }
  return "?";
}
inline void PrintTo(drive_mode m, std::ostream* os) { *os << to_string(m); }

// Every mode, for INSTANTIATE_TEST_SUITE_P.
inline std::vector<drive_mode> all_drive_modes() {
  return {drive_mode::blocking, drive_mode::non_blocking, drive_mode::buffer_driven};
}

class driven_stream {
 public:
  // A stream over `near` (one end of a connection: a memory pipe end or a socket).
  driven_stream(drive_mode mode, std::unique_ptr<transport> near, stream_options opts = {});
  driven_stream(driven_stream&&) noexcept = default;

  stream& s() noexcept { return *s_; }
  drive_mode mode() const noexcept { return mode_; }
  // How often a call would block so far (0 in blocking mode).
  int blocked() const noexcept { return blocked_; }

  // Runs step (a call on s(), or a dialogue's resume) to its end within limit.
  template <class Step>
  auto run(Step step, std::chrono::milliseconds limit = std::chrono::seconds(20)) -> decltype(step()) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto r = step();
      if (mode_ == drive_mode::buffer_driven) pump_out();
      if (!r.would_block()) return r;
      ++blocked_;
      if (std::chrono::steady_clock::now() >= end) return make_error_code(errc::timeout);
      wait(r.wants(), end);
    }
  }

 private:
  void wait(wait_for w, std::chrono::steady_clock::time_point end);
  // Buffer-driven: what the stream wants sent goes to the connection.
  void pump_out();
  // Buffer-driven: what arrived goes into the stream; false when nothing came.
  bool pump_in();

  drive_mode mode_;
  std::unique_ptr<stream> s_;
  std::unique_ptr<transport> near_;  // buffer-driven only: the connection the test pumps
  bool near_eof_ = false;
  int blocked_ = 0;
};

// A memory pipe whose near end is driven as mode says (for non_blocking it
// moves one byte per call), and its far end for the test to script.
struct driven_pipe {
  driven_stream near;
  std::unique_ptr<transport> far;
};
driven_pipe make_driven_pipe(drive_mode mode, stream_options opts = {});

// The pipe options a mode uses: 1-byte chunks for non_blocking, whole writes otherwise.
pipe_options pipe_for(drive_mode mode);

}  // namespace uptls::test
