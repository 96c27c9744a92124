// uptls::stream over loopback sockets: a plaintext dialogue, start_tls in both
// roles, lines across TLS, the ends of the stream, and handshakes that cannot work.
#include <chrono>

#include "harness.hpp"

namespace uptls::test {
namespace {

using namespace std::chrono_literals;

struct stream_pair {
  std::unique_ptr<stream> client;
  std::unique_ptr<stream> server;
};

stream_pair plaintext_pair() {
  transport_pair t = socket_pair(milliseconds{5'000});
  if (!t.client || !t.server) return {};
  return {std::make_unique<stream>(std::move(t.client)), std::make_unique<stream>(std::move(t.server))};
}

struct upgrade_results {
  std::error_code client;
  std::error_code server;
};

// Both start_tls calls at once; the server's in a thread.
upgrade_results upgrade(stream_pair& p, std::shared_ptr<const context> c, std::shared_ptr<const context> s,
                        const std::string& name = "localhost") {
  auto server = in_thread([&p, s] { return p.server->start_tls(s); });
  upgrade_results r;
  r.client = p.client->start_tls(c, {name});
  r.server = server.get();
  return r;
}

stream_pair tls_pair() {
  stream_pair p = plaintext_pair();
  if (!p.client) return p;
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  if (!c || !s) return {};
  const upgrade_results r = upgrade(p, c, s);
  EXPECT_FALSE(r.client) << name_of(r.client) << " " << p.client->last_failure().text;
  EXPECT_FALSE(r.server) << name_of(r.server) << " " << p.server->last_failure().text;
  return p;
}

TEST(Stream, PlaintextDialogueThenUpgradeInBothRoles) {
  stream_pair p = plaintext_pair();
  ASSERT_TRUE(p.client && p.server);
  std::string line;
  ASSERT_FALSE(p.server->write("220 ready\r\n"));
  ASSERT_FALSE(p.client->read_line(line));
  EXPECT_EQ(line, "220 ready");
  ASSERT_FALSE(p.client->write("STARTTLS\r\n"));
  ASSERT_FALSE(p.server->read_line(line));
  EXPECT_EQ(line, "STARTTLS");
  ASSERT_FALSE(p.server->write("220 go ahead\r\n"));
  ASSERT_FALSE(p.client->read_line(line));
  EXPECT_EQ(line, "220 go ahead");

  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  const upgrade_results r = upgrade(p, c, s);
  ASSERT_FALSE(r.client) << name_of(r.client);
  ASSERT_FALSE(r.server) << name_of(r.server);
  EXPECT_TRUE(p.client->is_tls());
  EXPECT_TRUE(p.server->is_tls());
  ASSERT_NE(p.client->session(), nullptr);
  ASSERT_NE(p.server->session(), nullptr);
  EXPECT_TRUE(p.client->session()->verified);
  EXPECT_EQ(p.client->session()->backend, backend_under_test().name());
  EXPECT_EQ(p.server->session()->sni, "localhost");

  ASSERT_FALSE(p.client->write("EHLO client.example\r\n"));
  ASSERT_FALSE(p.server->read_line(line));
  EXPECT_EQ(line, "EHLO client.example");
  ASSERT_FALSE(p.server->write("250-hello\r\n250 SIZE 1000\r\n"));
  ASSERT_FALSE(p.client->read_line(line));
  EXPECT_EQ(line, "250-hello");
  ASSERT_FALSE(p.client->read_line(line));
  EXPECT_EQ(line, "250 SIZE 1000");
  EXPECT_EQ(p.client->start_tls(c, {"localhost"}), errc::usage) << "no second upgrade";
}

TEST(Stream, BigWritesAndReadSomeAcrossTls) {
  stream_pair p = tls_pair();
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  std::vector<std::byte> out(1 << 20);
  fill_pattern(out, 99);
  auto writer = in_thread([&] { return p.client->write(out); });
  std::vector<std::byte> in;
  std::vector<std::byte> buf(40'000);
  while (in.size() < out.size()) {
    auto got = p.server->read_some(buf);
    ASSERT_TRUE(got.ok()) << name_of(got.error());
    ASSERT_GT(*got, 0u);
    in.insert(in.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*got));
  }
  EXPECT_FALSE(writer.get());
  EXPECT_EQ(in, out);
}

TEST(Stream, CloseIsACleanEndForThePeer) {
  stream_pair p = tls_pair();
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  ASSERT_FALSE(p.client->write("QUIT\r\n"));
  EXPECT_FALSE(p.client->close());
  EXPECT_FALSE(p.client->close()) << "twice is harmless";
  std::string line;
  ASSERT_FALSE(p.server->read_line(line));
  EXPECT_EQ(line, "QUIT");
  EXPECT_EQ(p.server->read_line(line), errc::eof);
  std::byte buf[8];
  auto got = p.server->read_some(buf);
  ASSERT_TRUE(got.ok()) << name_of(got.error());
  EXPECT_EQ(*got, 0u) << "0 bytes = clean close";
  EXPECT_FALSE(p.server->error());
}

TEST(Stream, SocketClosedWithoutCloseNotifyIsTruncation) {
  stream_pair p = tls_pair();
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  // The client reads everything the server sent (TLS 1.3 tickets ride in front of
  // this line): a socket closed with unread bytes would send a reset, not an EOF.
  std::string line;
  ASSERT_FALSE(p.server->write("354 go on\r\n"));
  ASSERT_FALSE(p.client->read_line(line));
  ASSERT_FALSE(p.client->write("DATA\r\nhalf a messa"));
  p.client->lower().close();  // the connection drops, no close_notify
  ASSERT_FALSE(p.server->read_line(line));
  EXPECT_EQ(line, "DATA");
  EXPECT_EQ(p.server->read_line(line), errc::truncated);
  EXPECT_EQ(p.server->error(), errc::truncated);
  EXPECT_EQ(p.server->current(), stream::state::failed);
  EXPECT_EQ(p.server->write("250 ok\r\n"), errc::truncated) << "sticky";
}

TEST(Stream, HalfCloseWithoutCloseNotifyIsTruncation) {
  stream_pair p = tls_pair();
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  ASSERT_FALSE(p.server->write("250 ok\r\n"));
  p.server->lower().shutdown_write();  // FIN without close_notify
  std::string line;
  ASSERT_FALSE(p.client->read_line(line));
  EXPECT_EQ(line, "250 ok");
  EXPECT_EQ(p.client->read_line(line), errc::truncated);
}

TEST(Stream, PlaintextServerIsNotTls) {
  auto listener = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  auto server = in_thread([&] {
    auto conn = listener->accept(5s, {5s, 5s});
    if (!conn) return;
    stream s(std::move(*conn));
    (void)s.write("220 hello, this is plain SMTP\r\n");
    std::string line;
    for (int i = 0; i < 10 && !s.read_line(line); ++i) {
    }
  });
  auto conn = tcp_connect("127.0.0.1", listener->port(), {5s, 5s});
  ASSERT_TRUE(conn.ok());
  stream client(std::move(*conn));
  auto c = client_ctx(client_config());
  ASSERT_TRUE(c);
  EXPECT_EQ(client.start_tls(c, {"localhost"}), errc::not_tls) << client.last_failure().text;
  EXPECT_EQ(client.current(), stream::state::failed);
  server.get();
}

TEST(Stream, PlaintextClientIsNotTlsForTheServer) {
  stream_pair p = plaintext_pair();
  ASSERT_TRUE(p.client && p.server);
  auto s = server_ctx(server_config());
  ASSERT_TRUE(s);
  ASSERT_FALSE(p.client->write("EHLO client.example\r\nMAIL FROM:<a@b>\r\n"));
  EXPECT_EQ(p.server->start_tls(s), errc::not_tls) << p.server->last_failure().text;
}

// A server that reads the ClientHello and hangs up: end of stream before the
// ServerHello, the case a caller may choose to retry with another profile.
TEST(Stream, ServerThatHangsUpAfterClientHelloIsEof) {
  for (const bool sockets : {false, true}) {
    SCOPED_TRACE(sockets ? "sockets" : "memory pipe");
    transport_pair t = sockets ? socket_pair(milliseconds{5'000}) : memory_pair();
    ASSERT_TRUE(t.client && t.server);
    auto hangup = in_thread([&] {
      std::byte buf[4096];
      (void)t.server->read_some(buf);
      t.server->close();
    });
    stream client(std::move(t.client));
    auto c = client_ctx(client_config());
    ASSERT_TRUE(c);
    EXPECT_EQ(client.start_tls(c, {"localhost"}), errc::eof) << client.last_failure().text;
    EXPECT_TRUE(client.last_failure().eof_before_server_hello);
    EXPECT_FALSE(client.last_failure().server_handshake_seen);
    hangup.get();
  }
}

TEST(Stream, SilentServerTimesOutWithinTheHandshakeTimeout) {
  auto listener = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  auto conn = tcp_connect("127.0.0.1", listener->port(), {5s, 5s});
  ASSERT_TRUE(conn.ok());
  auto accepted = listener->accept(5s);  // accepted and never answered
  ASSERT_TRUE(accepted.ok());
  stream client(std::move(*conn));
  tls_config cc = client_config();
  cc.handshake_timeout = 300ms;
  auto c = client_ctx(cc);
  ASSERT_TRUE(c);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(client.start_tls(c, {"localhost"}), errc::timeout);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 3s) << "bounded by handshake_timeout, not the 5 s socket timeout";
  EXPECT_EQ(client.current(), stream::state::failed);
}

TEST(Stream, FailedHandshakeLeavesTheStreamFailed) {
  stream_pair p = plaintext_pair();
  ASSERT_TRUE(p.client && p.server);
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("expired"));
  ASSERT_TRUE(c && s);
  const upgrade_results r = upgrade(p, c, s);
  EXPECT_EQ(r.client, errc::cert_expired) << name_of(r.client);
  // The failed client closes its socket at once; with bytes of the server's flight
  // still unread there, TCP sends a reset that may overtake the alert.
  EXPECT_TRUE(r.server == errc::cert_rejected_by_peer || r.server == errc::peer_alert ||
              r.server == errc::connection_reset)
      << name_of(r.server);
  EXPECT_EQ(p.client->current(), stream::state::failed);
  EXPECT_FALSE(p.client->is_tls());
  std::string line;
  EXPECT_EQ(p.client->read_line(line), errc::cert_expired);
  EXPECT_EQ(p.client->write("MAIL FROM:<a@b>\r\n"), errc::cert_expired) << "never plaintext after a failed upgrade";
  EXPECT_EQ(p.client->session(), nullptr);
}

TEST(Stream, AlpnRefusalIsNamedOnBothSides) {
  if (!backend_under_test().caps().alpn) GTEST_SKIP() << "no ALPN in this backend";
  stream_pair p = plaintext_pair();
  ASSERT_TRUE(p.client && p.server);
  tls_config cc = client_config();
  cc.alpn = {"imap"};
  tls_config sc = server_config();
  sc.alpn = {"smtp"};
  auto c = client_ctx(cc);
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  const upgrade_results r = upgrade(p, c, s);
  EXPECT_EQ(r.client, errc::no_application_protocol) << name_of(r.client);
  EXPECT_EQ(r.server, errc::no_application_protocol) << name_of(r.server);
  EXPECT_EQ(p.client->last_failure().alert_received, 120);
}

TEST(Stream, NoCommonVersionIsProtocolVersion) {
  if (!backend_under_test().caps().tls13) GTEST_SKIP() << "no TLS 1.3 in this backend";
  stream_pair p = plaintext_pair();
  ASSERT_TRUE(p.client && p.server);
  tls_config cc = client_config();
  cc.min_version = tls_version::tls1_3;
  tls_config sc = server_config();
  sc.max_version = tls_version::tls1_2;
  auto c = client_ctx(cc);
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  const upgrade_results r = upgrade(p, c, s);
  EXPECT_EQ(r.client, errc::protocol_version) << name_of(r.client);
  EXPECT_EQ(r.server, errc::protocol_version) << name_of(r.server);
  EXPECT_EQ(p.client->last_failure().alert_received, 70);
  EXPECT_FALSE(p.client->last_failure().server_handshake_seen);
}

}  // namespace
}  // namespace uptls::test
