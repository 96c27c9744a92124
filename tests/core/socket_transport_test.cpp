// Sockets never block: reads and writes move what they can or say would-block,
// and wait() is the only call that sleeps, bounded by its deadline.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <thread>

#include "support.hpp"

using namespace uptls;
using namespace std::chrono_literals;
using test::read_some_within;
using test::write_all;

namespace {

struct connected {
  tcp_listener listener;
  std::unique_ptr<socket_transport> client;
  std::unique_ptr<socket_transport> server;
};

connected connect_pair(const std::string& host = "127.0.0.1") {
  auto l = tcp_listener::listen(host, 0);
  EXPECT_TRUE(l.ok());
  auto c = tcp_connect(host, l->port(), {1s});
  EXPECT_TRUE(c.ok()) << to_string(c);
  auto s = l->accept(1s);
  EXPECT_TRUE(s.ok()) << to_string(s);
  return {std::move(l).value(), std::move(c).value(), std::move(s).value()};
}

std::string text(const std::byte* b, std::size_t n) { return {reinterpret_cast<const char*>(b), n}; }

}  // namespace

TEST(SocketTransport, MovesBytesBothWays) {
  auto p = connect_pair();
  ASSERT_TRUE(write_all(*p.client, "hello").ok());
  std::byte buf[16];
  auto r = read_some_within(*p.server, buf);
  ASSERT_TRUE(r.ok()) << to_string(r);
  EXPECT_EQ(text(buf, *r), "hello");
  ASSERT_TRUE(write_all(*p.server, "back").ok());
  r = read_some_within(*p.client, buf);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4u);
}

TEST(SocketTransport, WorksOverIpv6Loopback) {
  auto l = tcp_listener::listen("::1", 0);
  if (!l) GTEST_SKIP() << "no IPv6 loopback on this machine";
  auto c = tcp_connect("::1", l->port(), {1s});
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(l->accept(1s).ok());
}

TEST(SocketTransport, RefusedConnectionIsNamed) {
  std::uint16_t port = 0;
  {
    auto l = tcp_listener::listen("127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    port = l->port();
  }  // closed: nobody listens there now
  auto c = tcp_connect("127.0.0.1", port, {1s});
  EXPECT_EQ(c, errc::connection_refused);
}

TEST(SocketTransport, ConnectThatDoesNotWaitReportsRefusalLater) {
  std::uint16_t port = 0;
  {
    auto l = tcp_listener::listen("127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    port = l->port();
  }
  socket_options o;
  o.wait_for_connect = false;
  auto c = tcp_connect("127.0.0.1", port, o);
  if (!c) {
    EXPECT_EQ(c, errc::connection_refused);  // the kernel already knew
    return;
  }
  ASSERT_TRUE((*c)->wait(wait_for::write, clock::now() + 1s).ok());
  EXPECT_EQ((*c)->connect_status(), errc::connection_refused);
}

TEST(SocketTransport, ConnectThatDoesNotWaitComesUp) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  socket_options o;
  o.wait_for_connect = false;
  auto c = tcp_connect("127.0.0.1", l->port(), o);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->wait(wait_for::write, clock::now() + 1s).ok());
  EXPECT_TRUE((*c)->connect_status().ok());
}

TEST(SocketTransport, UnresolvableHostIsANetworkError) {
  auto c = tcp_connect("no-such-host.invalid", 25, {1s});
  EXPECT_EQ(c, errc::network);
}

TEST(SocketTransport, AcceptTimesOut) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->accept(50ms), errc::timeout);
  EXPECT_TRUE(l->try_accept().would_block());
}

TEST(SocketTransport, ReadWithNothingThereWouldBlockAndWaitTimesOut) {
  auto p = connect_pair();
  std::byte buf[8];
  const auto r = p.client->read_some(buf);
  EXPECT_TRUE(r.would_block());
  EXPECT_EQ(r.wants(), wait_for::read);
  EXPECT_FALSE(r.error());  // would-block is no error
  const auto started = clock::now();
  EXPECT_EQ(p.client->wait(wait_for::read, started + 50ms), errc::timeout);
  EXPECT_GE(clock::now() - started, 50ms);
}

TEST(SocketTransport, WaitWakesWhenBytesArrive) {
  auto p = connect_pair();
  std::thread later([&] {
    std::this_thread::sleep_for(20ms);
    (void)write_all(*p.server, "x");
  });
  EXPECT_TRUE(p.client->wait(wait_for::read, clock::now() + 5s).ok());
  std::byte buf[8];
  EXPECT_EQ(p.client->read_some(buf), std::error_code{});
  later.join();
}

TEST(SocketTransport, PeerCloseReadsZero) {
  auto p = connect_pair();
  p.server->close();
  std::byte buf[8];
  const auto r = read_some_within(*p.client, buf);
  ASSERT_TRUE(r.ok()) << to_string(r);
  EXPECT_EQ(*r, 0u);
}

TEST(SocketTransport, ShutdownWriteIsEndOfStreamOneWayOnly) {
  auto p = connect_pair();
  p.client->shutdown_write();
  std::byte buf[8];
  const auto eof = read_some_within(*p.server, buf);
  ASSERT_TRUE(eof.ok());
  EXPECT_EQ(*eof, 0u);
  ASSERT_TRUE(write_all(*p.server, "still").ok());
  const auto r = read_some_within(*p.client, buf);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 5u);
}

TEST(SocketTransport, ResetIsNamed) {
  auto p = connect_pair();
  linger lg{1, 0};  // close with RST
  ASSERT_EQ(setsockopt(p.server->native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  p.server->close();
  std::byte buf[8];
  EXPECT_EQ(read_some_within(*p.client, buf), errc::connection_reset);
}

TEST(SocketTransport, UseAfterCloseIsAUsageError) {
  auto p = connect_pair();
  p.client->close();
  p.client->close();  // twice is harmless
  std::byte buf[8];
  EXPECT_EQ(p.client->read_some(buf), errc::usage);
  const char x = 'x';
  EXPECT_EQ(p.client->write_some(std::as_bytes(std::span(&x, 1))), errc::usage);
  EXPECT_EQ(p.client->wait(wait_for::read, clock::now() + 1s), errc::usage);
  EXPECT_EQ(p.client->native_handle(), -1);
}

TEST(SocketTransport, FullPeerMakesWritesWouldBlock) {
  auto p = connect_pair();
  const std::string chunk(64 * 1024, 'x');
  result<std::size_t> r = std::size_t{0};
  // The peer never reads: within a bounded number of writes the buffers fill up.
  for (int i = 0; i < 2000; ++i) {
    r = p.client->write_some(std::as_bytes(std::span(chunk.data(), chunk.size())));
    if (!r.ok()) break;
  }
  EXPECT_TRUE(r.would_block()) << to_string(r);
  EXPECT_EQ(r.wants(), wait_for::write);
  EXPECT_EQ(p.client->wait(wait_for::write, clock::now() + 50ms), errc::timeout);
}
