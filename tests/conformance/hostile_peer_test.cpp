// Peers that are not a well-behaved TLS implementation: plaintext where TLS
// was expected, a bare fatal alert instead of a ServerHello, garbage records,
// a connection that ends at once. Raw bytes on one end of a memory pipe.
#include "harness.hpp"

namespace uptls::test {
namespace {

// An engine of the backend under test facing a raw pipe end we script.
struct scripted {
  std::shared_ptr<const context> ctx;
  std::unique_ptr<transport> ours;
  std::unique_ptr<transport> raw;
  std::unique_ptr<engine> e;
  // The handshake run to its end. Bounded: an engine that waits for more than
  // the script holds ends with errc::timeout instead of hanging.
  result<> handshake(milliseconds limit = milliseconds{5'000}) {
    return finish(*ours, [&] { return e->handshake(); }, limit);
  }
};

scripted against_raw(role side, const std::string& bytes, bool then_eof) {
  scripted s;
  s.ctx = side == role::client ? client_ctx(client_config()) : server_ctx(server_config());
  if (!s.ctx) return s;
  auto [a, b] = make_memory_pipe({.capacity = 256 * 1024});
  s.ours = std::move(a);
  s.raw = std::move(b);
  if (!bytes.empty()) {
    EXPECT_TRUE(is_ok(write_all(*s.raw, bytes)));
  }
  if (then_eof) s.raw->shutdown_write();
  auto e = new_engine(*s.ctx, *s.ours, {side == role::client ? "localhost" : ""});
  EXPECT_TRUE(e.ok()) << to_string(e);
  if (e) s.e = std::move(*e);
  return s;
}

std::string alert_record(int description) {
  return std::string{'\x15', '\x03', '\x03', '\x00', '\x02', '\x02', static_cast<char>(description)};
}

struct alert_case {
  int alert;
  errc expected;
};

class EarlyAlert : public ::testing::TestWithParam<alert_case> {};

// A fatal alert instead of a ServerHello: the policy mismatches the fallback
// ladder looks for must come out under their own names on every backend.
TEST_P(EarlyAlert, ClientNamesTheAlert) {
  const alert_case c = GetParam();
  scripted s = against_raw(role::client, alert_record(c.alert), true);
  ASSERT_TRUE(s.e);
  const result<> r = s.handshake();
  ASSERT_TRUE(r.failed()) << to_string(r);
  EXPECT_EQ(r, c.expected) << to_string(r) << ": " << s.e->failure().text;
  EXPECT_EQ(s.e->failure().alert_received, c.alert);
  EXPECT_EQ(s.e->handshake(), r.error()) << "sticky";
}

INSTANTIATE_TEST_SUITE_P(Alerts, EarlyAlert,
                         ::testing::Values(alert_case{40, errc::handshake_failure},
                                           alert_case{70, errc::protocol_version},
                                           alert_case{71, errc::insufficient_security},
                                           alert_case{86, errc::inappropriate_fallback},
                                           alert_case{120, errc::no_application_protocol},
                                           alert_case{42, errc::cert_rejected_by_peer},
                                           alert_case{48, errc::cert_rejected_by_peer},
                                           alert_case{80, errc::peer_alert}),
                         [](const auto& info) { return "alert_" + std::to_string(info.param.alert); });

TEST(HostilePeer, PlaintextGreetingIsNotTlsForTheClient) {
  scripted s = against_raw(role::client, "220 mail.example.org ESMTP ready\r\n", false);
  ASSERT_TRUE(s.e);
  const result<> r = s.handshake();
  ASSERT_TRUE(r.failed()) << to_string(r);
  EXPECT_EQ(r, errc::not_tls) << to_string(r) << ": " << s.e->failure().text;
}

TEST(HostilePeer, PlaintextCommandIsNotTlsForTheServer) {
  for (const char* text : {"EHLO client.example\r\n", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"}) {
    SCOPED_TRACE(text);
    scripted s = against_raw(role::server, text, false);
    ASSERT_TRUE(s.e);
    const result<> r = s.handshake();
    ASSERT_TRUE(r.failed()) << to_string(r);
    EXPECT_EQ(r, errc::not_tls) << to_string(r) << ": " << s.e->failure().text;
  }
}

TEST(HostilePeer, GarbageHandshakeRecordIsABadMessage) {
  // A complete record holding a complete handshake message: a ServerHello of 4
  // bytes, far too short to hold its random, session id and suite.
  const std::string rec{'\x16', '\x03', '\x03', '\x00', '\x08', '\x02', '\x00', '\x00', '\x04',
                        '\x03', '\x03', '\x00', '\x00'};
  scripted s = against_raw(role::client, rec, true);
  ASSERT_TRUE(s.e);
  const result<> r = s.handshake();
  ASSERT_TRUE(r.failed()) << to_string(r);
  EXPECT_EQ(r, errc::bad_message) << to_string(r) << ": " << s.e->failure().text;
}

TEST(HostilePeer, ImmediateEndIsEndOfStreamNotACertificateOrPolicyError) {
  for (const role side : {role::client, role::server}) {
    SCOPED_TRACE(to_string(side));
    scripted s = against_raw(side, "", true);
    ASSERT_TRUE(s.e);
    const result<> r = s.handshake();
    ASSERT_TRUE(r.failed()) << to_string(r);
    EXPECT_EQ(r, errc::eof) << to_string(r);
  }
}

// A silent peer is no error to the engine: it waits (would-block on read, once
// its ClientHello is out) for as long as the peer stays silent, and the
// timeout is the caller's deadline (the stream's handshake_timeout, tested in
// stream_test.cpp; here the driver's).
TEST(HostilePeer, SilentPeerIsWouldBlockUntilTheCallersTimeout) {
  scripted s = against_raw(role::client, "", false);
  ASSERT_TRUE(s.e);
  const result<> first = s.e->handshake();
  ASSERT_TRUE(first.would_block()) << to_string(first);
  EXPECT_EQ(first.wants(), wait_for::read) << "the ClientHello went out; now it waits for the answer";
  std::byte hello[5];
  const result<std::size_t> sent = s.raw->read_some(hello);
  ASSERT_TRUE(is_ok(sent));
  EXPECT_EQ(*sent, sizeof hello);
  EXPECT_EQ(hello[0], std::byte{22}) << "a handshake record";
  const auto start = clock::now();
  const result<> r = s.handshake(milliseconds{200});
  EXPECT_EQ(r, errc::timeout) << to_string(r);
  EXPECT_GE(clock::now() - start, milliseconds{200});
  EXPECT_TRUE(s.e->handshake().would_block()) << "still waiting, not failed: a wait is not an error";
}

TEST(HostilePeer, ResetDuringTheHandshakeIsConnectionReset) {
  scripted s = against_raw(role::client, "", false);
  ASSERT_TRUE(s.e);
  s.raw->close();
  const result<> r = s.handshake();
  ASSERT_TRUE(r.failed()) << to_string(r);
  // The ClientHello cannot be written: the reader went away.
  EXPECT_EQ(r, errc::connection_reset) << to_string(r);
  EXPECT_EQ(s.e->handshake(), errc::connection_reset) << "sticky";
}

}  // namespace
}  // namespace uptls::test
