// The ladder against real RSA-only servers (openssl s_server, gnutls-serv) and a
// modern one, with the backend under test on every rung.
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "ladder_support.hpp"

namespace uptls::test {
namespace {

class Ladder : public ::testing::Test {
 protected:
  const backend& b = backend_under_test();
  std::vector<rung> strict_then_legacy() const { return {{&b, profile::strict}, {&b, profile::legacy}}; }
};

// Writes a line and reads it back from an echo server, proving the stream is usable.
void expect_echo(stream& s) {
  ASSERT_EQ(s.write("ladder says hello\n"), std::error_code{});  // ok (the stream handed back blocks)
  const result<std::string_view> line = s.read_line();
  ASSERT_TRUE(line.ok()) << to_string(line);
  EXPECT_EQ(*line, "ladder says hello");
}

TEST_F(Ladder, StrictAloneFailsWithAlert40FromOpensslRsaOnly) {
  auto srv = start_openssl_rsa_only();
  UPTLS_REQUIRE_PEER(srv);
  int seen = 0;
  auto req = request_to(srv.port, {{&b, profile::strict}});
  req.observer = [&](const attempt_report&) { ++seen; };
  const fallback_result res = connect_with_fallback(req);

  ASSERT_FALSE(res.ok());
  const fallback_report& r = res.report;
  EXPECT_EQ(r.error, errc::handshake_failure);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(seen, 1);
  const attempt_report& a = r.attempts[0];
  EXPECT_EQ(a.stage, attempt_stage::handshake);
  EXPECT_EQ(a.error, errc::handshake_failure);
  EXPECT_EQ(a.failure.alert_received, 40);
  EXPECT_EQ(a.failure.alert_sent, -1);
  EXPECT_FALSE(a.failure.server_handshake_seen);
  EXPECT_FALSE(a.failure.eof_before_server_hello);
  EXPECT_FALSE(a.session.has_value());
  EXPECT_FALSE(a.allows_next);  // it would, but there is no next rung
  EXPECT_FALSE(r.winner.has_value());
  EXPECT_EQ(r.to_string(),
            alert40_line(1, 1, b, a.failure,
                         "stop: fatal alert 40 (handshake_failure) before the server's first handshake message: "
                         "policy mismatch; no rung left") +
                "\noutcome 127.0.0.1:" + std::to_string(srv.port) + ": failed: handshake_failure: attempt 1 (" +
                rung_text(b, profile::strict) + ") failed and no rung is left");
}

TEST_F(Ladder, FallsBackToLegacyAgainstOpensslRsaOnly) {
  if (!has_rsa(b)) GTEST_SKIP() << b.name() << " has no RSA key exchange";
  auto srv = start_openssl_rsa_only();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);  // untouched: it only counts the connections
  std::vector<attempt_report> observed;
  auto req = request_to(mitm.port(), strict_then_legacy());
  req.observer = [&](const attempt_report& a) { observed.push_back(a); };
  fallback_result res = connect_with_fallback(req);

  ASSERT_TRUE(res.ok()) << res.report.to_string();
  const fallback_report& r = res.report;
  EXPECT_FALSE(r.error);
  EXPECT_EQ(mitm.connections(), 2);  // a fresh connection for each rung
  ASSERT_EQ(r.attempts.size(), 2u);
  ASSERT_EQ(observed.size(), 2u);
  EXPECT_EQ(observed[0].to_string(), r.attempts[0].to_string());
  EXPECT_EQ(observed[1].to_string(), r.attempts[1].to_string());
  EXPECT_TRUE(r.fell_back());
  ASSERT_TRUE(r.winner.has_value());
  EXPECT_EQ(*r.winner, 1u);
  EXPECT_FALSE(r.was_pinned);

  const attempt_report& first = r.attempts[0];
  EXPECT_EQ(first.backend, b.name());
  EXPECT_EQ(first.security, profile::strict);
  EXPECT_EQ(first.stage, attempt_stage::handshake);
  EXPECT_EQ(first.error, errc::handshake_failure);
  EXPECT_EQ(first.failure.alert_received, 40);
  EXPECT_EQ(first.failure.alert_sent, -1);
  EXPECT_FALSE(first.failure.server_handshake_seen);
  EXPECT_TRUE(first.allows_next);

  const attempt_report& second = r.attempts[1];
  EXPECT_EQ(second.security, profile::legacy);
  EXPECT_EQ(second.stage, attempt_stage::done);
  EXPECT_FALSE(second.error);
  ASSERT_TRUE(second.session.has_value());
  EXPECT_EQ(second.session->version, tls_version::tls1_2);
  EXPECT_EQ(second.session->suite.name, "TLS_RSA_WITH_AES_128_GCM_SHA256");
  EXPECT_EQ(second.session->kx, key_exchange::rsa);
  EXPECT_FALSE(second.session->forward_secret);
  EXPECT_TRUE(second.session->verified);
  EXPECT_EQ(second.session->backend, b.name());

  const std::string expected = alert40_line(1, 2, b, first.failure, alert40_next) + "\n" +
                               legacy_rsa_win_line(2, 2, b) + "\noutcome 127.0.0.1:" + std::to_string(mitm.port()) +
                               ": ok: attempt 2 (" + rung_text(b, profile::legacy) + ") won after a fallback from attempt 1 (" +
                               rung_text(b, profile::strict) + ")";
  EXPECT_EQ(r.to_string(), expected);
  std::cout << r.to_string() << "\n";  // for the test log: what a caller's log shows

  // The stream handed back is live TLS: s_server prints what it decrypts.
  stream& s = *res.connection;
  ASSERT_TRUE(s.is_tls());
  ASSERT_EQ(s.write("hello through the ladder\n"), std::error_code{});
  EXPECT_TRUE(srv.process->wait_for_output("hello through the ladder", 5s));
}

TEST_F(Ladder, FallsBackToLegacyAgainstGnutlsRsaOnly) {
  if (!has_rsa(b)) GTEST_SKIP() << b.name() << " has no RSA key exchange";
  auto srv = start_gnutls_rsa_only();
  UPTLS_REQUIRE_PEER(srv);
  fallback_result res = connect_with_fallback(request_to(srv.port, strict_then_legacy()));
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  const fallback_report& r = res.report;
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_EQ(r.attempts[0].error, errc::handshake_failure);
  EXPECT_EQ(r.attempts[0].failure.alert_received, 40);
  EXPECT_TRUE(r.attempts[0].allows_next);
  ASSERT_TRUE(r.attempts[1].session.has_value());
  EXPECT_EQ(r.attempts[1].session->kx, key_exchange::rsa);
  EXPECT_FALSE(r.attempts[1].session->forward_secret);
  EXPECT_EQ(r.to_string(), alert40_line(1, 2, b, r.attempts[0].failure, alert40_next) + "\n" +
                               "attempt 2/2 " + rung_text(b, profile::legacy) + ": connected: TLSv1.2 " +
                               r.attempts[1].session->suite.name +
                               " (RSA, not forward secret) -> won: legacy session after a policy fallback, not "
                               "forward secret\noutcome 127.0.0.1:" + std::to_string(srv.port) + ": ok: attempt 2 (" +
                               rung_text(b, profile::legacy) + ") won after a fallback from attempt 1 (" +
                               rung_text(b, profile::strict) + ")");
  expect_echo(*res.connection);
}

TEST_F(Ladder, StrictWinsAgainstModernServerAndPinsIt) {
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  pin_store pins;
  std::vector<rung> ladder = {{&b, profile::strict}};
  if (has_rsa(b)) ladder.push_back({&b, profile::legacy});
  auto req = request_to(mitm.port(), ladder);
  req.pins = &pins;
  fallback_result res = connect_with_fallback(req);
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  EXPECT_EQ(mitm.connections(), 1);  // the legacy rung never ran
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_FALSE(res.report.fell_back());
  EXPECT_TRUE(res.report.attempts[0].session->forward_secret);
  EXPECT_TRUE(pins.is_pinned("127.0.0.1", mitm.port()));
  EXPECT_FALSE(res.report.pin_error);
  const std::string line = res.report.attempts[0].to_string();
  EXPECT_NE(line.find(" -> won: strict handshake completed; 127.0.0.1:" + std::to_string(mitm.port()) +
                      " pinned strict"),
            std::string::npos)
      << line;
  EXPECT_NE(res.report.to_string().find("\noutcome 127.0.0.1:" + std::to_string(mitm.port()) + ": ok: attempt 1 (" +
                                        rung_text(b, profile::strict) + ") won"),
            std::string::npos);

  // Pinned now: the next ladder still wins strict and says it was pinned. (s_server
  // serves one client at a time: let the first one go.)
  (void)res.connection->close();
  fallback_result again = connect_with_fallback(req);
  ASSERT_TRUE(again.ok()) << again.report.to_string();
  EXPECT_TRUE(again.report.was_pinned);
  EXPECT_NE(again.report.to_string().find("(pinned strict): ok"), std::string::npos);
}

TEST_F(Ladder, LegacyFirstIsNeitherCheckedNorPinned) {
  if (!has_rsa(b)) GTEST_SKIP() << b.name() << " has no RSA key exchange";
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  pin_store pins;
  auto req = request_to(srv.port, {{&b, profile::legacy}});
  req.pins = &pins;
  fallback_result res = connect_with_fallback(req);
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  // A legacy client offers forward secrecy first; landing on it is no anomaly when
  // nothing failed before, and a legacy handshake proves nothing to pin.
  EXPECT_TRUE(res.report.attempts[0].session->forward_secret);
  EXPECT_EQ(pins.size(), 0u);
}

TEST_F(Ladder, RefusedLaddersDialNothing) {
  auto srv = start_openssl_rsa_only();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  const auto refused = [&](std::vector<rung> ladder, std::error_code want, const std::string& why) {
    EXPECT_EQ(check_ladder(ladder), want);
    const fallback_result res = connect_with_fallback(request_to(mitm.port(), std::move(ladder)));
    EXPECT_FALSE(res.ok());
    EXPECT_EQ(res.report.error, want) << res.report.to_string();
    EXPECT_TRUE(res.report.attempts.empty());
    EXPECT_EQ(res.report.why, "refused before dialling: " + why);
  };
  refused({}, errc::usage, "the ladder is empty");
  refused({{&b, profile::strict}, {&b, profile::strict}}, errc::usage,
          "rung 2 (" + rung_text(b, profile::strict) + ") is not more permissive than rung 1 (" +
              rung_text(b, profile::strict) + ")");
  refused({{nullptr, profile::strict}}, errc::unsupported, "rung 1 names no backend compiled into this build");
  if (has_rsa(b)) {
    refused({{&b, profile::legacy}, {&b, profile::strict}}, errc::usage,
            "rung 2 (" + rung_text(b, profile::strict) + ") is not more permissive than rung 1 (" +
                rung_text(b, profile::legacy) + ")");
    refused({{&b, profile::legacy}, {&b, profile::legacy}}, errc::usage,
            "rung 2 (" + rung_text(b, profile::legacy) + ") is not more permissive than rung 1 (" +
                rung_text(b, profile::legacy) + ")");
  } else {
    refused({{&b, profile::strict}, {&b, profile::legacy}}, errc::unsupported,
            "rung 2 asks for legacy on " + std::string(b.name()) + ", which has no RSA key exchange");
  }
  EXPECT_EQ(mitm.connections(), 0);

  // A setting the backend refuses stops the ladder before the first dial, even when
  // only a later rung would have used it.
  auto bad = request_to(mitm.port(), {{&b, profile::strict}});
  bad.base.ca_file = cert("no-such-ca.pem");
  fallback_result res = connect_with_fallback(bad);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::invalid_config) << res.report.to_string();
  EXPECT_TRUE(res.report.attempts.empty());
  EXPECT_NE(res.report.why.find("the backend refused the configuration"), std::string::npos);

  auto no_host = request_to(mitm.port(), {{&b, profile::strict}});
  no_host.host.clear();
  EXPECT_EQ(connect_with_fallback(no_host).report.error, errc::usage);
  auto no_prelude = request_to(mitm.port(), {{&b, profile::strict}});
  no_prelude.before_tls = nullptr;
  EXPECT_EQ(connect_with_fallback(no_prelude).report.error, errc::usage);
  EXPECT_EQ(mitm.connections(), 0);
}

TEST_F(Ladder, ConnectionRefusedIsNotRetried) {
  const std::uint16_t nobody = free_port();
  std::vector<rung> ladder = {{&b, profile::strict}};
  if (has_rsa(b)) ladder.push_back({&b, profile::legacy});
  const fallback_result res = connect_with_fallback(request_to(nobody, ladder));
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::connection_refused);
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_EQ(res.report.attempts[0].stage, attempt_stage::connect);
  EXPECT_EQ(res.report.attempts[0].to_string(),
            "attempt 1/" + std::to_string(ladder.size()) + " " + rung_text(b, profile::strict) +
                ": connect failed: connection_refused (connection refused) -> stop: connection failures are never "
                "retried");
}

TEST_F(Ladder, PreludeFailureIsNotRetried) {
  if (!has_rsa(b)) GTEST_SKIP() << b.name() << " has no RSA key exchange";
  auto srv = start_openssl_rsa_only();
  UPTLS_REQUIRE_PEER(srv);
  relay mitm(srv.port);
  auto req = request_to(mitm.port(), strict_then_legacy());
  // Says STARTTLS, sees it sent (the ladder's stream does not block: flush may
  // have to be called again), then gives up as a refused STARTTLS would.
  req.before_tls = prelude_of([said = false](stream& s) mutable -> result<> {
    if (!said) {
      said = true;
      if (const result<> w = s.write("STARTTLS\r\n"); !w) return w;
    }
    if (const result<> f = s.flush(); !f) return f;
    return errc::starttls_refused;
  });
  const fallback_result res = connect_with_fallback(req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::starttls_refused);
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_EQ(res.report.attempts[0].stage, attempt_stage::prelude);
  EXPECT_EQ(mitm.connections(), 1);
  EXPECT_EQ(mitm.client_sent(1), "STARTTLS\r\n");  // and no TLS byte after it
}

TEST_F(Ladder, PreludeMustLeaveTheUpgradeToTheLadder) {
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  auto req = request_to(srv.port, {{&b, profile::strict}});
  auto ctx = b.make_context(req.base, role::client);
  ASSERT_TRUE(ctx.ok()) << to_string(ctx);
  // A prelude that upgrades the stream itself (resumed until its handshake ends):
  // the ladder must refuse the session it did not make.
  req.before_tls = prelude_of([ctx = *ctx](stream& s) { return s.start_tls(ctx, {"localhost"}); });
  const fallback_result res = connect_with_fallback(req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::usage);
  EXPECT_EQ(res.report.attempts.at(0).stage, attempt_stage::prelude);
}

}  // namespace
}  // namespace uptls::test
