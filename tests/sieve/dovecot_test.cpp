// The uptls ManageSieve client, in the program's mode, against a real Dovecot
// managesieve (tests/support/dovecot.hpp): STARTTLS, the capabilities Dovecot
// sends again inside TLS (its SASL mechanisms appear only there), a login and
// LISTSCRIPTS inside TLS, a refused login, and Dovecot with ssl = required
// while the client is opportunistic. Dovecot listens on 127.0.0.2, so that the
// client (from 127.0.0.1) counts as remote and sees what a remote client sees.
#include <gtest/gtest.h>

#include "dovecot.hpp"
#include "sieve_harness.hpp"

namespace uptls::test::sieve {
namespace {

using uptls::sieve::client_options;
using uptls::sieve::status;
using uptls::sieve::tls_mode;

class SieveDovecot : public testing::Test {
 protected:
  // One Dovecot per setting for the whole program (each start takes a moment).
  static dovecot* shared(bool ssl_required) {
    auto& slot = ssl_required ? required_ : plain_;
    if (!slot) {
      dovecot::options o;
      o.address = "127.0.0.2";
      o.ssl_required = ssl_required;
      slot = std::make_unique<dovecot>(o);
      slot->start();
    }
    return slot.get();
  }
  static void TearDownTestSuite() {
    plain_.reset();
    required_.reset();
  }
  static inline std::unique_ptr<dovecot> plain_;
  static inline std::unique_ptr<dovecot> required_;
};

#define UPTLS_SIEVE_DOVECOT(var, required)                    \
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::dovecot);          \
  dovecot* var = nullptr;                                     \
  try {                                                       \
    var = shared(required);                                   \
  } catch (const std::exception& e) {                         \
    FAIL() << e.what();                                       \
  }

TEST_F(SieveDovecot, PreTlsCapabilitiesHaveNoMechanismAndStarttls) {
  UPTLS_SIEVE_DOVECOT(d, false);
  auto conn = client_to(d->ports().sieve, quick(), d->address());
  uptls::sieve::starttls_dialogue dlg{client_options{}};
  ASSERT_EQ(conn.d.run(conn.s, [&] { return dlg.resume(conn.s); }), std::error_code{});
  bool sasl_seen = false;
  bool starttls_seen = false;
  for (const auto& c : dlg.capabilities()) {
    if (c.name == "SASL") {
      sasl_seen = true;
      EXPECT_EQ(c.value, "");  // disable_plaintext_auth: no mechanism before TLS
    }
    starttls_seen = starttls_seen || c.name == "STARTTLS";
  }
  EXPECT_TRUE(sasl_seen);
  EXPECT_TRUE(starttls_seen);
  EXPECT_EQ(dlg.last_response().text, "Begin TLS negotiation now.");
  // Ready for the handshake, nothing buffered.
  EXPECT_EQ(conn.s.buffered(), 0u);
  (void)conn.s.close();
}

TEST_F(SieveDovecot, StarttlsThenLoginAndListscriptsInsideTls) {
  UPTLS_SIEVE_DOVECOT(d, false);
  std::vector<std::string> log;
  client_options o;
  o.trace = [&](std::string_view dir, std::string_view line) { log.push_back(std::string(dir) + ": " + std::string(line)); };
  client c(client_to(d->ports().sieve, quick(), d->address()), o);
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.connection().is_tls());
  EXPECT_EQ(c.capability_value("IMPLEMENTATION").rfind("Dovecot", 0), 0u) << c.capability_value("IMPLEMENTATION");
  EXPECT_EQ(c.capability_value("SASL"), "PLAIN LOGIN");  // only the post-TLS capabilities
  EXPECT_FALSE(c.supports("STARTTLS"));
  EXPECT_TRUE(c.supports("SIEVE"));
  ASSERT_EQ(c.authenticate(d->user(), d->password()), std::error_code{});
  ASSERT_EQ(c.listscripts(), std::error_code{});
  EXPECT_TRUE(c.unit().scripts().empty());
  EXPECT_EQ(c.logout(), std::error_code{});
  // The password never reaches the log.
  for (const auto& l : log) EXPECT_EQ(l.find(d->password()), std::string::npos) << l;
  EXPECT_NE(std::find(log.begin(), log.end(), "S: OK \"TLS negotiation successful.\""), log.end());
}

TEST_F(SieveDovecot, WrongPasswordIsRefusedWithDovecotsWords) {
  UPTLS_SIEVE_DOVECOT(d, false);
  client c(client_to(d->ports().sieve, quick(10s), d->address()));
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.authenticate(d->user(), "not-the-password"), uptls::sieve::make_response_error(status::no));
  EXPECT_EQ(c.unit().last_response().kind, status::no);
  EXPECT_NE(c.unit().last_response().text.find("Authentication failed"), std::string::npos)
      << c.unit().last_response().text;
  EXPECT_EQ(c.logout(), std::error_code{});
}

TEST_F(SieveDovecot, SslRequiredWithAnOpportunisticClientStillUpgrades) {
  UPTLS_SIEVE_DOVECOT(d, true);
  client_options o;
  o.mode = tls_mode::opportunistic;
  client c(client_to(d->ports().sieve, quick(), d->address()), o);
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_FALSE(c.unit().tls_skipped());
  EXPECT_TRUE(c.connection().is_tls());
  ASSERT_EQ(c.authenticate(d->user(), d->password()), std::error_code{});
  EXPECT_EQ(c.logout(), std::error_code{});
}

TEST_F(SieveDovecot, ExpiredCertificateStopsTheClient) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::dovecot);
  dovecot::options opt;
  opt.address = "127.0.0.2";
  opt.leaf = "expired";
  dovecot d(opt);
  try {
    d.start();
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  client c(client_to(d.ports().sieve, quick(), d.address()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::cert_expired);
  EXPECT_FALSE(c.connection().is_tls());
}

}  // namespace
}  // namespace uptls::test::sieve
