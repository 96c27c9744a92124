// The report's text, from hand-made attempts: one line per attempt, then the outcome.
#include <gtest/gtest.h>

#include "uptls/fallback.hpp"

namespace uptls {
namespace {

// A library category as a backend would have one.
class fake_library_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "somelib"; }
  std::string message(int) const override { return "somelib error"; }
};
const fake_library_category somelib;

attempt_report strict_alert40() {
  attempt_report a;
  a.rung = 0;
  a.rungs = 2;
  a.backend = "somelib";
  a.security = profile::strict;
  a.stage = attempt_stage::handshake;
  a.error = errc::handshake_failure;
  a.failure.library = std::error_code(1040, somelib);
  a.failure.text = "sslv3 alert handshake failure\n(SSL alert number 40)";
  a.failure.alert_received = 40;
  a.allows_next = true;
  a.why = "fatal alert 40 (handshake_failure) before the server's first handshake message: policy mismatch";
  return a;
}

attempt_report legacy_rsa() {
  attempt_report a;
  a.rung = 1;
  a.rungs = 2;
  a.backend = "otherlib";
  a.security = profile::legacy;
  a.stage = attempt_stage::done;
  session_info s;
  s.version = tls_version::tls1_2;
  s.suite.name = "TLS_RSA_WITH_AES_128_GCM_SHA256";
  s.kx = key_exchange::rsa;
  s.forward_secret = false;
  a.session = s;
  a.why = "legacy session after a policy fallback, not forward secret";
  return a;
}

TEST(Report, FailedHandshakeLine) {
  EXPECT_EQ(strict_alert40().to_string(),
            "attempt 1/2 somelib strict: handshake failed: handshake_failure (TLS handshake failure: no parameters in "
            "common; alert 40 received; somelib 1040: \"sslv3 alert handshake failure (SSL alert number 40)\") -> next "
            "rung: fatal alert 40 (handshake_failure) before the server's first handshake message: policy mismatch");
}

TEST(Report, WireFactsAndTextWithoutLibraryCode) {
  attempt_report a;
  a.rungs = 1;
  a.backend = "somelib";
  a.stage = attempt_stage::handshake;
  a.error = errc::eof;
  a.failure.text = "unexpected eof\r\n";
  a.failure.alert_sent = 50;
  a.failure.server_handshake_seen = true;
  a.failure.eof_before_server_hello = true;
  a.why = "x";
  EXPECT_EQ(a.to_string(),
            "attempt 1/1 somelib strict: handshake failed: eof (peer closed the connection; alert 50 sent; after the "
            "server's first handshake message; EOF before ServerHello; \"unexpected eof\") -> stop: x");
}

TEST(Report, ConnectAndPreludeLines) {
  attempt_report a;
  a.rungs = 2;
  a.backend = "somelib";
  a.stage = attempt_stage::connect;
  a.error = errc::connection_refused;
  a.why = "connection failures are never retried";
  EXPECT_EQ(a.to_string(),
            "attempt 1/2 somelib strict: connect failed: connection_refused (connection refused) -> stop: connection "
            "failures are never retried");
  a.stage = attempt_stage::prelude;
  a.error = std::make_error_code(std::errc::broken_pipe);
  a.why.clear();
  EXPECT_EQ(a.to_string(), "attempt 1/2 somelib strict: prelude failed: generic:32 (Broken pipe) -> stop");
}

TEST(Report, WinningSessionLine) {
  EXPECT_EQ(legacy_rsa().to_string(),
            "attempt 2/2 otherlib legacy: connected: TLSv1.2 TLS_RSA_WITH_AES_128_GCM_SHA256 (RSA, not forward "
            "secret) -> won: legacy session after a policy fallback, not forward secret");
}

TEST(Report, RefusedSessionLine) {
  attempt_report a = legacy_rsa();
  a.stage = attempt_stage::checks;
  a.error = errc::fallback_anomaly;
  a.session->version = tls_version::tls1_3;
  a.session->suite.name = "TLS_AES_128_GCM_SHA256";
  a.session->kx = key_exchange::ecdhe;
  a.session->group = named_group::x25519;
  a.session->forward_secret = true;
  a.why = "anomaly";
  EXPECT_EQ(a.to_string(),
            "attempt 2/2 otherlib legacy: connected: TLSv1.3 TLS_AES_128_GCM_SHA256 (ECDHE x25519, forward secret), "
            "refused: fallback_anomaly -> stop: anomaly");
}

TEST(Report, WholeReport) {
  fallback_report r;
  r.host = "mail.example";
  r.port = 465;
  r.attempts = {strict_alert40(), legacy_rsa()};
  r.winner = 1;
  r.why = "attempt 2 (otherlib legacy) won after a fallback from attempt 1 (somelib strict)";
  EXPECT_TRUE(r.fell_back());
  EXPECT_EQ(r.to_string(), strict_alert40().to_string() + "\n" + legacy_rsa().to_string() + "\n" +
                               "outcome mail.example:465: ok: attempt 2 (otherlib legacy) won after a fallback from "
                               "attempt 1 (somelib strict)");
}

TEST(Report, FailedOutcomeWithPinAndPinError) {
  fallback_report r;
  r.host = "mail.example";
  r.port = 25;
  r.was_pinned = true;
  r.error = errc::pinned_downgrade;
  r.why = "w";
  r.pin_error = std::make_error_code(std::errc::read_only_file_system);
  EXPECT_FALSE(r.fell_back());
  EXPECT_EQ(r.to_string(),
            "outcome mail.example:25 (pinned strict): failed: pinned_downgrade: w; pin file not written: Read-only "
            "file system");
}

TEST(Report, StageNames) {
  EXPECT_EQ(to_string(attempt_stage::connect), "connect");
  EXPECT_EQ(to_string(attempt_stage::prelude), "prelude");
  EXPECT_EQ(to_string(attempt_stage::handshake), "handshake");
  EXPECT_EQ(to_string(attempt_stage::checks), "checks");
  EXPECT_EQ(to_string(attempt_stage::done), "done");
}

}  // namespace
}  // namespace uptls
