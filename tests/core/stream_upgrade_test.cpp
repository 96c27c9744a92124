// The upgrade itself: start_tls on a live connection, the state machine around
// it, and the failures core classifies from the wire (alike on every backend;
// this program is built once per backend).
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>

#include "support.hpp"

using namespace uptls;
using namespace std::chrono_literals;

namespace {

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::shared_ptr<const context> client_ctx(tls_config cfg = test::client_config()) {
  auto c = test::backend_under_test().make_context(cfg, role::client);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c.ok() ? *c : nullptr;
}

std::shared_ptr<const context> server_ctx(tls_config cfg = test::server_config()) {
  auto c = test::backend_under_test().make_context(cfg, role::server);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c.ok() ? *c : nullptr;
}

// A connected pair of streams over loopback TCP.
std::pair<stream, stream> socket_pair(milliseconds io = 5s) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  auto c = tcp_connect("127.0.0.1", l->port(), {2s, io});
  auto s = l->accept(2s, {2s, io});
  return {stream(std::move(c).value()), stream(std::move(s).value())};
}

// A raw server on loopback that runs `script` on the accepted socket.
struct raw_server {
  tcp_listener listener;
  std::thread thread;
  template <class F>
  explicit raw_server(F script) : listener(std::move(tcp_listener::listen("127.0.0.1", 0)).value()) {
    thread = std::thread([this, script] {
      auto conn = listener.accept(5s, {2s, 2s});
      if (conn) script(**conn);
    });
  }
  ~raw_server() { thread.join(); }
  stream connect(milliseconds io = 2s) { return stream(std::move(tcp_connect("127.0.0.1", listener.port(), {2s, io})).value()); }
};

}  // namespace

TEST(StreamUpgrade, BothRolesUpgradeInPlaceAndTalkOverTls) {
  auto [client, server] = socket_pair();
  auto srv = std::async(std::launch::async, [&, &server = server] {
    std::string line;
    EXPECT_FALSE(server.read_line(line));
    EXPECT_EQ(line, "STARTTLS");
    EXPECT_FALSE(server.write("220 go ahead\r\n"));
    EXPECT_FALSE(server.start_tls(server_ctx()));
    EXPECT_FALSE(server.read_line(line));
    EXPECT_EQ(line, "EHLO again");
    EXPECT_FALSE(server.write("250 secure\r\n"));
    EXPECT_EQ(server.read_line(line), errc::eof);  // the client's close_notify
  });
  ASSERT_FALSE(client.write("STARTTLS\r\n"));
  std::string line;
  ASSERT_FALSE(client.read_line(line));
  ASSERT_EQ(line, "220 go ahead");
  ASSERT_FALSE(client.start_tls(client_ctx(), {"localhost"}));
  EXPECT_TRUE(client.is_tls());
  ASSERT_NE(client.session(), nullptr);
  EXPECT_TRUE(client.session()->verified);
  EXPECT_EQ(client.session()->backend, test::backend_under_test().name());
  ASSERT_FALSE(client.write("EHLO again\r\n"));
  ASSERT_FALSE(client.read_line(line));
  EXPECT_EQ(line, "250 secure");
  EXPECT_FALSE(client.close());
  srv.get();
}

TEST(StreamUpgrade, SecondStartTlsIsAUsageErrorAndHarmless) {
  auto [client, server] = socket_pair();
  auto srv = std::async(std::launch::async, [&, &server = server] {
    EXPECT_FALSE(server.start_tls(server_ctx()));
    std::string line;
    EXPECT_FALSE(server.read_line(line));
    EXPECT_EQ(line, "still fine");
  });
  auto ctx = client_ctx();
  ASSERT_FALSE(client.start_tls(ctx, {"localhost"}));
  EXPECT_EQ(client.start_tls(ctx, {"localhost"}), errc::usage);
  EXPECT_TRUE(client.is_tls());
  EXPECT_FALSE(client.write("still fine\r\n"));
  srv.get();
}

TEST(StreamUpgrade, SocketClosedWithoutCloseNotifyIsTruncation) {
  auto [client, server] = socket_pair();
  auto srv = std::async(std::launch::async, [&, &server = server] {
    EXPECT_FALSE(server.start_tls(server_ctx()));
    EXPECT_FALSE(server.write("partial"));
    server.lower().close();  // no close_notify
  });
  ASSERT_FALSE(client.start_tls(client_ctx(), {"localhost"}));
  srv.get();
  std::string line;
  EXPECT_EQ(client.read_line(line), errc::truncated);
  EXPECT_EQ(client.read_line(line), errc::truncated);  // sticky
  EXPECT_EQ(client.current(), stream::state::failed);
}

TEST(StreamUpgrade, PlaintextPeerIsNotTls) {
  raw_server srv([](transport& t) {
    (void)write_all(t, bytes("220 plain.example ESMTP ready\r\n"));
    std::this_thread::sleep_for(200ms);
  });
  stream s = srv.connect();
  EXPECT_EQ(s.start_tls(client_ctx(), {"localhost"}), errc::not_tls);
  EXPECT_EQ(s.current(), stream::state::failed);
}

TEST(StreamUpgrade, AlertBeforeServerHelloIsClassifiedFromTheWire) {
  raw_server srv([](transport& t) {
    std::byte hello[512];
    (void)t.read_some(hello);  // the ClientHello (or its start)
    const unsigned char alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40};
    (void)write_all(t, std::as_bytes(std::span(alert)));
    std::this_thread::sleep_for(100ms);
  });
  stream s = srv.connect();
  EXPECT_EQ(s.start_tls(client_ctx(), {"localhost"}), errc::handshake_failure);
  EXPECT_EQ(s.last_failure().alert_received, 40);
  EXPECT_FALSE(s.last_failure().server_handshake_seen);
  EXPECT_FALSE(s.last_failure().eof_before_server_hello);
}

TEST(StreamUpgrade, InsufficientSecurityAlertIsNamed) {
  raw_server srv([](transport& t) {
    std::byte hello[512];
    (void)t.read_some(hello);
    const unsigned char alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 71};
    (void)write_all(t, std::as_bytes(std::span(alert)));
    std::this_thread::sleep_for(100ms);
  });
  stream s = srv.connect();
  EXPECT_EQ(s.start_tls(client_ctx(), {"localhost"}), errc::insufficient_security);
  EXPECT_EQ(s.last_failure().alert_received, 71);
}

TEST(StreamUpgrade, CloseBeforeServerHelloIsEof) {
  raw_server srv([](transport& t) {
    std::byte hello[512];
    (void)t.read_some(hello);
    t.close();
  });
  stream s = srv.connect();
  EXPECT_EQ(s.start_tls(client_ctx(), {"localhost"}), errc::eof);
  EXPECT_TRUE(s.last_failure().eof_before_server_hello);
  EXPECT_FALSE(s.last_failure().server_handshake_seen);
}

TEST(StreamUpgrade, SilentServerHitsTheHandshakeDeadline) {
  raw_server srv([](transport& t) {
    std::byte hello[512];
    (void)t.read_some(hello);
    std::this_thread::sleep_for(1500ms);
  });
  stream s = srv.connect(10s);  // the per-read timeout alone would wait 10 s
  auto cfg = test::client_config();
  cfg.handshake_timeout = 300ms;
  const auto start = clock::now();
  EXPECT_EQ(s.start_tls(client_ctx(cfg), {"localhost"}), errc::timeout);
  EXPECT_LT(clock::now() - start, 1400ms);  // the deadline, not the I/O timeout, ended it
}

TEST(StreamUpgrade, FailedUpgradeIsStickyAndSendsNothingMore) {
  raw_server srv([](transport& t) {
    (void)write_all(t, bytes("not tls at all\r\n"));
    std::byte buf[4096];
    std::size_t after = 0;
    // Whatever arrives is the ClientHello; then the client must go silent.
    for (int i = 0; i < 50; ++i) {
      auto r = t.read_some(buf);
      if (r.status != io_status::ok) break;
      after += r.bytes;
    }
    EXPECT_GT(after, 0u);
  });
  stream s = srv.connect();
  EXPECT_EQ(s.start_tls(client_ctx(), {"localhost"}), errc::not_tls);
  EXPECT_EQ(s.write("QUIT\r\n"), errc::not_tls);
  std::string line;
  EXPECT_EQ(s.read_line(line), errc::not_tls);
}

TEST(StreamUpgrade, ServerSeesPlaintextClientAsNotTls) {
  auto [client, server] = socket_pair();
  ASSERT_FALSE(client.write("EHLO i.am.not.tls\r\n"));
  EXPECT_EQ(server.start_tls(server_ctx()), errc::not_tls);
}
