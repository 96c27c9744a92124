#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "uptls/transport.hpp"

using namespace uptls;
using namespace std::chrono_literals;

namespace {
std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string text(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
}  // namespace

TEST(MemoryPipe, CarriesBytesInOrderBothWays) {
  auto [a, b] = make_memory_pipe();
  ASSERT_FALSE(write_all(*a, bytes("abc")));
  ASSERT_FALSE(write_all(*a, bytes("def")));
  std::byte buf[16];
  auto r = b->read_some(buf);
  ASSERT_EQ(r.status, io_status::ok);
  EXPECT_EQ(text(std::span(buf, r.bytes)), "abcdef");
  ASSERT_FALSE(write_all(*b, bytes("xyz")));
  r = a->read_some(buf);
  EXPECT_EQ(text(std::span(buf, r.bytes)), "xyz");
}

TEST(MemoryPipe, ShortReadsLeaveTheRest) {
  auto [a, b] = make_memory_pipe();
  ASSERT_FALSE(write_all(*a, bytes("hello")));
  std::byte two[2];
  EXPECT_EQ(b->read_some(two).bytes, 2u);
  std::byte rest[8];
  auto r = b->read_some(rest);
  EXPECT_EQ(text(std::span(rest, r.bytes)), "llo");
}

TEST(MemoryPipe, BlockingReadTimesOut) {
  auto [a, b] = make_memory_pipe({50ms, 1024});
  std::byte buf[4];
  const auto r = b->read_some(buf);
  EXPECT_EQ(r.status, io_status::error);
  EXPECT_EQ(r.error, errc::timeout);
}

TEST(MemoryPipe, NonBlockingSaysWouldBlockBothWays) {
  auto [a, b] = make_memory_pipe({0ms, 4});
  std::byte buf[4];
  EXPECT_EQ(b->read_some(buf).status, io_status::would_block);
  EXPECT_EQ(a->write_some(bytes("12345")).bytes, 4u);  // capacity 4: short write
  EXPECT_EQ(a->write_some(bytes("6")).status, io_status::would_block);
  EXPECT_EQ(b->read_some(buf).bytes, 4u);
  EXPECT_EQ(a->write_some(bytes("6")).status, io_status::ok);
}

TEST(MemoryPipe, WriterWaitsForSpaceThenProceeds) {
  auto [a, b] = make_memory_pipe({2s, 8});
  std::thread reader([&] {
    std::string got;
    std::byte buf[3];
    while (got.size() < 32) {
      auto r = b->read_some(buf);
      if (r.status != io_status::ok) break;
      got += text(std::span(buf, r.bytes));
    }
    EXPECT_EQ(got, std::string(32, 'q'));
  });
  EXPECT_FALSE(write_all(*a, bytes(std::string(32, 'q'))));
  reader.join();
}

TEST(MemoryPipe, ShutdownWriteGivesEofAfterTheData) {
  auto [a, b] = make_memory_pipe();
  ASSERT_FALSE(write_all(*a, bytes("last")));
  a->shutdown_write();
  std::byte buf[8];
  EXPECT_EQ(b->read_some(buf).bytes, 4u);
  EXPECT_EQ(b->read_some(buf).status, io_status::eof);
  EXPECT_EQ(a->write_some(bytes("x")).error, errc::usage);
}

TEST(MemoryPipe, WritingToAClosedPeerIsAReset) {
  auto [a, b] = make_memory_pipe();
  b->close();
  EXPECT_EQ(a->write_some(bytes("x")).error, errc::connection_reset);
  std::byte buf[4];
  EXPECT_EQ(a->read_some(buf).status, io_status::eof);
  EXPECT_EQ(b->read_some(buf).error, errc::usage);
}

TEST(MemoryPipe, DeadlineBoundsTheWait) {
  auto [a, b] = make_memory_pipe({10s, 1024});
  b->set_deadline(clock::now() + 30ms);
  std::byte buf[4];
  EXPECT_EQ(b->read_some(buf).error, errc::timeout);
}
