// One stream under test, driven in one of the ways uptls supports, so that a
// test written once runs in every mode and must give the same result in each:
//
//   blocking       io_mode::blocking: every call waits inside
//   non_blocking   io_mode::non_blocking (over a memory pipe: one byte per call
//                  and per wake-up): every call returns would-block and is
//                  resumed after a wait
//   buffer_driven  stream::buffer_driven(): the test pumps bytes between the
//                  stream's feed()/output() and the connection, as an Asio or
//                  libuv program would
//
// A driver runs a step (a call on a stream, or a dialogue's resume()) until it
// does not would-block, doing in between what the mode's owner would do:
// nothing, poll, or pump.
#pragma once

#include <chrono>
#include <cstdlib>
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

// The mode a whole test program runs its units in: UPTLS_TEST_MODE (blocking,
// non_blocking or buffer_driven; Meson runs each dialogue program once per mode).
drive_mode mode_from_environment();

// How a stream of a mode is made: over `near` for fd-driven modes, buffer-driven
// (with near kept by the driver for pumping) otherwise.
class driver {
 public:
  // Makes the stream a unit under test will own, and the driver that drives it.
  static std::pair<stream, driver> make(drive_mode mode, std::unique_ptr<transport> near, stream_options opts = {});
  // The driver of a stream made elsewhere (the fallback ladder's): fd-driven modes only.
  static driver of(drive_mode mode) { return driver(mode == drive_mode::buffer_driven ? drive_mode::non_blocking : mode); }
  driver(driver&&) noexcept = default;
  driver& operator=(driver&&) noexcept = default;

  drive_mode mode() const noexcept { return mode_; }
  // How often a step would block so far (0 in blocking mode).
  int blocked() const noexcept { return blocked_; }

  // Runs step on s (the stream, wherever its owner keeps it now) until it does
  // not would-block, within limit; errc::timeout when the limit passes.
  template <class Step>
  auto run(stream& s, Step step, std::chrono::milliseconds limit = std::chrono::seconds(20)) -> decltype(step()) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto r = step();
      if (mode_ == drive_mode::buffer_driven) pump_out(s);
      if (!r.would_block()) return r;
      ++blocked_;
      if (std::chrono::steady_clock::now() >= end) return make_error_code(errc::timeout);
      wait(s, r.wants(), end);
    }
  }
  // Buffer-driven: sends what s holds for the peer (after a dialogue ended, say).
  void pump_out(stream& s);

 private:
  explicit driver(drive_mode mode) : mode_(mode) {}
  void wait(stream& s, wait_for w, std::chrono::steady_clock::time_point end);
  bool pump_in(stream& s);

  drive_mode mode_;
  std::unique_ptr<transport> near_;  // buffer-driven only: the connection the test pumps
  bool near_eof_ = false;
  int blocked_ = 0;
};

// A stream and its driver in one object, for tests of the stream itself.
class driven_stream {
 public:
  driven_stream(drive_mode mode, std::unique_ptr<transport> near, stream_options opts = {});
  driven_stream(driven_stream&&) noexcept = default;

  stream& s() noexcept { return *s_; }
  drive_mode mode() const noexcept { return d_.mode(); }
  int blocked() const noexcept { return d_.blocked(); }
  template <class Step>
  auto run(Step step, std::chrono::milliseconds limit = std::chrono::seconds(20)) -> decltype(step()) {
    return d_.run(*s_, step, limit);
  }

 private:
  driven_stream(std::pair<stream, driver> made);
  std::unique_ptr<stream> s_;
  driver d_;
};

// A memory pipe whose near end is driven as mode says, and its far end for the
// test to script.
struct driven_pipe {
  driven_stream near;
  std::unique_ptr<transport> far;
};
driven_pipe make_driven_pipe(drive_mode mode, stream_options opts = {});

// The pipe options a mode uses: one byte per call and per wake-up for
// non_blocking, whole writes otherwise.
pipe_options pipe_for(drive_mode mode);

}  // namespace uptls::test
