// The ladder over SMTP STARTTLS against aiosmtpd: a legacy server that hangs up on a
// strict ClientHello without an alert (EOF), and STARTTLS attacks on the path.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ladder_support.hpp"
#include "smtp_prelude.hpp"

namespace uptls::test {
namespace {

class Starttls : public ::testing::Test {
 protected:
  const backend& b = backend_under_test();
  std::vector<rung> strict_then_legacy() const { return {{&b, profile::strict}, {&b, profile::legacy}}; }
  std::vector<rung> full_ladder() const {
    return has_rsa(b) ? strict_then_legacy() : std::vector<rung>{{&b, profile::strict}};
  }
  fallback_request smtp_request(std::uint16_t port, std::vector<rung> ladder) const {
    return smtp_request_to(port, std::move(ladder));
  }
};

TEST_F(Starttls, StrictAgainstLegacySmtpEndsOnEofWithoutRetry) {
  auto srv = start_smtpd("legacy");
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);  // untouched; counts connections
  const fallback_result res = connect_with_fallback(smtp_request(mitm.port(), full_ladder()));
  EXPECT_FALSE(res.ok());
  const fallback_report& r = res.report;
  EXPECT_EQ(r.error, errc::eof) << r.to_string();
  EXPECT_EQ(mitm.connections(), 1);
  ASSERT_EQ(r.attempts.size(), 1u);
  const attempt_report& a = r.attempts[0];
  EXPECT_EQ(a.stage, attempt_stage::handshake);
  EXPECT_TRUE(a.failure.eof_before_server_hello);
  EXPECT_EQ(a.failure.alert_received, -1);
  EXPECT_FALSE(a.failure.server_handshake_seen);
  EXPECT_FALSE(a.allows_next);
  const std::string text = r.to_string();
  EXPECT_NE(text.find(": handshake failed: eof (peer closed the connection" + sent_part(a.failure) +
                      "; EOF before ServerHello"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(" -> stop: the server closed the connection before ServerHello; EOF is a trigger only with "
                      "eof_is_trigger"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\noutcome 127.0.0.1:" + std::to_string(mitm.port()) + ": failed: eof: attempt 1 (" +
                      rung_text(b, profile::strict) + ") failed in a way that is never retried"),
            std::string::npos)
      << text;
}

TEST_F(Starttls, EofOptInFallsBackToLegacyOverStarttls) {
  if (!has_rsa(b)) GTEST_SKIP() << b.name() << " has no RSA key exchange";
  auto srv = start_smtpd("legacy");
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  auto req = smtp_request(mitm.port(), strict_then_legacy());
  req.eof_is_trigger = true;
  fallback_result res = connect_with_fallback(req);
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  const fallback_report& r = res.report;
  EXPECT_EQ(mitm.connections(), 2);
  ASSERT_EQ(r.attempts.size(), 2u);
  const attempt_report& first = r.attempts[0];
  EXPECT_EQ(first.error, errc::eof);
  EXPECT_TRUE(first.failure.eof_before_server_hello);
  EXPECT_TRUE(first.allows_next);
  const std::string expected =
      "attempt 1/2 " + rung_text(b, profile::strict) +
      ": handshake failed: eof (peer closed the connection" + sent_part(first.failure) + "; EOF before ServerHello" +
      library_part(first.failure) +
      ") -> next rung: the server closed the connection before ServerHello (EOF is a trigger by the caller's "
      "choice)\n" +
      legacy_rsa_win_line(2, 2, b) + "\noutcome 127.0.0.1:" + std::to_string(mitm.port()) + ": ok: attempt 2 (" +
      rung_text(b, profile::legacy) + ") won after a fallback from attempt 1 (" + rung_text(b, profile::strict) + ")";
  EXPECT_EQ(r.to_string(), expected);
  expect_ehlo_over_tls(*res.connection);
  (void)res.connection->close();
  // Each connection replayed the whole prelude, then began its handshake.
  for (int n = 1; n <= 2; ++n) {
    EXPECT_EQ(mitm.client_sent(n).rfind("EHLO client.test\r\nSTARTTLS\r\n\x16", 0), 0u) << n;
  }
}

TEST_F(Starttls, StrippedStarttlsStopsAfterEhlo) {
  auto srv = start_smtpd("legacy");
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.tamper(relay::mode::strip_starttls, 0);
  auto req = smtp_request(mitm.port(), full_ladder());
  req.eof_is_trigger = true;  // even opted in: a prelude failure is never a trigger
  const fallback_result res = connect_with_fallback(req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::starttls_not_offered) << res.report.to_string();
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_EQ(res.report.attempts[0].stage, attempt_stage::prelude);
  EXPECT_EQ(mitm.connections(), 1);
  EXPECT_EQ(mitm.client_sent(1), "EHLO client.test\r\n");  // nothing but EHLO reached the server
  EXPECT_NE(res.report.to_string().find(
                "prelude failed: starttls_not_offered (server does not offer STARTTLS) -> stop: the plaintext "
                "dialogue failed (STARTTLS missing or refused, or a bad reply): never retried"),
            std::string::npos)
      << res.report.to_string();
}

TEST_F(Starttls, InjectionAfterTheGoAheadIsNotRetried) {
  auto srv = start_smtpd("legacy");
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.set_injection("220 Ready", "250 injected\r\n");
  mitm.tamper(relay::mode::inject, 0);
  auto req = smtp_request(mitm.port(), full_ladder());
  req.eof_is_trigger = true;
  const fallback_result res = connect_with_fallback(req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::plaintext_injection) << res.report.to_string();
  EXPECT_EQ(res.report.attempts.size(), 1u);
  EXPECT_EQ(mitm.connections(), 1);
  // Not a byte of TLS went out after the injection was seen.
  EXPECT_EQ(mitm.client_sent(1), "EHLO client.test\r\nSTARTTLS\r\n");
}

TEST_F(Starttls, PlaintextWhereTheServerHelloWasDueIsAnInjection) {
  // Plaintext that comes after the go-ahead, in place of the server's hello (not
  // in the same read as the 220): the stream names it an injection, as it does
  // for bytes behind the 220 line, and the ladder never retries it.
  auto srv = start_smtpd("legacy");
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.set_injection("", "454 4.7.0 TLS not available due to temporary reason\r\n");
  mitm.tamper(relay::mode::plaintext_reply, 0);
  auto req = smtp_request(mitm.port(), full_ladder());
  req.eof_is_trigger = true;  // even opted in: plaintext is no refusal of a profile
  const fallback_result res = connect_with_fallback(req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::plaintext_injection) << res.report.to_string();
  ASSERT_EQ(res.report.attempts.size(), 1u);
  const attempt_report& a = res.report.attempts[0];
  EXPECT_EQ(a.stage, attempt_stage::handshake);
  EXPECT_EQ(a.error, errc::plaintext_injection);
  EXPECT_FALSE(a.failure.server_handshake_seen);
  EXPECT_FALSE(a.allows_next);
  EXPECT_EQ(a.why, "plaintext arrived after the go-ahead, before the handshake (possible injection): never retried");
  EXPECT_EQ(mitm.connections(), 1);
  // The ClientHello was answered by the man in the middle, never forwarded.
  EXPECT_EQ(mitm.client_sent(1), "EHLO client.test\r\nSTARTTLS\r\n");
}

TEST_F(Starttls, PlaintextServerOnAnImplicitTlsRequestIsNotTls) {
  // A port mix-up: implicit TLS asked of an SMTP server that greets in plaintext.
  // On a fresh connection (no go-ahead read) that is not_tls, not an injection,
  // and never retried.
  auto srv = start_smtpd("legacy");
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);  // untouched; counts connections
  auto req = request_to(mitm.port(), full_ladder());  // before_tls = implicit_tls()
  req.eof_is_trigger = true;
  const fallback_result res = connect_with_fallback(req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::not_tls) << res.report.to_string();
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_EQ(res.report.attempts[0].stage, attempt_stage::handshake);
  EXPECT_EQ(res.report.attempts[0].error, errc::not_tls);
  EXPECT_FALSE(res.report.attempts[0].allows_next);
  EXPECT_EQ(res.report.attempts[0].why, "this failure is never retried");
  EXPECT_EQ(mitm.connections(), 1);
}

TEST_F(Starttls, ForgedAlertBeforeModernSmtpIsAnAnomaly) {
  if (!has_rsa(b)) GTEST_SKIP() << b.name() << " has no RSA key exchange";
  auto srv = start_smtpd("modern");
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.tamper(relay::mode::forge_alert, 1);
  const fallback_result res = connect_with_fallback(smtp_request(mitm.port(), strict_then_legacy()));
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::fallback_anomaly) << res.report.to_string();
  EXPECT_EQ(mitm.connections(), 2);
}

TEST_F(Starttls, StrictWinsAgainstModernSmtp) {
  auto srv = start_smtpd("modern");
  UPTLS_REQUIRE_PEER(srv);
  fallback_result res = connect_with_fallback(smtp_request(srv.port, full_ladder()));
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  EXPECT_FALSE(res.report.fell_back());
  EXPECT_TRUE(res.report.attempts[0].session->forward_secret);
  expect_ehlo_over_tls(*res.connection);
}

}  // namespace
}  // namespace uptls::test
