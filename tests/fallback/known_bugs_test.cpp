// Library bugs found while moving the fallback tests onto the resumable API,
// each as a test of the documented behaviour that fails today. Meson runs this
// program with should_fail, so the suite stays green while the bug is there and
// turns red ("unexpected pass") once it is fixed: then move the test into
// connector_test.cpp and drop this program.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ladder_support.hpp"

namespace uptls::test {
namespace {

using std::chrono::steady_clock;

// stream.hpp: "each call may wait for the peer at most io_timeout without
// progress (a byte moved); a handshake at most tls_config::handshake_timeout in
// all". So a server whose handshake keeps moving, but takes longer in all than
// the I/O timeout, must still complete within the handshake timeout.
//
// Bug (core/io/stream.cpp, stream_core::start_tls, the three lines after the
// handshake state is set up: check_deadlines(true); engine_->handshake();
// `if (r.would_block()) return blocked(r);`): blocked() starts read_since_ at the
// handshake's first wait, and nothing resets it while the handshake moves bytes
// (only fill() and read_some() do, and the engine reads through the
// handshake_watch, not through them). check_deadlines() then fails the handshake
// with errc::timeout io_timeout after its first wait, however steadily bytes
// arrive: the I/O timeout bounds the whole handshake. The same holds for
// write_since_. In the ladder this is a timeout at stage handshake, never
// retried. (The same bug makes core's StreamUpgradeOneByte test time out on a
// busy machine: its one-byte handshake takes longer than its 5 s io_timeout.)
TEST(KnownBugs, HandshakeThatKeepsMovingIsBoundByTheHandshakeTimeoutNotTheIoTimeout) {
  const backend& b = backend_under_test();
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  // The server's first flight (some 1.5 kB) comes 100 bytes per 100 ms: a byte
  // moves far more often than every io_timeout, yet the flight takes over 1 s.
  relay slow(srv.port);
  slow.set_pace(100, 100ms);
  auto req = request_to(slow.port(), {{&b, profile::strict}});
  req.stream_opts.io_timeout = 600ms;
  req.base.handshake_timeout = 10s;
  const auto began = steady_clock::now();
  fallback_result res = connect_with_fallback(req);
  const auto took = steady_clock::now() - began;
  ASSERT_TRUE(res.ok()) << res.report.to_string();  // today: timeout at stage handshake, after ~600 ms
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_EQ(res.report.attempts[0].stage, attempt_stage::done);
  // It meant something: the handshake took longer than the I/O timeout.
  EXPECT_GT(took, req.stream_opts.io_timeout);
  EXPECT_LT(took, req.base.handshake_timeout);
}

}  // namespace
}  // namespace uptls::test
