#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <thread>

#include "support.hpp"

using namespace uptls;
using namespace std::chrono_literals;

namespace {

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

struct connected {
  tcp_listener listener;
  std::unique_ptr<socket_transport> client;
  std::unique_ptr<socket_transport> server;
};

connected connect_pair(socket_options client_opts = {1s, 1s}, const std::string& host = "127.0.0.1") {
  auto l = tcp_listener::listen(host, 0);
  EXPECT_TRUE(l.ok());
  auto c = tcp_connect(host, l->port(), client_opts);
  EXPECT_TRUE(c.ok()) << c.error().message();
  auto s = l->accept(1s, {1s, 1s});
  EXPECT_TRUE(s.ok());
  return {std::move(l).value(), std::move(c).value(), std::move(s).value()};
}

}  // namespace

TEST(SocketTransport, MovesBytesBothWays) {
  auto p = connect_pair();
  ASSERT_FALSE(write_all(*p.client, bytes("hello")));
  std::byte buf[16];
  auto r = p.server->read_some(buf);
  ASSERT_EQ(r.status, io_status::ok);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), r.bytes), "hello");
  ASSERT_FALSE(write_all(*p.server, bytes("back")));
  r = p.client->read_some(buf);
  ASSERT_EQ(r.status, io_status::ok);
  EXPECT_EQ(r.bytes, 4u);
}

TEST(SocketTransport, WorksOverIpv6Loopback) {
  auto l = tcp_listener::listen("::1", 0);
  if (!l) GTEST_SKIP() << "no IPv6 loopback on this machine";
  auto c = tcp_connect("::1", l->port(), {1s, 1s});
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
  auto c = tcp_connect("127.0.0.1", port, {1s, 1s});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(), errc::connection_refused);
}

TEST(SocketTransport, UnresolvableHostIsANetworkError) {
  auto c = tcp_connect("no-such-host.invalid", 25, {1s, 1s});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(), errc::network);
}

TEST(SocketTransport, AcceptTimesOut) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  auto s = l->accept(50ms);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error(), errc::timeout);
}

TEST(SocketTransport, SilentPeerHitsTheReadTimeout) {
  auto p = connect_pair({1s, 100ms});
  std::byte buf[8];
  const auto r = p.client->read_some(buf);
  EXPECT_EQ(r.status, io_status::error);
  EXPECT_EQ(r.error, errc::timeout);
}

TEST(SocketTransport, DeadlineBoundsEveryCall) {
  auto p = connect_pair({1s, 10s});
  p.client->set_deadline(clock::now() - 1ms);
  std::byte buf[8];
  const auto r = p.client->read_some(buf);
  EXPECT_EQ(r.error, errc::timeout);
  p.client->set_deadline(std::nullopt);
  ASSERT_FALSE(write_all(*p.server, bytes("x")));
  EXPECT_EQ(p.client->read_some(buf).status, io_status::ok);
}

TEST(SocketTransport, NonBlockingSocketSaysWouldBlock) {
  auto p = connect_pair({1s, 0ms});
  std::byte buf[8];
  const auto r = p.client->read_some(buf);
  EXPECT_EQ(r.status, io_status::would_block);
  EXPECT_FALSE(r.error);
}

TEST(SocketTransport, PeerCloseIsEof) {
  auto p = connect_pair();
  p.server->close();
  std::byte buf[8];
  EXPECT_EQ(p.client->read_some(buf).status, io_status::eof);
}

TEST(SocketTransport, ShutdownWriteIsEofOneWayOnly) {
  auto p = connect_pair();
  p.client->shutdown_write();
  std::byte buf[8];
  EXPECT_EQ(p.server->read_some(buf).status, io_status::eof);
  ASSERT_FALSE(write_all(*p.server, bytes("still")));
  EXPECT_EQ(p.client->read_some(buf).status, io_status::ok);
}

TEST(SocketTransport, ResetIsNamed) {
  auto p = connect_pair();
  linger lg{1, 0};  // close with RST
  ASSERT_EQ(setsockopt(p.server->native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  p.server->close();
  std::byte buf[8];
  const auto r = p.client->read_some(buf);
  EXPECT_EQ(r.status, io_status::error);
  EXPECT_EQ(r.error, errc::connection_reset);
}

TEST(SocketTransport, UseAfterCloseIsAUsageError) {
  auto p = connect_pair();
  p.client->close();
  p.client->close();  // twice is harmless
  std::byte buf[8];
  EXPECT_EQ(p.client->read_some(buf).error, errc::usage);
  EXPECT_EQ(p.client->write_some(bytes("x")).error, errc::usage);
  EXPECT_EQ(p.client->native_handle(), -1);
}

TEST(SocketTransport, FullPeerBlocksThenTimesOutOnWrite) {
  auto p = connect_pair({1s, 100ms});
  const std::string chunk(64 * 1024, 'x');
  io_result r;
  // The peer never reads: within a bounded number of writes the buffers fill up.
  for (int i = 0; i < 2000; ++i) {
    r = p.client->write_some(bytes(chunk));
    if (r.status != io_status::ok) break;
  }
  EXPECT_EQ(r.status, io_status::error);
  EXPECT_EQ(r.error, errc::timeout);
}
