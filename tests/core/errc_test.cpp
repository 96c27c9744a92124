#include <gtest/gtest.h>

#include <set>
#include <string>

#include "uptls/errc.hpp"

using uptls::errc;

TEST(Errc, CategoryIsUptls) {
  const std::error_code ec = errc::cert_expired;
  EXPECT_STREQ(ec.category().name(), "uptls");
  EXPECT_EQ(ec, make_error_code(errc::cert_expired));
  EXPECT_NE(ec, make_error_code(errc::cert_untrusted));
}

TEST(Errc, EveryCodeHasADistinctNameAndMessage) {
  std::set<std::string> names;
  std::set<std::string> messages;
  for (int v = static_cast<int>(errc::usage); v <= static_cast<int>(errc::internal); ++v) {
    const auto e = static_cast<errc>(v);
    const std::string name(uptls::to_string(e));
    EXPECT_NE(name, "unknown") << v;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    const std::string msg = make_error_code(e).message();
    EXPECT_EQ(msg.find("unknown uptls error"), std::string::npos) << v;
    EXPECT_TRUE(messages.insert(msg).second) << "duplicate message " << msg;
  }
}

TEST(Errc, UnknownValuesAreNamedAsSuch) {
  const std::error_code ec(9999, uptls::category());
  EXPECT_NE(ec.message().find("9999"), std::string::npos);
  EXPECT_EQ(uptls::to_string(static_cast<errc>(9999)), "unknown");
}

TEST(Errc, ZeroIsSuccess) {
  const std::error_code ok;
  EXPECT_FALSE(ok);
  EXPECT_TRUE(std::error_code(errc::usage));
}

TEST(Errc, AlertsReadAlikeOnEveryBackend) {
  EXPECT_EQ(uptls::from_alert(40), errc::handshake_failure);
  EXPECT_EQ(uptls::from_alert(70), errc::protocol_version);
  EXPECT_EQ(uptls::from_alert(71), errc::insufficient_security);
  EXPECT_EQ(uptls::from_alert(86), errc::inappropriate_fallback);
  EXPECT_EQ(uptls::from_alert(120), errc::no_application_protocol);
  for (int a : {42, 43, 44, 45, 46, 48}) EXPECT_EQ(uptls::from_alert(a), errc::cert_rejected_by_peer) << a;
  EXPECT_EQ(uptls::from_alert(116), errc::cert_required);
  for (int a : {10, 20, 47, 50, 51, 80}) EXPECT_EQ(uptls::from_alert(a), errc::peer_alert) << a;
}
