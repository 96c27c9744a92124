// The classification on its own: which endings allow the next rung. It sees only the
// portable error and the wire facts, so these cases hold for every backend.
#include <gtest/gtest.h>

#include "uptls/fallback.hpp"

namespace uptls {
namespace {

failure_info alert(int n, bool seen = false) {
  failure_info f;
  f.alert_received = n;
  f.server_handshake_seen = seen;
  return f;
}

failure_info eof_first() {
  failure_info f;
  f.eof_before_server_hello = true;
  return f;
}

bool allows(attempt_stage st, errc e, const failure_info& f, bool eof_trigger = false) {
  return classify_failure(st, make_error_code(e), f, eof_trigger).allows_next;
}

TEST(Classify, Alert40BeforeServerHandshakeAllowsNext) {
  const auto v = classify_failure(attempt_stage::handshake, errc::handshake_failure, alert(40), false);
  EXPECT_TRUE(v.allows_next);
  EXPECT_EQ(v.why, "fatal alert 40 (handshake_failure) before the server's first handshake message: policy mismatch");
}

TEST(Classify, Alert71BeforeServerHandshakeAllowsNext) {
  const auto v = classify_failure(attempt_stage::handshake, errc::insufficient_security, alert(71), false);
  EXPECT_TRUE(v.allows_next);
  EXPECT_NE(v.why.find("71"), std::string_view::npos);
}

TEST(Classify, PolicyAlertAfterServerHandshakeIsFinal) {
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::handshake_failure, alert(40, true)));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::insufficient_security, alert(71, true)));
  EXPECT_EQ(classify_failure(attempt_stage::handshake, errc::handshake_failure, alert(40, true), true).why,
            "the failure came after the server's first handshake message: never retried");
}

TEST(Classify, ErrorAndAlertMustAgree) {
  // The errc alone (a local failure, no alert) or an alert under another errc is not enough.
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::handshake_failure, failure_info{}));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::handshake_failure, alert(71)));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::insufficient_security, alert(40)));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::peer_alert, alert(40)));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::peer_alert, alert(47)));
}

TEST(Classify, OtherAlertsAreFinal) {
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::protocol_version, alert(70)));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::inappropriate_fallback, alert(86)));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::no_application_protocol, alert(120)));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::cert_rejected_by_peer, alert(42)));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::bad_message, alert(10)));
}

TEST(Classify, CertificateErrorsAreFinal) {
  for (errc e : {errc::cert_expired, errc::cert_not_yet_valid, errc::cert_untrusted, errc::cert_self_signed,
                 errc::cert_name_mismatch, errc::cert_invalid, errc::cert_required, errc::cert_rejected_by_peer}) {
    const auto v = classify_failure(attempt_stage::handshake, e, failure_info{}, true);
    EXPECT_FALSE(v.allows_next) << to_string(e);
    EXPECT_EQ(v.why, "certificate and name errors are never retried") << to_string(e);
  }
}

TEST(Classify, TransportErrorsAreFinal) {
  for (errc e : {errc::timeout, errc::connection_reset, errc::connection_refused, errc::network}) {
    EXPECT_FALSE(allows(attempt_stage::handshake, e, failure_info{}, true)) << to_string(e);
    EXPECT_FALSE(allows(attempt_stage::handshake, e, eof_first(), true)) << to_string(e);
  }
}

TEST(Classify, EofBeforeServerHelloOnlyWhenOptedIn) {
  const auto off = classify_failure(attempt_stage::handshake, errc::eof, eof_first(), false);
  EXPECT_FALSE(off.allows_next);
  EXPECT_EQ(off.why, "the server closed the connection before ServerHello; EOF is a trigger only with eof_is_trigger");
  const auto on = classify_failure(attempt_stage::handshake, errc::eof, eof_first(), true);
  EXPECT_TRUE(on.allows_next);
  EXPECT_NE(on.why.find("caller's choice"), std::string_view::npos);
}

TEST(Classify, EofAfterServerBytesIsFinalEvenOptedIn) {
  failure_info f;  // bytes came, then EOF: not "before ServerHello"
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::eof, f, true));
  f.server_handshake_seen = true;
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::eof, f, true));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::truncated, eof_first(), true));
}

TEST(Classify, NonHandshakeStagesAreFinal) {
  // The same facts that allow the next rung in a handshake do not elsewhere.
  for (attempt_stage st : {attempt_stage::connect, attempt_stage::prelude, attempt_stage::checks}) {
    EXPECT_FALSE(allows(st, errc::handshake_failure, alert(40))) << to_string(st);
    EXPECT_FALSE(allows(st, errc::eof, eof_first(), true)) << to_string(st);
  }
  EXPECT_FALSE(allows(attempt_stage::prelude, errc::starttls_not_offered, failure_info{}));
  EXPECT_FALSE(allows(attempt_stage::prelude, errc::starttls_refused, failure_info{}));
  EXPECT_FALSE(allows(attempt_stage::connect, errc::connection_refused, failure_info{}));
}

TEST(Classify, InjectionAndNotTlsAreFinal) {
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::plaintext_injection, failure_info{}, true));
  EXPECT_FALSE(allows(attempt_stage::handshake, errc::not_tls, eof_first(), true));
}

TEST(Classify, ForeignCategoryWithTheSameNumberIsFinal) {
  // EACCES has the number of errc::handshake_failure; only the uptls category counts.
  const std::error_code foreign = std::make_error_code(std::errc::permission_denied);
  ASSERT_EQ(foreign.value(), static_cast<int>(errc::handshake_failure));
  EXPECT_FALSE(classify_failure(attempt_stage::handshake, foreign, alert(40), true).allows_next);
}

TEST(Classify, SuccessIsNotATrigger) {
  EXPECT_FALSE(classify_failure(attempt_stage::done, {}, failure_info{}, true).allows_next);
  EXPECT_FALSE(classify_failure(attempt_stage::handshake, {}, alert(40), true).allows_next);
}

}  // namespace
}  // namespace uptls
