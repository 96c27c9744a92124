// Plaintext line I/O of uptls::stream, what every dialogue stands on, in every
// mode: blocking, non-blocking over a pipe that moves one byte per call, and
// buffer-driven. Each test must give the same result in all three.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "driven.hpp"

using namespace uptls;
using namespace std::chrono_literals;
using test::drive_mode;
using test::write_all;

namespace {

class StreamLines : public ::testing::TestWithParam<drive_mode> {
 protected:
  test::driven_pipe make(std::size_t max_line = 64, milliseconds io = 2s) {
    stream_options o;
    o.max_line = max_line;
    o.io_timeout = io;
    return test::make_driven_pipe(GetParam(), o);
  }
  // read_line through the mode's driver; the line (copied) or the error's name.
  static std::string line_of(test::driven_stream& d) {
    const auto r = d.run([&] { return d.s().read_line(); });
    if (!r) return "ERR " + std::string(to_string(static_cast<errc>(r.error().value())));
    return std::string(*r);
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, StreamLines, ::testing::ValuesIn(test::all_drive_modes()),
                         [](const auto& info) { return test::to_string(info.param); });

TEST_P(StreamLines, LineSplitAcrossReads) {
  auto f = make();
  std::thread writer([&] {
    for (const char* part : {"EH", "LO cli", "ent.example\r", "\n"}) {
      EXPECT_TRUE(write_all(*f.far, part).ok());
      std::this_thread::sleep_for(5ms);
    }
  });
  EXPECT_EQ(line_of(f.near), "EHLO client.example");
  writer.join();
  if (GetParam() != drive_mode::blocking) {
    EXPECT_GT(f.near.blocked(), 0);
  }
}

TEST_P(StreamLines, SeveralLinesInOneRead) {
  auto f = make();
  ASSERT_TRUE(write_all(*f.far, "250-one\r\n250-two\n250 three\r\n").ok());
  for (const char* want : {"250-one", "250-two", "250 three"}) EXPECT_EQ(line_of(f.near), want);
  EXPECT_EQ(f.near.s().buffered(), 0u);
}

TEST_P(StreamLines, TellsCrlfFromBareLf) {
  auto f = make();
  ASSERT_TRUE(write_all(*f.far, "crlf\r\nbare\n").ok());
  EXPECT_EQ(line_of(f.near), "crlf");
  EXPECT_TRUE(f.near.s().last_line_crlf());
  EXPECT_EQ(line_of(f.near), "bare");
  EXPECT_FALSE(f.near.s().last_line_crlf());
}

TEST_P(StreamLines, EmptyLineAndBareCrAreKept) {
  auto f = make();
  ASSERT_TRUE(write_all(*f.far, "\r\na\rb\r\n").ok());
  EXPECT_EQ(line_of(f.near), "");
  EXPECT_EQ(line_of(f.near), "a\rb");
}

TEST_P(StreamLines, LineOverTheLimitIsDiscardedAndTheStreamGoesOn) {
  auto f = make(16);
  ASSERT_TRUE(write_all(*f.far, std::string(100, 'x') + "\r\nNOOP\r\n").ok());
  EXPECT_EQ(line_of(f.near), "ERR line_too_long");
  EXPECT_EQ(line_of(f.near), "NOOP");
  EXPECT_FALSE(f.near.s().error());
}

TEST_P(StreamLines, ExactlyTheLimitIsAccepted) {
  auto f = make(8);
  ASSERT_TRUE(write_all(*f.far, "123456\r\n1234567\r\n").ok());
  EXPECT_EQ(line_of(f.near), "123456");
  EXPECT_EQ(line_of(f.near), "ERR line_too_long");  // 9 bytes with CRLF
}

TEST_P(StreamLines, EndlessLineKeepsMemoryBounded) {
  auto f = make(64, 5s);
  std::thread writer([&] {
    const std::string junk(4096, 'z');
    for (int i = 0; i < 64; ++i) {  // 256 KiB without a newline
      if (!write_all(*f.far, junk, 5s)) return;
    }
    f.far->close();
  });
  std::string last;
  int calls = 0;
  std::size_t most_buffered = 0;
  do {
    last = line_of(f.near);
    most_buffered = std::max(most_buffered, f.near.s().buffered());
    ++calls;
  } while (last == "ERR line_too_long" && calls < 100000);
  writer.join();
  EXPECT_EQ(last, "ERR incomplete_line");
  EXPECT_GT(calls, 1);  // each call gave up after a bounded slice
  EXPECT_LE(most_buffered, 64u * 1024u);
}

TEST_P(StreamLines, EndInMidLineIsAnIncompleteLine) {
  auto f = make();
  ASSERT_TRUE(write_all(*f.far, "QUI").ok());
  f.far->close();
  EXPECT_EQ(line_of(f.near), "ERR incomplete_line");
  EXPECT_EQ(line_of(f.near), "ERR eof");
}

TEST_P(StreamLines, EndBetweenLinesIsEof) {
  auto f = make();
  ASSERT_TRUE(write_all(*f.far, "221 bye\r\n").ok());
  f.far->close();
  EXPECT_EQ(line_of(f.near), "221 bye");
  EXPECT_EQ(line_of(f.near), "ERR eof");
}

TEST_P(StreamLines, SilentPeerTimesOutAndTheStreamStaysUsable) {
  auto f = make(64, 50ms);
  const auto started = clock::now();
  EXPECT_EQ(line_of(f.near), "ERR timeout");
  EXPECT_GE(clock::now() - started, 50ms);
  EXPECT_FALSE(f.near.s().error());  // a read timeout is not fatal
  ASSERT_TRUE(write_all(*f.far, "late\r\n").ok());
  EXPECT_EQ(line_of(f.near), "late");
}

TEST_P(StreamLines, ReadDeadlineBoundsATricklingPeer) {
  // One byte every 20 ms never trips a 200 ms idle timeout; the read deadline
  // ends it anyway.
  auto f = make(64, 200ms);
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (int i = 0; i < 100 && !stop; ++i) {
      (void)write_all(*f.far, "x");
      std::this_thread::sleep_for(20ms);
    }
  });
  f.near.s().set_read_deadline(clock::now() + 150ms);
  const auto started = clock::now();
  EXPECT_EQ(line_of(f.near), "ERR timeout");
  EXPECT_LT(clock::now() - started, 1s);
  stop = true;
  trickle.join();
}

TEST_P(StreamLines, NextDeadlineIsTheIdleTimeoutWhileWaiting) {
  if (GetParam() == drive_mode::blocking) GTEST_SKIP() << "a blocking stream never returns would-block";
  auto f = make(64, 300ms);
  const auto before = clock::now();
  const auto r = f.near.s().read_line();
  ASSERT_TRUE(r.would_block());
  EXPECT_EQ(r.wants(), wait_for::read);
  EXPECT_EQ(f.near.s().wants(), wait_for::read);
  const auto deadline = f.near.s().next_deadline();
  ASSERT_TRUE(deadline.has_value());
  EXPECT_GE(*deadline, before + 300ms);
  EXPECT_LE(*deadline, clock::now() + 300ms);
}

TEST_P(StreamLines, ReadSomeServesBufferedBytesFirst) {
  auto f = make();
  ASSERT_TRUE(write_all(*f.far, "line\r\nrest").ok());
  EXPECT_EQ(line_of(f.near), "line");
  std::string got;
  std::byte buf[16];
  while (got.size() < 4) {
    auto n = f.near.run([&] { return f.near.s().read_some(buf); });
    ASSERT_TRUE(n.ok()) << to_string(n);
    got.append(reinterpret_cast<char*>(buf), *n);
  }
  EXPECT_EQ(got, "rest");
  f.far->close();
  auto n = f.near.run([&] { return f.near.s().read_some(buf); });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);  // clean end
}

TEST_P(StreamLines, WritesArriveWholeAndNothingTwice) {
  auto f = make();
  std::string big(100'000, 'w');  // more than the pipe takes at once in some modes
  for (std::size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  std::string got;
  std::thread reader([&] {
    std::byte buf[4096];
    while (got.size() < big.size() + 9) {
      auto r = test::read_some_within(*f.far, buf, 5s);
      if (!r.ok() || *r == 0) break;
      got.append(reinterpret_cast<char*>(buf), *r);
    }
  });
  EXPECT_TRUE(f.near.run([&] { return f.near.s().write("EHLO me\r\n"); }).ok());
  // write() takes everything at once; what the transport did not take waits for flush().
  EXPECT_TRUE(f.near.s().write(big).ok());
  if (GetParam() == drive_mode::blocking) {
    EXPECT_EQ(f.near.s().pending_output(), 0u);
  }
  const auto flushed = f.near.run([&] { return f.near.s().flush(); });
  EXPECT_TRUE(flushed.ok()) << to_string(flushed);
  EXPECT_EQ(f.near.s().pending_output(), 0u);
  reader.join();
  ASSERT_EQ(got.size(), big.size() + 9);
  EXPECT_TRUE(got == "EHLO me\r\n" + big) << "the bytes arrived out of order or changed";
}

TEST_P(StreamLines, BufferedPlaintextBlocksTheUpgrade) {
  auto f = make();
  // The go-ahead and an injected line arrive in one segment (CVE-2021-22947 shape).
  ASSERT_TRUE(write_all(*f.far, "220 go ahead\r\n250 injected\r\n").ok());
  EXPECT_EQ(line_of(f.near), "220 go ahead");
  // Whether the injected line is in the stream's buffer or still on the
  // transport (the one-byte mode), a client's upgrade refuses it.
  auto ctx = test::backend_under_test().make_context(test::client_config(), role::client);
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ(f.near.run([&] { return f.near.s().start_tls(*ctx, {"localhost"}); }), errc::plaintext_injection);
  EXPECT_EQ(f.near.s().buffered(), 0u);  // dropped, never readable
  EXPECT_EQ(f.near.s().current(), stream::state::failed);
  // Sticky: every later call says the same.
  EXPECT_EQ(f.near.s().read_line(), errc::plaintext_injection);
  EXPECT_EQ(f.near.s().write("QUIT\r\n"), errc::plaintext_injection);
  EXPECT_EQ(f.near.s().start_tls(*ctx, {"localhost"}), errc::plaintext_injection);
}

TEST_P(StreamLines, CloseTwiceIsHarmlessAndUseAfterCloseIsUsage) {
  auto f = make();
  EXPECT_TRUE(f.near.run([&] { return f.near.s().close(); }).ok());
  EXPECT_TRUE(f.near.run([&] { return f.near.s().close(); }).ok());
  EXPECT_EQ(f.near.s().read_line(), errc::usage);
  EXPECT_EQ(f.near.s().write("x"), errc::usage);
  std::byte buf[4];
  EXPECT_EQ(f.near.s().read_some(buf), errc::usage);
  EXPECT_EQ(f.near.s().current(), stream::state::closed);
}

}  // namespace
