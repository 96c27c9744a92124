// Plaintext line I/O of uptls::stream: what the SMTP dialogue stands on.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "support.hpp"

using namespace uptls;
using namespace std::chrono_literals;

namespace {

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

struct fixture {
  std::unique_ptr<transport> peer;
  stream s;
};

fixture make(std::size_t max_line = 64, milliseconds timeout = 500ms) {
  auto [a, b] = make_memory_pipe({timeout, 1 << 20});
  return {std::move(a), stream(std::move(b), {max_line})};
}

}  // namespace

TEST(StreamLines, LineSplitAcrossReads) {
  auto f = make();
  std::thread writer([&] {
    for (const char* part : {"EH", "LO cli", "ent.example\r", "\n"}) {
      EXPECT_FALSE(write_all(*f.peer, bytes(part)));
      std::this_thread::sleep_for(5ms);
    }
  });
  std::string line;
  EXPECT_FALSE(f.s.read_line(line));
  EXPECT_EQ(line, "EHLO client.example");
  writer.join();
}

TEST(StreamLines, SeveralLinesInOneRead) {
  auto f = make();
  ASSERT_FALSE(write_all(*f.peer, bytes("250-one\r\n250-two\n250 three\r\n")));
  std::string line;
  for (const char* want : {"250-one", "250-two", "250 three"}) {
    ASSERT_FALSE(f.s.read_line(line));
    EXPECT_EQ(line, want);
  }
  EXPECT_EQ(f.s.buffered(), 0u);
}

TEST(StreamLines, EmptyLineAndBareCrAreKept) {
  auto f = make();
  ASSERT_FALSE(write_all(*f.peer, bytes("\r\na\rb\r\n")));
  std::string line;
  ASSERT_FALSE(f.s.read_line(line));
  EXPECT_EQ(line, "");
  ASSERT_FALSE(f.s.read_line(line));
  EXPECT_EQ(line, "a\rb");
}

TEST(StreamLines, LineOverTheLimitIsDiscardedAndTheStreamGoesOn) {
  auto f = make(16);
  ASSERT_FALSE(write_all(*f.peer, bytes(std::string(100, 'x') + "\r\nNOOP\r\n")));
  std::string line;
  EXPECT_EQ(f.s.read_line(line), errc::line_too_long);
  EXPECT_TRUE(line.empty());
  ASSERT_FALSE(f.s.read_line(line));
  EXPECT_EQ(line, "NOOP");
  EXPECT_FALSE(f.s.error());
}

TEST(StreamLines, ExactlyTheLimitIsAccepted) {
  auto f = make(8);
  ASSERT_FALSE(write_all(*f.peer, bytes("123456\r\n1234567\r\n")));
  std::string line;
  ASSERT_FALSE(f.s.read_line(line));
  EXPECT_EQ(line, "123456");
  EXPECT_EQ(f.s.read_line(line), errc::line_too_long);  // 9 bytes with CRLF
}

TEST(StreamLines, EndlessLineKeepsMemoryBounded) {
  auto f = make(64, 2s);
  std::thread writer([&] {
    const std::string junk(4096, 'z');
    for (int i = 0; i < 256; ++i) {  // 1 MiB without a newline
      if (write_all(*f.peer, bytes(junk))) return;
    }
    f.peer->close();
  });
  std::string line;
  std::error_code ec;
  int calls = 0;
  std::size_t most_buffered = 0;
  do {
    ec = f.s.read_line(line);
    most_buffered = std::max(most_buffered, f.s.buffered());
    ++calls;
  } while (ec == errc::line_too_long && calls < 10000);
  writer.join();
  EXPECT_EQ(ec, errc::incomplete_line);
  EXPECT_GT(calls, 1);  // each call gave up after a bounded slice
  EXPECT_LE(most_buffered, 64u * 1024u);
}

TEST(StreamLines, EofInMidLineKeepsThePartialLine) {
  auto f = make();
  ASSERT_FALSE(write_all(*f.peer, bytes("QUI")));
  f.peer->close();
  std::string line;
  EXPECT_EQ(f.s.read_line(line), errc::incomplete_line);
  EXPECT_EQ(line, "QUI");
  EXPECT_EQ(f.s.read_line(line), errc::eof);
}

TEST(StreamLines, EofBetweenLines) {
  auto f = make();
  ASSERT_FALSE(write_all(*f.peer, bytes("221 bye\r\n")));
  f.peer->close();
  std::string line;
  ASSERT_FALSE(f.s.read_line(line));
  EXPECT_EQ(f.s.read_line(line), errc::eof);
}

TEST(StreamLines, TimeoutIsReportedAndNotFatalInPlaintext) {
  auto f = make(64, 50ms);
  std::string line;
  EXPECT_EQ(f.s.read_line(line), errc::timeout);
  EXPECT_FALSE(f.s.error());
  ASSERT_FALSE(write_all(*f.peer, bytes("late\r\n")));
  ASSERT_FALSE(f.s.read_line(line));
  EXPECT_EQ(line, "late");
}

TEST(StreamLines, ReadSomeServesBufferedBytesFirst) {
  auto f = make();
  ASSERT_FALSE(write_all(*f.peer, bytes("line\r\nrest")));
  std::string line;
  ASSERT_FALSE(f.s.read_line(line));
  std::byte buf[16];
  auto n = f.s.read_some(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), *n), "rest");
  f.peer->close();
  n = f.s.read_some(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);  // clean end
}

TEST(StreamLines, WritesArriveInPlaintext) {
  auto f = make();
  ASSERT_FALSE(f.s.write("EHLO me\r\n"));
  std::byte buf[32];
  auto r = f.peer->read_some(buf);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), r.bytes), "EHLO me\r\n");
}

TEST(StreamLines, BufferedPlaintextBlocksTheUpgrade) {
  auto f = make();
  // The go-ahead and an injected line arrive in one segment (CVE-2021-22947 shape).
  ASSERT_FALSE(write_all(*f.peer, bytes("220 go ahead\r\n250 injected\r\n")));
  std::string line;
  ASSERT_FALSE(f.s.read_line(line));
  ASSERT_GT(f.s.buffered(), 0u);
  auto ctx = test::backend_under_test().make_context(test::client_config(), role::client);
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ(f.s.start_tls(*ctx, {"localhost"}), errc::plaintext_injection);
  EXPECT_EQ(f.s.buffered(), 0u);  // dropped, never readable
  EXPECT_EQ(f.s.current(), stream::state::failed);
  std::byte buf[8];
  EXPECT_EQ(f.peer->read_some(buf).status, io_status::eof);  // the connection is gone
  // Sticky: every later call says the same.
  EXPECT_EQ(f.s.read_line(line), errc::plaintext_injection);
  EXPECT_EQ(f.s.write("QUIT\r\n"), errc::plaintext_injection);
  EXPECT_EQ(f.s.start_tls(*ctx, {"localhost"}), errc::plaintext_injection);
}

TEST(StreamLines, CloseTwiceIsHarmlessAndUseAfterCloseIsUsage) {
  auto f = make();
  EXPECT_FALSE(f.s.close());
  EXPECT_FALSE(f.s.close());
  std::string line;
  EXPECT_EQ(f.s.read_line(line), errc::usage);
  EXPECT_EQ(f.s.write("x"), errc::usage);
  std::byte buf[4];
  EXPECT_EQ(f.s.read_some(buf).error(), errc::usage);
}
