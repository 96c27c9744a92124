// A man in the middle against the ladder: forged alerts, pins, a bad certificate,
// resets and silence. None of them may buy a weaker session.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "ladder_support.hpp"

namespace uptls::test {
namespace {

class Attack : public ::testing::Test {
 protected:
  const backend& b = backend_under_test();
  std::vector<rung> strict_then_legacy() const { return {{&b, profile::strict}, {&b, profile::legacy}}; }
  // The whole ladder the backend can run: strict, then legacy where it has RSA.
  std::vector<rung> full_ladder() const {
    return has_rsa(b) ? strict_then_legacy() : std::vector<rung>{{&b, profile::strict}};
  }
};

TEST_F(Attack, ForgedAlertInFrontOfModernServerIsAnAnomaly) {
  if (!has_rsa(b)) GTEST_SKIP() << b.name() << " has no RSA key exchange";
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.tamper(relay::mode::forge_alert, 1);
  int observed = 0;
  auto req = request_to(mitm.port(), strict_then_legacy());
  req.observer = [&](const attempt_report&) { ++observed; };
  fallback_result res = connect_with_fallback(req);

  EXPECT_FALSE(res.ok());  // no stream, not even the forward-secret one
  const fallback_report& r = res.report;
  EXPECT_EQ(r.error, errc::fallback_anomaly);
  EXPECT_EQ(mitm.connections(), 2);
  EXPECT_EQ(observed, 2);
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_FALSE(r.winner.has_value());
  const attempt_report& first = r.attempts[0];
  EXPECT_EQ(first.error, errc::handshake_failure);
  EXPECT_EQ(first.failure.alert_received, 40);
  EXPECT_FALSE(first.failure.server_handshake_seen);
  EXPECT_TRUE(first.allows_next);
  const attempt_report& second = r.attempts[1];
  EXPECT_EQ(second.stage, attempt_stage::checks);
  EXPECT_EQ(second.error, errc::fallback_anomaly);
  EXPECT_FALSE(second.allows_next);
  ASSERT_TRUE(second.session.has_value());
  EXPECT_TRUE(second.session->forward_secret);

  const session_info& s = *second.session;
  const std::string group = (s.group == named_group::none) ? std::string() : " " + std::string(to_string(s.group));
  EXPECT_EQ(r.to_string(),
            alert40_line(1, 2, b, first.failure, alert40_next) + "\n" + "attempt 2/2 " +
                rung_text(b, profile::legacy) + ": connected: " + std::string(to_string(s.version)) + " " + s.suite.name +
                " (" + std::string(to_string(s.kx)) + group +
                ", forward secret), refused: fallback_anomaly -> stop: the permissive retry negotiated a "
                "forward-secret suite, so the strict failure was not the server's policy (possible attack); session "
                "closed\noutcome 127.0.0.1:" + std::to_string(mitm.port()) +
                ": failed: fallback_anomaly: attempt 2 (" + rung_text(b, profile::legacy) +
                ") negotiated a forward-secret suite after attempt 1 (" + rung_text(b, profile::strict) +
                ") failed as a policy mismatch: possible attack, nothing handed back");
  std::cout << r.to_string() << "\n";  // for the test log: what a caller's log shows
}

TEST_F(Attack, ForgedInsufficientSecurityIsAnAnomalyToo) {
  if (!has_rsa(b)) GTEST_SKIP() << b.name() << " has no RSA key exchange";
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.set_alert(71);
  mitm.tamper(relay::mode::forge_alert, 1);
  const fallback_result res = connect_with_fallback(request_to(mitm.port(), strict_then_legacy()));
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::fallback_anomaly);
  ASSERT_EQ(res.report.attempts.size(), 2u);
  EXPECT_EQ(res.report.attempts[0].error, errc::insufficient_security);
  EXPECT_EQ(res.report.attempts[0].failure.alert_received, 71);
  EXPECT_TRUE(res.report.attempts[0].allows_next);
}

TEST_F(Attack, ForgedAlertAgainstPinnedHostIsAPinnedDowngrade) {
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  pin_store pins;
  auto req = request_to(mitm.port(), full_ladder());
  req.pins = &pins;
  ASSERT_TRUE(connect_with_fallback(req).ok());  // a strict handshake pins the host
  ASSERT_TRUE(pins.is_pinned("127.0.0.1", mitm.port()));

  mitm.tamper(relay::mode::forge_alert, 1);
  const fallback_result res = connect_with_fallback(req);
  EXPECT_FALSE(res.ok());
  const fallback_report& r = res.report;
  EXPECT_EQ(r.error, errc::pinned_downgrade);
  EXPECT_TRUE(r.was_pinned);
  EXPECT_EQ(mitm.connections(), 1);  // no retry
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].error, errc::handshake_failure);
  EXPECT_FALSE(r.attempts[0].allows_next);
  const std::string where = "127.0.0.1:" + std::to_string(mitm.port());
  EXPECT_EQ(r.to_string(),
            alert40_line(1, r.attempts[0].rungs, b, r.attempts[0].failure,
                         "stop: " + where +
                             " is pinned strict, no fallback (fatal alert 40 (handshake_failure) before the server's "
                             "first handshake message: policy mismatch)") +
                "\noutcome " + where + " (pinned strict): failed: pinned_downgrade: " + where +
                " is pinned strict and attempt 1 (" + rung_text(b, profile::strict) +
                ") failed as a policy mismatch: possible downgrade attack, no retry");
}

TEST_F(Attack, PinFileProtectsTheNextProgramRun) {
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  const auto file = std::filesystem::temp_directory_path() /
                    ("uptls-attack-pins-" + std::to_string(::getpid()) + "-" + std::string(b.name()));
  std::filesystem::remove(file);
  {
    pin_store pins(file);
    auto req = request_to(mitm.port(), full_ladder());
    req.pins = &pins;
    ASSERT_TRUE(connect_with_fallback(req).ok());
  }
  pin_store reloaded(file);  // as a later run of the program would
  mitm.tamper(relay::mode::forge_alert, 1);
  auto req = request_to(mitm.port(), full_ladder());
  req.pins = &reloaded;
  const fallback_result res = connect_with_fallback(req);
  std::filesystem::remove(file);
  EXPECT_EQ(res.report.error, errc::pinned_downgrade);
  EXPECT_EQ(mitm.connections(), 1);
}

TEST_F(Attack, ForgedProtocolVersionIsNotRetried) {
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.set_alert(70);
  mitm.tamper(relay::mode::forge_alert, 1);
  const fallback_result res = connect_with_fallback(request_to(mitm.port(), full_ladder()));
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::protocol_version);
  EXPECT_EQ(mitm.connections(), 1);
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_EQ(res.report.attempts[0].failure.alert_received, 70);
  EXPECT_EQ(res.report.attempts[0].why, "protocol_version: the next rung has the same versions, never retried");
}

TEST_F(Attack, ForgedInappropriateFallbackIsNotRetried) {
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.set_alert(86);
  mitm.tamper(relay::mode::forge_alert, 1);
  const fallback_result res = connect_with_fallback(request_to(mitm.port(), full_ladder()));
  EXPECT_EQ(res.report.error, errc::inappropriate_fallback);
  EXPECT_EQ(mitm.connections(), 1);
}

TEST_F(Attack, ExpiredCertificateIsNotRetried) {
  auto srv = start_openssl_modern("expired");
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  const fallback_result res = connect_with_fallback(request_to(mitm.port(), full_ladder()));
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::cert_expired) << res.report.to_string();
  EXPECT_EQ(mitm.connections(), 1);
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_TRUE(res.report.attempts[0].failure.server_handshake_seen);
  EXPECT_EQ(res.report.attempts[0].why, "certificate and name errors are never retried");
}

TEST_F(Attack, WrongHostIsNotRetried) {
  auto srv = start_openssl_modern("wronghost");
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  const fallback_result res = connect_with_fallback(request_to(mitm.port(), full_ladder()));
  EXPECT_EQ(res.report.error, errc::cert_name_mismatch) << res.report.to_string();
  EXPECT_EQ(mitm.connections(), 1);
}

TEST_F(Attack, ResetIsNotRetried) {
  auto srv = start_openssl_rsa_only();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.tamper(relay::mode::reset, 1);
  const fallback_result res = connect_with_fallback(request_to(mitm.port(), full_ladder()));
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::connection_reset) << res.report.to_string();
  EXPECT_EQ(mitm.connections(), 1);
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_EQ(res.report.attempts[0].stage, attempt_stage::handshake);
  EXPECT_EQ(res.report.attempts[0].why, "resets, timeouts and network errors are never retried");
}

TEST_F(Attack, SilenceTimesOutAndIsNotRetried) {
  auto srv = start_openssl_rsa_only();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.tamper(relay::mode::silent, 1);
  auto req = request_to(mitm.port(), full_ladder());
  req.stream_opts.io_timeout = 300ms;
  req.base.handshake_timeout = 2s;
  const fallback_result res = connect_with_fallback(req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::timeout) << res.report.to_string();
  EXPECT_EQ(mitm.connections(), 1);
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_GE(res.report.attempts[0].elapsed, 250ms);
}

TEST_F(Attack, HangUpBeforeServerHelloIsRetriedOnlyWhenOptedIn) {
  if (!has_rsa(b)) GTEST_SKIP() << b.name() << " has no RSA key exchange";
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  mitm.tamper(relay::mode::hang_up, 1);
  const fallback_result off = connect_with_fallback(request_to(mitm.port(), strict_then_legacy()));
  EXPECT_EQ(off.report.error, errc::eof) << off.report.to_string();
  EXPECT_EQ(mitm.connections(), 1);
  ASSERT_EQ(off.report.attempts.size(), 1u);
  EXPECT_TRUE(off.report.attempts[0].failure.eof_before_server_hello);
  EXPECT_FALSE(off.report.attempts[0].allows_next);

  // Opted in, the same hang-up buys a retry, and the retry's forward secrecy gives the attacker away.
  mitm.tamper(relay::mode::hang_up, 1);
  auto req = request_to(mitm.port(), strict_then_legacy());
  req.eof_is_trigger = true;
  const fallback_result on = connect_with_fallback(req);
  EXPECT_EQ(on.report.error, errc::fallback_anomaly) << on.report.to_string();
  EXPECT_EQ(mitm.connections(), 2);
  EXPECT_FALSE(on.ok());
}

}  // namespace
}  // namespace uptls::test
