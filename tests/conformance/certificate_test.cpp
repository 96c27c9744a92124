// Certificate checks give the same errc on every backend, the failed engine is
// unusable, and the server hears about it through an alert.
#include "harness.hpp"

namespace uptls::test {
namespace {

struct bad_cert {
  const char* leaf;
  errc expected;
};

class BadServerCertificate : public ::testing::TestWithParam<bad_cert> {};

bool is_cert_alert(int a) { return (a >= 42 && a <= 46) || a == 48; }

TEST_P(BadServerCertificate, ClientRefusesWithTheNamedErrorAndServerHearsOfIt) {
  const bad_cert b = GetParam();
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config(b.leaf));
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  const handshake_results r = handshake_both(p);
  ASSERT_TRUE(r.client.failed()) << to_string(r.client);
  EXPECT_EQ(r.client, b.expected) << to_string(r.client) << ": " << p.client->failure().text;

  // Unusable after: the same error from every call, at once; no data moves.
  std::byte buf[8]{};
  EXPECT_EQ(p.client->handshake(), r.client.error());
  EXPECT_EQ(p.client->write(buf), r.client.error());
  EXPECT_EQ(p.client->read(buf), r.client.error());
  EXPECT_EQ(p.client->close(), r.client.error());

  // The client told the server with a certificate alert.
  ASSERT_TRUE(r.server.failed()) << to_string(r.server);
  EXPECT_EQ(r.server, errc::cert_rejected_by_peer) << to_string(r.server) << ": " << p.server->failure().text;
  EXPECT_TRUE(is_cert_alert(p.server->failure().alert_received)) << p.server->failure().alert_received;
  if (p.client->failure().alert_sent >= 0) {
    EXPECT_EQ(p.server->failure().alert_received, p.client->failure().alert_sent)
        << "what one side sent is what the other received";
  }
}

INSTANTIATE_TEST_SUITE_P(Leaves, BadServerCertificate,
                         ::testing::Values(bad_cert{"expired", errc::cert_expired},
                                           bad_cert{"notyet", errc::cert_not_yet_valid},
                                           bad_cert{"wronghost", errc::cert_name_mismatch},
                                           bad_cert{"untrusted", errc::cert_untrusted},
                                           bad_cert{"selfsigned", errc::cert_self_signed}),
                         [](const auto& info) { return std::string(info.param.leaf); });

TEST(ServerName, AnotherHostNameIsAMismatch) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair(), "mail.example.org");
  const handshake_results r = handshake_both(p);
  EXPECT_EQ(r.client, errc::cert_name_mismatch) << to_string(r.client);
}

TEST(ServerName, PartialWildcardOrSuffixIsNotAMatch) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(c && s);
  for (const char* name : {"localhost.evil.example", "xlocalhost", "sub.localhost"}) {
    SCOPED_TRACE(name);
    engine_pair p = make_engines(*c, *s, memory_pair(), name);
    const handshake_results r = handshake_both(p);
    EXPECT_EQ(r.client, errc::cert_name_mismatch) << to_string(r.client);
  }
}

TEST(ServerName, IpAddressesAreCheckedAgainstIpNames) {
  if (!backend_under_test().caps().ip_address_names) GTEST_SKIP() << "no IP address names in this backend";
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(c && s);
  for (const char* ip : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(ip);
    engine_pair p = connected(*c, *s, memory_pair(), ip);
    ASSERT_TRUE(p.client && p.server);
    EXPECT_TRUE(p.client->session().verified);
    EXPECT_TRUE(p.client->session().sni.empty()) << "no SNI for an address (RFC 6066)";
    EXPECT_TRUE(p.server->session().sni.empty());
  }
  for (const char* ip : {"127.0.0.2", "::2"}) {
    SCOPED_TRACE(ip);
    engine_pair p = make_engines(*c, *s, memory_pair(), ip);
    const handshake_results r = handshake_both(p);
    EXPECT_EQ(r.client, errc::cert_name_mismatch) << to_string(r.client);
  }
}

TEST(ServerName, AnAddressDoesNotMatchADnsName) {
  if (!backend_under_test().caps().ip_address_names) GTEST_SKIP() << "no IP address names in this backend";
  // wronghost.pem has only DNS:wrong.example; an address must not match it or its CN.
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("wronghost"));
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair(), "127.0.0.1");
  const handshake_results r = handshake_both(p);
  EXPECT_EQ(r.client, errc::cert_name_mismatch) << to_string(r.client);
}

TEST(Trust, TheSystemStoreDoesNotKnowTheTestCa) {
  if (!backend_under_test().caps().system_trust) GTEST_SKIP() << "no system trust store in this backend";
  tls_config cc = client_config();
  cc.ca_file.clear();
  cc.system_trust = true;
  auto c = client_ctx(cc);
  auto s = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair());
  const handshake_results r = handshake_both(p);
  EXPECT_EQ(r.client, errc::cert_untrusted) << to_string(r.client);
}

TEST(Trust, CaFileAndSystemStoreTogether) {
  if (!backend_under_test().caps().system_trust) GTEST_SKIP() << "no system trust store in this backend";
  tls_config cc = client_config();
  cc.system_trust = true;
  auto c = client_ctx(cc);
  auto s = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_TRUE(p.client->session().verified);
}

TEST(Trust, DangerousSkipVerificationConnectsButSaysUnverified) {
  tls_config cc = client_config();
  cc.dangerous_skip_verification = true;
  auto c = client_ctx(cc);
  auto s = server_ctx(server_config("selfsigned"));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair(), "localhost");
  ASSERT_TRUE(p.client && p.server);
  EXPECT_FALSE(p.client->session().verified);
  const session_info cs = p.client->session();
  ASSERT_NE(cs.peer_certificate(), nullptr);
  EXPECT_NE(cs.peer_certificate()->subject.find("CN=localhost"), std::string::npos) << cs.peer_certificate()->subject;
}

}  // namespace
}  // namespace uptls::test
