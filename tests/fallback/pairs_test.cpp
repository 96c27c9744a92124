// Ladders of two different backends: every ordered pair of compiled backends, the
// first strict, the second legacy, against an RSA-only openssl s_server.
#include <gtest/gtest.h>

#include <string>

#include "ladder_support.hpp"

namespace uptls::test {
namespace {

TEST(Pairs, EveryTwoBackendLadderFallsBackAgainstRsaOnly) {
  const auto all = backends();
  if (all.size() < 2) GTEST_SKIP() << "only one backend is compiled in";
  auto srv = start_openssl_rsa_only();
  UPTLS_REQUIRE_PEER(srv);
  int ran = 0;
  for (const backend* strict : all) {
    for (const backend* legacy : all) {
      if (strict == legacy || !has_rsa(*legacy)) continue;
      SCOPED_TRACE(std::string(strict->name()) + " strict, then " + std::string(legacy->name()) + " legacy");
      fallback_result res =
          connect_with_fallback(request_to(srv.port, {{strict, profile::strict}, {legacy, profile::legacy}}));
      ASSERT_TRUE(res.ok()) << res.report.to_string();
      const fallback_report& r = res.report;
      ASSERT_EQ(r.attempts.size(), 2u);
      EXPECT_EQ(r.attempts[0].backend, strict->name());
      EXPECT_EQ(r.attempts[0].error, errc::handshake_failure);
      EXPECT_EQ(r.attempts[0].failure.alert_received, 40);
      EXPECT_TRUE(r.attempts[0].allows_next);
      EXPECT_EQ(r.attempts[1].backend, legacy->name());
      ASSERT_TRUE(r.attempts[1].session.has_value());
      EXPECT_EQ(r.attempts[1].session->backend, legacy->name());
      EXPECT_EQ(r.attempts[1].session->suite.name, "TLS_RSA_WITH_AES_128_GCM_SHA256");
      EXPECT_EQ(r.to_string(), alert40_line(1, 2, *strict, r.attempts[0].failure, alert40_next) + "\n" +
                                   legacy_rsa_win_line(2, 2, *legacy) + "\noutcome 127.0.0.1:" +
                                   std::to_string(srv.port) + ": ok: attempt 2 (" +
                                   rung_text(*legacy, profile::legacy) + ") won after a fallback from attempt 1 (" +
                                   rung_text(*strict, profile::strict) + ")");
      // The stream works: s_server prints what it decrypts.
      const std::string marker = "pair " + std::string(strict->name()) + " " + std::string(legacy->name());
      ASSERT_EQ(res.connection->write(marker + "\n"), std::error_code{});
      EXPECT_TRUE(srv.process->wait_for_output(marker, 5s));
      (void)res.connection->close();
      ++ran;
    }
  }
  EXPECT_GT(ran, 0) << "no backend pair has RSA key exchange on its second rung";
}

}  // namespace
}  // namespace uptls::test
