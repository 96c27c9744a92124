// The upgrade itself: start_tls on a live connection, the state machine around
// it, and the failures core classifies from the wire, alike on every backend
// (this program is built once per backend) and in every mode: blocking,
// non-blocking over sockets, and buffer-driven.
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>

#include "driven.hpp"

using namespace uptls;
using namespace std::chrono_literals;
using test::drive_mode;
using test::write_all;

namespace {

std::shared_ptr<const context> client_ctx(tls_config cfg = test::client_config()) {
  auto c = test::backend_under_test().make_context(cfg, role::client);
  EXPECT_TRUE(c.ok()) << to_string(c);
  return c.ok() ? *c : nullptr;
}

std::shared_ptr<const context> server_ctx(tls_config cfg = test::server_config()) {
  auto c = test::backend_under_test().make_context(cfg, role::server);
  EXPECT_TRUE(c.ok()) << to_string(c);
  return c.ok() ? *c : nullptr;
}

struct socket_ends {
  std::unique_ptr<socket_transport> client;
  std::unique_ptr<socket_transport> server;
};
socket_ends connect_pair() {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  auto c = tcp_connect("127.0.0.1", l->port(), {2s});
  auto s = l->accept(2s);
  return {std::move(c).value(), std::move(s).value()};
}

stream_options io(milliseconds timeout = 5s) {
  stream_options o;
  o.io_timeout = timeout;
  return o;
}

// A raw server on loopback that runs `script` on the accepted socket (it waits
// with the test helpers, the socket being non-blocking).
struct raw_server {
  tcp_listener listener;
  std::thread thread;
  template <class F>
  explicit raw_server(F script) : listener(std::move(tcp_listener::listen("127.0.0.1", 0)).value()) {
    thread = std::thread([this, script] {
      auto conn = listener.accept(5s);
      if (conn) script(**conn);
    });
  }
  ~raw_server() { thread.join(); }
  std::unique_ptr<socket_transport> connect() { return std::move(tcp_connect("127.0.0.1", listener.port(), {2s})).value(); }
};

// Reads whatever comes within a short while (the ClientHello, or its start).
void read_a_little(transport& t) {
  std::byte buf[4096];
  (void)test::read_some_within(t, buf, 2s);
}

class StreamUpgrade : public ::testing::TestWithParam<drive_mode> {
 protected:
  test::driven_stream client_over(std::unique_ptr<transport> t, milliseconds timeout = 5s) {
    return test::driven_stream(GetParam(), std::move(t), io(timeout));
  }
  static std::string line_of(test::driven_stream& d) {
    const auto r = d.run([&] { return d.s().read_line(); });
    return r ? std::string(*r) : "ERR " + to_string(r);
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, StreamUpgrade, ::testing::ValuesIn(test::all_drive_modes()),
                         [](const auto& info) { return test::to_string(info.param); });

TEST_P(StreamUpgrade, BothRolesUpgradeInPlaceAndTalkOverTls) {
  auto ends = connect_pair();
  // The server runs in the same mode as the client, on its own thread.
  auto srv = std::async(std::launch::async, [&] {
    test::driven_stream server(GetParam(), std::move(ends.server), io());
    EXPECT_EQ(line_of(server), "STARTTLS");
    EXPECT_TRUE(server.run([&] { return server.s().write("220 go ahead\r\n"); }).ok());
    const auto up = server.run([&] { return server.s().start_tls(server_ctx()); });
    EXPECT_TRUE(up.ok()) << to_string(up);
    EXPECT_EQ(line_of(server), "EHLO again");
    EXPECT_TRUE(server.run([&] { return server.s().write("250 secure\r\n"); }).ok());
    EXPECT_EQ(line_of(server), "ERR " + to_string(result<>(errc::eof)));  // the client's close_notify
    return server.blocked();
  });
  auto client = client_over(std::move(ends.client));
  stream& s = client.s();
  ASSERT_TRUE(client.run([&] { return s.write("STARTTLS\r\n"); }).ok());
  ASSERT_EQ(line_of(client), "220 go ahead");
  const auto up = client.run([&] { return s.start_tls(client_ctx(), {"localhost"}); });
  ASSERT_TRUE(up.ok()) << to_string(up) << " " << s.last_failure().text;
  EXPECT_TRUE(s.is_tls());
  ASSERT_NE(s.session(), nullptr);
  EXPECT_TRUE(s.session()->verified);
  EXPECT_EQ(s.session()->backend, test::backend_under_test().name());
  ASSERT_TRUE(client.run([&] { return s.write("EHLO again\r\n"); }).ok());
  EXPECT_EQ(line_of(client), "250 secure");
  EXPECT_TRUE(client.run([&] { return s.close(); }).ok());
  (void)srv.get();  // (how often each side waited depends on timing here; the one-byte test pins it)
}

// Over a pipe that moves one byte per call, both ends non-blocking, every step
// of the handshake and of the lines is resumed many times, and ends as in
// blocking mode.
TEST(StreamUpgradeOneByte, EveryCallIsResumedManyTimesAndEndsTheSame) {
  // Made once, outside the resumed steps: a step runs again on every byte here,
  // and a context per call (GnuTLS signs with the key to check it) would spend
  // seconds in thousands of RSA signatures and run into the io_timeout.
  const auto server_context = server_ctx();
  const auto client_context = client_ctx();
  auto [a, b] = make_memory_pipe(test::pipe_for(drive_mode::non_blocking));
  auto srv = std::async(std::launch::async, [&, b = std::move(b)]() mutable {
    test::driven_stream server(drive_mode::non_blocking, std::move(b), io());
    const auto line = server.run([&] { return server.s().read_line(); });
    EXPECT_EQ(line.ok() ? std::string(*line) : to_string(line), "STARTTLS");
    EXPECT_TRUE(server.run([&] { return server.s().write("220 go ahead\r\n"); }).ok());
    const auto up = server.run([&] { return server.s().start_tls(server_context); });
    EXPECT_TRUE(up.ok()) << to_string(up);
    const auto tls_line = server.run([&] { return server.s().read_line(); });
    EXPECT_EQ(tls_line.ok() ? std::string(*tls_line) : to_string(tls_line), "EHLO again");
    EXPECT_TRUE(server.run([&] { return server.s().close(); }).ok());
    return server.blocked();
  });
  test::driven_stream client(drive_mode::non_blocking, std::move(a), io());
  stream& s = client.s();
  ASSERT_TRUE(client.run([&] { return s.write("STARTTLS\r\n"); }).ok());
  const auto go = client.run([&] { return s.read_line(); });
  ASSERT_TRUE(go.ok());
  EXPECT_EQ(*go, "220 go ahead");
  const int before = client.blocked();
  const auto up = client.run([&] { return s.start_tls(client_context, {"localhost"}); });
  ASSERT_TRUE(up.ok()) << to_string(up) << " " << s.last_failure().text;
  EXPECT_GT(client.blocked() - before, 100);  // a flight of about a kilobyte, one byte at a time
  ASSERT_TRUE(client.run([&] { return s.write("EHLO again\r\n"); }).ok());
  std::byte buf[16];
  const auto end = client.run([&] { return s.read_some(buf); });  // the server's close_notify
  ASSERT_TRUE(end.ok()) << to_string(end) << " after " << client.blocked();
  EXPECT_EQ(*end, 0u);
  EXPECT_GT(srv.get(), 100);
}

TEST_P(StreamUpgrade, HandshakingIsAStateAndOtherCallsAreUsageMeanwhile) {
  if (GetParam() == drive_mode::blocking) GTEST_SKIP() << "a blocking handshake is never seen half done";
  auto ends = connect_pair();
  auto srv = std::async(std::launch::async, [&] {
    test::driven_stream server(drive_mode::blocking, std::move(ends.server), io());
    return server.run([&] { return server.s().start_tls(server_ctx()); });
  });
  auto client = client_over(std::move(ends.client));
  stream& s = client.s();
  auto ctx = client_ctx();
  const auto first = s.start_tls(ctx, {"localhost"});
  ASSERT_TRUE(first.would_block()) << to_string(first);
  EXPECT_EQ(s.current(), stream::state::handshaking);
  EXPECT_EQ(s.read_line(), errc::usage);
  EXPECT_EQ(s.write("early\r\n"), errc::usage);
  EXPECT_TRUE(s.next_deadline().has_value());  // the handshake's deadline
  const auto up = client.run([&] { return s.start_tls(ctx, {"localhost"}); });  // resumed, same call
  EXPECT_TRUE(up.ok()) << to_string(up);
  EXPECT_EQ(s.current(), stream::state::tls);
  EXPECT_TRUE(srv.get().ok());
}

TEST_P(StreamUpgrade, SecondStartTlsIsAUsageErrorAndHarmless) {
  auto ends = connect_pair();
  auto srv = std::async(std::launch::async, [&] {
    test::driven_stream server(drive_mode::blocking, std::move(ends.server), io());
    EXPECT_TRUE(server.run([&] { return server.s().start_tls(server_ctx()); }).ok());
    EXPECT_EQ(line_of(server), "still fine");
  });
  auto client = client_over(std::move(ends.client));
  stream& s = client.s();
  auto ctx = client_ctx();
  ASSERT_TRUE(client.run([&] { return s.start_tls(ctx, {"localhost"}); }).ok());
  EXPECT_EQ(s.start_tls(ctx, {"localhost"}), errc::usage);
  EXPECT_TRUE(s.is_tls());
  EXPECT_TRUE(client.run([&] { return s.write("still fine\r\n"); }).ok());
  srv.get();
}

TEST_P(StreamUpgrade, SocketClosedWithoutCloseNotifyIsTruncation) {
  auto ends = connect_pair();
  auto srv = std::async(std::launch::async, [&] {
    test::driven_stream server(drive_mode::blocking, std::move(ends.server), io());
    EXPECT_TRUE(server.run([&] { return server.s().start_tls(server_ctx()); }).ok());
    EXPECT_TRUE(server.run([&] { return server.s().write("partial"); }).ok());
    server.s().lower().close();  // no close_notify
  });
  auto client = client_over(std::move(ends.client));
  ASSERT_TRUE(client.run([&] { return client.s().start_tls(client_ctx(), {"localhost"}); }).ok());
  srv.get();
  EXPECT_EQ(line_of(client), "ERR " + to_string(result<>(errc::truncated)));
  EXPECT_EQ(client.s().read_line(), errc::truncated);  // sticky
  EXPECT_EQ(client.s().current(), stream::state::failed);
}

TEST_P(StreamUpgrade, PlaintextPeerIsNotTls) {
  raw_server srv([](transport& t) {
    (void)write_all(t, "220 plain.example ESMTP ready\r\n");
    read_a_little(t);
  });
  auto client = client_over(srv.connect());
  EXPECT_EQ(client.run([&] { return client.s().start_tls(client_ctx(), {"localhost"}); }), errc::not_tls);
  EXPECT_EQ(client.s().current(), stream::state::failed);
}

// A server whose first record is TLS and whose next bytes cannot be a record is a
// broken TLS peer, never not_tls (OpenSSL words it
// "wrong version number") nor plaintext_injection (the wire watcher used to
// call any bad header "not TLS"). Found by fuzzing the wire watcher.
TEST_P(StreamUpgrade, GarbageAfterAServerRecordIsABadMessage) {
  raw_server srv([](transport& t) {
    read_a_little(t);  // the ClientHello
    const unsigned char hello_start[] = {0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x46};
    (void)write_all(t, std::span(reinterpret_cast<const std::byte*>(hello_start), sizeof hello_start));
    (void)write_all(t, "220 plain text after a record\r\n");
    read_a_little(t);
  });
  auto client = client_over(srv.connect());
  const result<> r = client.run([&] { return client.s().start_tls(client_ctx(), {"localhost"}); });
  // Never taken for a plaintext peer. (OpenSSL and GnuTLS say bad_message;
  // mbedTLS 2.28 cannot reassemble a handshake message split across records and
  // says internal, which is its own misclassification, not this one.)
  EXPECT_TRUE(r.failed());
  EXPECT_NE(r, errc::not_tls) << to_string(r) << ": " << client.s().last_failure().text;
  EXPECT_NE(r, errc::plaintext_injection) << to_string(r);
  EXPECT_EQ(client.s().current(), stream::state::failed);
}

TEST_P(StreamUpgrade, AlertBeforeServerHelloIsClassifiedFromTheWire) {
  for (const int alert : {40, 71}) {
    raw_server srv([alert](transport& t) {
      read_a_little(t);  // the ClientHello (or its start)
      const unsigned char bytes[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, static_cast<unsigned char>(alert)};
      (void)write_all(t, std::as_bytes(std::span(bytes)));
      read_a_little(t);
    });
    auto client = client_over(srv.connect());
    const auto r = client.run([&] { return client.s().start_tls(client_ctx(), {"localhost"}); });
    EXPECT_EQ(r, alert == 40 ? errc::handshake_failure : errc::insufficient_security) << to_string(r);
    EXPECT_EQ(client.s().last_failure().alert_received, alert);
    EXPECT_FALSE(client.s().last_failure().server_handshake_seen);
    EXPECT_FALSE(client.s().last_failure().eof_before_server_hello);
  }
}

TEST_P(StreamUpgrade, CloseBeforeServerHelloIsEof) {
  raw_server srv([](transport& t) {
    read_a_little(t);
    t.close();
  });
  auto client = client_over(srv.connect());
  EXPECT_EQ(client.run([&] { return client.s().start_tls(client_ctx(), {"localhost"}); }), errc::eof);
  EXPECT_TRUE(client.s().last_failure().eof_before_server_hello);
  EXPECT_FALSE(client.s().last_failure().server_handshake_seen);
}

TEST_P(StreamUpgrade, SilentServerHitsTheHandshakeDeadline) {
  std::promise<void> done;
  raw_server srv([f = done.get_future().share()](transport& t) {
    read_a_little(t);
    (void)f.wait_for(3s);
  });
  auto client = client_over(srv.connect(), 10s);  // the idle timeout alone would wait 10 s
  auto cfg = test::client_config();
  cfg.handshake_timeout = 300ms;
  const auto start = clock::now();
  EXPECT_EQ(client.run([&] { return client.s().start_tls(client_ctx(cfg), {"localhost"}); }), errc::timeout);
  EXPECT_LT(clock::now() - start, 1400ms);  // the deadline, not the I/O timeout, ended it
  EXPECT_EQ(client.s().current(), stream::state::failed);
  done.set_value();
}

TEST_P(StreamUpgrade, FailedUpgradeIsStickyAndSendsNothingMore) {
  std::size_t after = 0;
  {
    raw_server srv([&after](transport& t) {
      (void)write_all(t, "not tls at all\r\n");
      std::byte buf[4096];
      // Whatever arrives is the ClientHello; then the client must go silent.
      for (int i = 0; i < 50; ++i) {
        auto r = test::read_some_within(t, buf, 2s);
        if (!r.ok() || *r == 0) break;
        after += *r;
      }
    });
    auto client = client_over(srv.connect());
    stream& s = client.s();
    EXPECT_EQ(client.run([&] { return s.start_tls(client_ctx(), {"localhost"}); }), errc::not_tls);
    EXPECT_EQ(s.write("QUIT\r\n"), errc::not_tls);
    EXPECT_EQ(s.read_line(), errc::not_tls);
    (void)client.run([&] { return s.close(); });
  }
  EXPECT_GT(after, 0u);
}

TEST_P(StreamUpgrade, ServerSeesPlaintextClientAsNotTls) {
  auto ends = connect_pair();
  ASSERT_TRUE(write_all(*ends.client, "EHLO i.am.not.tls\r\n").ok());
  test::driven_stream server(GetParam(), std::move(ends.server), io());
  EXPECT_EQ(server.run([&] { return server.s().start_tls(server_ctx()); }), errc::not_tls);
}

TEST_P(StreamUpgrade, ClientDrainsBrieflyAfterAFailureThenCloses) {
  // After refusing the server the client half-closes at once (the server sees
  // the end) and closes fully once close() has drained for a short while.
  raw_server srv([](transport& t) {
    (void)write_all(t, "garbage that is not tls\r\n");
    std::byte buf[4096];
    for (int i = 0; i < 50; ++i) {
      auto r = test::read_some_within(t, buf, 2s);
      if (!r.ok() || *r == 0) break;
    }
  });
  auto client = client_over(srv.connect());
  EXPECT_EQ(client.run([&] { return client.s().start_tls(client_ctx(), {"localhost"}); }), errc::not_tls);
  EXPECT_TRUE(client.run([&] { return client.s().close(); }).ok());
  EXPECT_EQ(client.s().current(), stream::state::closed);
}

}  // namespace
