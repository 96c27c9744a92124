// uptls::stream over loopback sockets: a plaintext dialogue, start_tls in both
// roles, lines across TLS, the ends of the stream, the stream's own timeouts
// (transports have none), and handshakes that cannot work. The streams run in
// blocking mode, the default: every call waits inside, within io_timeout.
#include <chrono>

#include "harness.hpp"

namespace uptls::test {
namespace {

using namespace std::chrono_literals;

struct stream_pair {
  std::unique_ptr<stream> client;
  std::unique_ptr<stream> server;
};

stream_options waiting_at_most(milliseconds io_timeout) {
  stream_options o;
  o.io_timeout = io_timeout;
  return o;
}

// Two plaintext streams over t; each call waits at most t.io_timeout.
stream_pair plaintext_pair(transport_pair t) {
  if (!t.client || !t.server) return {};
  const stream_options opts = waiting_at_most(t.io_timeout);
  return {std::make_unique<stream>(std::move(t.client), opts), std::make_unique<stream>(std::move(t.server), opts)};
}
stream_pair plaintext_pair() { return plaintext_pair(socket_pair(milliseconds{5'000})); }

// The next line, or "ERR <how the call ended>": one comparison shows both.
std::string line_of(stream& s) {
  const result<std::string_view> r = s.read_line();
  return r ? std::string(*r) : "ERR " + to_string(r);
}

struct upgrade_results {
  result<> client;
  result<> server;
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

stream_pair tls_pair(transport_pair t) {
  stream_pair p = plaintext_pair(std::move(t));
  if (!p.client) return p;
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  if (!c || !s) return {};
  const upgrade_results r = upgrade(p, c, s);
  EXPECT_TRUE(is_ok(r.client)) << p.client->last_failure().text;
  EXPECT_TRUE(is_ok(r.server)) << p.server->last_failure().text;
  return p;
}
stream_pair tls_pair() { return tls_pair(socket_pair(milliseconds{5'000})); }

TEST(Stream, PlaintextDialogueThenUpgradeInBothRoles) {
  stream_pair p = plaintext_pair();
  ASSERT_TRUE(p.client && p.server);
  ASSERT_TRUE(is_ok(p.server->write("220 ready\r\n")));
  ASSERT_EQ(line_of(*p.client), "220 ready");
  ASSERT_TRUE(is_ok(p.client->write("STARTTLS\r\n")));
  ASSERT_EQ(line_of(*p.server), "STARTTLS");
  ASSERT_TRUE(is_ok(p.server->write("220 go ahead\r\n")));
  ASSERT_EQ(line_of(*p.client), "220 go ahead");

  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  const upgrade_results r = upgrade(p, c, s);
  ASSERT_TRUE(is_ok(r.client)) << p.client->last_failure().text;
  ASSERT_TRUE(is_ok(r.server)) << p.server->last_failure().text;
  EXPECT_TRUE(p.client->is_tls());
  EXPECT_TRUE(p.server->is_tls());
  ASSERT_NE(p.client->session(), nullptr);
  ASSERT_NE(p.server->session(), nullptr);
  EXPECT_TRUE(p.client->session()->verified);
  EXPECT_EQ(p.client->session()->backend, backend_under_test().name());
  EXPECT_EQ(p.server->session()->sni, "localhost");
  EXPECT_EQ(p.client->session(), p.client->session()) << "built once, then the same facts";

  ASSERT_TRUE(is_ok(p.client->write("EHLO client.example\r\n")));
  ASSERT_EQ(line_of(*p.server), "EHLO client.example");
  ASSERT_TRUE(is_ok(p.server->write("250-hello\r\n250 SIZE 1000\r\n")));
  ASSERT_EQ(line_of(*p.client), "250-hello");
  ASSERT_EQ(line_of(*p.client), "250 SIZE 1000");
  EXPECT_EQ(p.client->start_tls(c, {"localhost"}), errc::usage) << "no second upgrade";
  EXPECT_TRUE(p.client->is_tls()) << "and the refused second one changed nothing";
}

TEST(Stream, BigWritesAndReadSomeAcrossTls) {
  stream_pair p = tls_pair();
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  std::vector<std::byte> out(1 << 20);
  fill_pattern(out, 99);
  // Blocking: write returns once every byte is sent (the reader makes room).
  auto writer = in_thread([&] { return p.client->write(out); });
  std::vector<std::byte> in;
  std::vector<std::byte> buf(40'000);
  while (in.size() < out.size()) {
    auto got = p.server->read_some(buf);
    ASSERT_TRUE(is_ok(got));
    ASSERT_GT(*got, 0u);
    in.insert(in.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*got));
  }
  EXPECT_TRUE(is_ok(writer.get()));
  EXPECT_EQ(p.client->pending_output(), 0u) << "a blocking write holds nothing back";
  EXPECT_EQ(in, out);
}

TEST(Stream, CloseIsACleanEndForThePeer) {
  stream_pair p = tls_pair();
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  ASSERT_TRUE(is_ok(p.client->write("QUIT\r\n")));
  EXPECT_TRUE(is_ok(p.client->close()));
  EXPECT_TRUE(is_ok(p.client->close())) << "twice is harmless";
  EXPECT_EQ(p.client->current(), stream::state::closed);
  ASSERT_EQ(line_of(*p.server), "QUIT");
  EXPECT_EQ(p.server->read_line(), errc::eof);
  std::byte buf[8];
  auto got = p.server->read_some(buf);
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(*got, 0u) << "0 bytes = clean close";
  EXPECT_FALSE(p.server->error()) << name_of(p.server->error());
}

TEST(Stream, SocketClosedWithoutCloseNotifyIsTruncation) {
  stream_pair p = tls_pair();
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  // The client reads everything the server sent (TLS 1.3 tickets ride in front of
  // this line): a socket closed with unread bytes would send a reset, not an EOF.
  ASSERT_TRUE(is_ok(p.server->write("354 go on\r\n")));
  ASSERT_EQ(line_of(*p.client), "354 go on");
  ASSERT_TRUE(is_ok(p.client->write("DATA\r\nhalf a messa")));
  p.client->lower().close();  // the connection drops, no close_notify
  ASSERT_EQ(line_of(*p.server), "DATA");
  EXPECT_EQ(p.server->read_line(), errc::truncated);
  EXPECT_EQ(p.server->error(), errc::truncated);
  EXPECT_EQ(p.server->current(), stream::state::failed);
  EXPECT_EQ(p.server->write("250 ok\r\n"), errc::truncated) << "sticky";
  EXPECT_EQ(p.server->read_line(), errc::truncated) << "sticky";
}

TEST(Stream, HalfCloseWithoutCloseNotifyIsTruncation) {
  stream_pair p = tls_pair();
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  ASSERT_TRUE(is_ok(p.server->write("250 ok\r\n")));
  p.server->lower().shutdown_write();  // FIN without close_notify
  ASSERT_EQ(line_of(*p.client), "250 ok");
  EXPECT_EQ(p.client->read_line(), errc::truncated);
}

// The stream's io_timeout is the read timeout: a silent peer ends a read with
// errc::timeout once it passes, and (the peer may still say goodbye) the stream
// stays usable.
TEST(Stream, ReadTimeoutIsATimeoutAndTheStreamGoesOn) {
  stream_pair p = tls_pair();
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  p.client->set_io_timeout(150ms);
  const auto start = clock::now();
  EXPECT_EQ(p.client->read_line(), errc::timeout);
  const auto took = clock::now() - start;
  EXPECT_GE(took, 150ms) << "not before the timeout";
  EXPECT_LT(took, 3s) << "the stream's io_timeout, not a later bound";
  EXPECT_FALSE(p.client->error()) << name_of(p.client->error());
  EXPECT_EQ(p.client->current(), stream::state::tls);
  ASSERT_TRUE(is_ok(p.server->write("221 bye\r\n")));
  EXPECT_EQ(line_of(*p.client), "221 bye");
  ASSERT_TRUE(is_ok(p.client->write("QUIT\r\n")));
  EXPECT_EQ(line_of(*p.server), "QUIT");
}

// A write that cannot move a byte for io_timeout (the peer reads nothing) ends
// with errc::timeout, and that is fatal and sticky: bytes may have been half
// sent, so the stream cannot carry on.
TEST(Stream, WriteTimeoutIsFatalAndSticky) {
  // A small pipe: the writer fills it soon and the reader never drains it.
  stream_pair p = tls_pair(memory_pair({.capacity = 64 * 1024}));
  ASSERT_TRUE(p.client && p.server && p.client->is_tls());
  p.client->set_io_timeout(150ms);
  std::vector<std::byte> big(1 << 20);
  fill_pattern(big, 5);
  const auto start = clock::now();
  EXPECT_EQ(p.client->write(big), errc::timeout);
  EXPECT_GE(clock::now() - start, 150ms);
  EXPECT_LT(clock::now() - start, 3s);
  EXPECT_EQ(p.client->error(), errc::timeout);
  EXPECT_EQ(p.client->current(), stream::state::failed);
  EXPECT_EQ(p.client->write("more\r\n"), errc::timeout) << "sticky";
  EXPECT_EQ(p.client->read_line(), errc::timeout) << "sticky";
  EXPECT_EQ(p.client->flush(), errc::timeout) << "sticky";
}

TEST(Stream, PlaintextServerIsNotTls) {
  auto listener = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  auto server = in_thread([&] {
    auto conn = listener->accept(5s);
    if (!conn) return;
    stream s(std::move(*conn), waiting_at_most(5s));
    (void)s.write("220 hello, this is plain SMTP\r\n");
    for (int i = 0; i < 10 && s.read_line().ok(); ++i) {
    }
  });
  auto conn = tcp_connect("127.0.0.1", listener->port(), {.connect_timeout = 5s});
  ASSERT_TRUE(conn.ok());
  stream client(std::move(*conn), waiting_at_most(5s));
  auto c = client_ctx(client_config());
  ASSERT_TRUE(c);
  // A fresh connection, nothing read in plaintext: a plaintext service on an
  // implicit-TLS port, not an injection.
  EXPECT_EQ(client.start_tls(c, {"localhost"}), errc::not_tls) << client.last_failure().text;
  EXPECT_EQ(client.current(), stream::state::failed);
  server.get();
}

TEST(Stream, PlaintextClientIsNotTlsForTheServer) {
  stream_pair p = plaintext_pair();
  ASSERT_TRUE(p.client && p.server);
  auto s = server_ctx(server_config());
  ASSERT_TRUE(s);
  ASSERT_TRUE(is_ok(p.client->write("EHLO client.example\r\nMAIL FROM:<a@b>\r\n")));
  EXPECT_EQ(p.server->start_tls(s), errc::not_tls) << p.server->last_failure().text;
  EXPECT_EQ(p.server->current(), stream::state::failed);
}

// Plaintext from the server behind its go-ahead, where the handshake was due:
// an injection (CVE-2011-0411 shape), whether it came with the go-ahead or
// during the handshake. Refused either way, and never read as a line.
TEST(Stream, PlaintextBehindTheGoAheadIsAnInjection) {
  for (const bool same_segment : {true, false}) {
    SCOPED_TRACE(same_segment ? "with the go-ahead" : "after the ClientHello");
    transport_pair t = socket_pair(milliseconds{5'000});
    ASSERT_TRUE(t.client && t.server);
    auto server = in_thread([&t, same_segment]() -> std::string {
      if (same_segment) return to_string(write_all(*t.server, "220 go ahead\r\n250 injected\r\n"));
      if (const result<> r = write_all(*t.server, "220 go ahead\r\n"); !r) return to_string(r);
      // Wait for the ClientHello: the injected line comes during the handshake.
      std::byte hello[4096];
      if (const result<std::size_t> r = read_some_within(*t.server, hello); !r || *r == 0) return "no ClientHello";
      return to_string(write_all(*t.server, "250 injected\r\n"));
    });
    stream client(std::move(t.client), waiting_at_most(5s));
    ASSERT_EQ(line_of(client), "220 go ahead");
    auto c = client_ctx(client_config());
    ASSERT_TRUE(c);
    EXPECT_EQ(client.start_tls(c, {"localhost"}), errc::plaintext_injection) << client.last_failure().text;
    EXPECT_EQ(client.current(), stream::state::failed);
    EXPECT_EQ(client.read_line(), errc::plaintext_injection) << "the injected line is never delivered";
    EXPECT_EQ(client.write("MAIL FROM:<a@b>\r\n"), errc::plaintext_injection);
    EXPECT_EQ(server.get(), "ok");
  }
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
      const result<std::size_t> hello = read_some_within(*t.server, buf);
      t.server->close();
      return hello;
    });
    stream client(std::move(t.client), waiting_at_most(5s));
    auto c = client_ctx(client_config());
    ASSERT_TRUE(c);
    EXPECT_EQ(client.start_tls(c, {"localhost"}), errc::eof) << client.last_failure().text;
    EXPECT_TRUE(client.last_failure().eof_before_server_hello);
    EXPECT_FALSE(client.last_failure().server_handshake_seen);
    const result<std::size_t> hello = hangup.get();
    ASSERT_TRUE(is_ok(hello)) << "the server got no ClientHello";
    EXPECT_GT(*hello, 0u);
  }
}

TEST(Stream, SilentServerTimesOutWithinTheHandshakeTimeout) {
  auto listener = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  auto conn = tcp_connect("127.0.0.1", listener->port(), {.connect_timeout = 5s});
  ASSERT_TRUE(conn.ok());
  auto accepted = listener->accept(5s);  // accepted and never answered
  ASSERT_TRUE(accepted.ok());
  stream client(std::move(*conn), waiting_at_most(5s));
  tls_config cc = client_config();
  cc.handshake_timeout = 300ms;
  auto c = client_ctx(cc);
  ASSERT_TRUE(c);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(client.start_tls(c, {"localhost"}), errc::timeout);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 300ms) << "not before the handshake timeout";
  EXPECT_LT(took, 3s) << "bounded by handshake_timeout, not the 5 s io_timeout";
  EXPECT_EQ(client.current(), stream::state::failed);
  EXPECT_EQ(client.error(), errc::timeout);
}

TEST(Stream, FailedHandshakeLeavesTheStreamFailed) {
  stream_pair p = plaintext_pair();
  ASSERT_TRUE(p.client && p.server);
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("expired"));
  ASSERT_TRUE(c && s);
  const upgrade_results r = upgrade(p, c, s);
  EXPECT_EQ(r.client, errc::cert_expired) << to_string(r.client);
  // The failed client half-closes at once and drains before it closes, so no
  // reset overtakes its alert: the server hears why.
  EXPECT_EQ(r.server, errc::cert_rejected_by_peer) << to_string(r.server) << " " << p.server->last_failure().text;
  EXPECT_EQ(p.client->current(), stream::state::failed);
  EXPECT_EQ(p.server->current(), stream::state::failed);
  EXPECT_FALSE(p.client->is_tls());
  EXPECT_EQ(p.client->read_line(), errc::cert_expired);
  EXPECT_EQ(p.client->write("MAIL FROM:<a@b>\r\n"), errc::cert_expired) << "never plaintext after a failed upgrade";
  EXPECT_EQ(p.client->start_tls(c, {"localhost"}), errc::cert_expired) << "no second try on the same stream";
  EXPECT_EQ(p.client->session(), nullptr);
  EXPECT_TRUE(is_ok(p.client->close())) << "close after a failure is allowed";
  EXPECT_EQ(p.client->current(), stream::state::closed);
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
  EXPECT_EQ(r.client, errc::no_application_protocol) << to_string(r.client);
  EXPECT_EQ(r.server, errc::no_application_protocol) << to_string(r.server);
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
  EXPECT_EQ(r.client, errc::protocol_version) << to_string(r.client);
  EXPECT_EQ(r.server, errc::protocol_version) << to_string(r.server);
  EXPECT_EQ(p.client->last_failure().alert_received, 70);
  EXPECT_FALSE(p.client->last_failure().server_handshake_seen);
}

}  // namespace
}  // namespace uptls::test
