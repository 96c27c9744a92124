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
};

scripted against_raw(role side, const std::string& bytes, bool then_eof) {
  scripted s;
  s.ctx = side == role::client ? client_ctx(client_config()) : server_ctx(server_config());
  if (!s.ctx) return s;
  // Bounded: an engine that waits for more than the script holds fails with
  // timeout instead of hanging.
  auto [a, b] = make_memory_pipe({milliseconds{5'000}, 256 * 1024});
  s.ours = std::move(a);
  s.raw = std::move(b);
  if (!bytes.empty()) {
    EXPECT_FALSE(write_all(*s.raw, std::as_bytes(std::span(bytes.data(), bytes.size()))));
  }
  if (then_eof) s.raw->shutdown_write();
  auto e = s.ctx->make_engine(*s.ours, {side == role::client ? "localhost" : ""});
  EXPECT_TRUE(e.ok());
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
  const op_result r = s.e->handshake();
  ASSERT_EQ(r.status, tls_status::error);
  EXPECT_EQ(r.error, c.expected) << name_of(r.error) << ": " << s.e->failure().text;
  EXPECT_EQ(s.e->failure().alert_received, c.alert);
  EXPECT_EQ(s.e->handshake().error, r.error) << "sticky";
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
  const op_result r = s.e->handshake();
  ASSERT_EQ(r.status, tls_status::error);
  EXPECT_EQ(r.error, errc::not_tls) << name_of(r.error) << ": " << s.e->failure().text;
}

TEST(HostilePeer, PlaintextCommandIsNotTlsForTheServer) {
  for (const char* text : {"EHLO client.example\r\n", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"}) {
    SCOPED_TRACE(text);
    scripted s = against_raw(role::server, text, false);
    ASSERT_TRUE(s.e);
    const op_result r = s.e->handshake();
    ASSERT_EQ(r.status, tls_status::error);
    EXPECT_EQ(r.error, errc::not_tls) << name_of(r.error) << ": " << s.e->failure().text;
  }
}

TEST(HostilePeer, GarbageHandshakeRecordIsABadMessage) {
  // A complete record holding a complete handshake message: a ServerHello of 4
  // bytes, far too short to hold its random, session id and suite.
  const std::string rec{'\x16', '\x03', '\x03', '\x00', '\x08', '\x02', '\x00', '\x00', '\x04',
                        '\x03', '\x03', '\x00', '\x00'};
  scripted s = against_raw(role::client, rec, true);
  ASSERT_TRUE(s.e);
  const op_result r = s.e->handshake();
  ASSERT_EQ(r.status, tls_status::error);
  EXPECT_EQ(r.error, errc::bad_message) << name_of(r.error) << ": " << s.e->failure().text;
}

TEST(HostilePeer, ImmediateEndIsEndOfStreamNotACertificateOrPolicyError) {
  for (const role side : {role::client, role::server}) {
    SCOPED_TRACE(to_string(side));
    scripted s = against_raw(side, "", true);
    ASSERT_TRUE(s.e);
    const op_result r = s.e->handshake();
    ASSERT_EQ(r.status, tls_status::error);
    EXPECT_EQ(r.error, errc::eof) << name_of(r.error);
  }
}

TEST(HostilePeer, SilentPeerIsATimeout) {
  scripted s = against_raw(role::client, "", false);
  ASSERT_TRUE(s.e);
  s.ours->set_deadline(clock::now() + milliseconds{200});
  const op_result r = s.e->handshake();
  ASSERT_EQ(r.status, tls_status::error);
  EXPECT_EQ(r.error, errc::timeout) << name_of(r.error);
}

TEST(HostilePeer, ResetDuringTheHandshakeIsConnectionReset) {
  scripted s = against_raw(role::client, "", false);
  ASSERT_TRUE(s.e);
  s.raw->close();
  const op_result r = s.e->handshake();
  ASSERT_EQ(r.status, tls_status::error);
  // The ClientHello cannot be written: the reader went away.
  EXPECT_EQ(r.error, errc::connection_reset) << name_of(r.error);
}

}  // namespace
}  // namespace uptls::test
