// The memory pipe behaves like a non-blocking socket pair: bounded queues,
// would-block as a status, wait() bounded by its deadline, and one-byte
// delivery on demand.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "support.hpp"

using namespace uptls;
using namespace std::chrono_literals;
using test::read_some_within;
using test::write_all;

namespace {
std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string text(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
}  // namespace

TEST(MemoryPipe, CarriesBytesInOrderBothWays) {
  auto [a, b] = make_memory_pipe();
  ASSERT_TRUE(write_all(*a, "abc").ok());
  ASSERT_TRUE(write_all(*a, "def").ok());
  std::byte buf[16];
  auto r = b->read_some(buf);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(text(std::span(buf, *r)), "abcdef");
  ASSERT_TRUE(write_all(*b, "xyz").ok());
  r = a->read_some(buf);
  EXPECT_EQ(text(std::span(buf, *r)), "xyz");
}

TEST(MemoryPipe, ShortReadsLeaveTheRest) {
  auto [a, b] = make_memory_pipe();
  ASSERT_TRUE(write_all(*a, "hello").ok());
  std::byte two[2];
  EXPECT_EQ(*b->read_some(two), 2u);
  std::byte rest[8];
  auto r = b->read_some(rest);
  EXPECT_EQ(text(std::span(rest, *r)), "llo");
}

TEST(MemoryPipe, EmptyReadWouldBlockAndWaitTimesOut) {
  auto [a, b] = make_memory_pipe();
  std::byte buf[4];
  const auto r = b->read_some(buf);
  EXPECT_TRUE(r.would_block());
  EXPECT_EQ(r.wants(), wait_for::read);
  EXPECT_EQ(b->wait(wait_for::read, clock::now() + 30ms), errc::timeout);
}

TEST(MemoryPipe, FullQueueMakesWritesWouldBlock) {
  auto [a, b] = make_memory_pipe({.capacity = 4});
  std::byte buf[4];
  EXPECT_EQ(*a->write_some(bytes("12345")), 4u);  // capacity 4: short write
  const auto full = a->write_some(bytes("6"));
  EXPECT_TRUE(full.would_block());
  EXPECT_EQ(full.wants(), wait_for::write);
  EXPECT_EQ(*b->read_some(buf), 4u);
  EXPECT_TRUE(a->write_some(bytes("6")).ok());
}

TEST(MemoryPipe, OneByteChunksMoveOneByteAtATime) {
  auto [a, b] = make_memory_pipe({.max_chunk = 1});
  EXPECT_EQ(*a->write_some(bytes("abc")), 1u);
  EXPECT_EQ(*a->write_some(bytes("bc")), 1u);
  std::byte buf[8];
  EXPECT_EQ(*b->read_some(buf), 1u);
  EXPECT_EQ(*b->read_some(buf), 1u);
  EXPECT_TRUE(b->read_some(buf).would_block());
}

TEST(MemoryPipe, WriterWaitsForSpaceThenProceeds) {
  auto [a, b] = make_memory_pipe({.capacity = 8});
  std::thread reader([&] {
    std::string got;
    std::byte buf[3];
    while (got.size() < 32) {
      auto r = read_some_within(*b, buf, 2s);
      if (!r.ok() || *r == 0) break;
      got += text(std::span(buf, *r));
    }
    EXPECT_EQ(got, std::string(32, 'q'));
  });
  EXPECT_TRUE(write_all(*a, std::string(32, 'q'), 2s).ok());
  reader.join();
}

TEST(MemoryPipe, ShutdownWriteGivesEndOfStreamAfterTheData) {
  auto [a, b] = make_memory_pipe();
  ASSERT_TRUE(write_all(*a, "last").ok());
  a->shutdown_write();
  std::byte buf[8];
  EXPECT_EQ(*b->read_some(buf), 4u);
  const auto end = b->read_some(buf);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 0u);
  EXPECT_TRUE(b->wait(wait_for::read, clock::now() + 1s).ok());  // ready: the end is readable
  EXPECT_EQ(a->write_some(bytes("x")), errc::usage);
}

TEST(MemoryPipe, WritingToAClosedPeerIsAReset) {
  auto [a, b] = make_memory_pipe();
  b->close();
  EXPECT_EQ(a->write_some(bytes("x")), errc::connection_reset);
  std::byte buf[4];
  EXPECT_EQ(*a->read_some(buf), 0u);
  EXPECT_EQ(b->read_some(buf), errc::usage);
}

TEST(MemoryPipe, PauseAfterChunkMakesEveryByteAWouldBlock) {
  auto [a, b] = make_memory_pipe({.max_chunk = 1, .pause_after_chunk = true});
  EXPECT_EQ(*a->write_some(bytes("ab")), 1u);
  EXPECT_TRUE(a->write_some(bytes("b")).would_block());  // needs a wake-up first
  EXPECT_TRUE(a->wait(wait_for::write, clock::now() + 1s).ok());
  EXPECT_EQ(*a->write_some(bytes("b")), 1u);
  std::byte buf[8];
  EXPECT_EQ(*b->read_some(buf), 1u);
  EXPECT_TRUE(b->read_some(buf).would_block());
  EXPECT_EQ(*b->read_some(buf), 1u);
}
