// Every backend's SMTP client against every backend's SMTP server, both profiles,
// RSA and ECDSA server certificates, with and without TLS 1.3: the STARTTLS
// compatibility matrix.
#include <gtest/gtest.h>

#include <tuple>

#include "harness.hpp"

namespace uptls::test::smtp {
namespace {

struct cell {
  const backend* client_side;
  const backend* server_side;
  profile security;
  std::string leaf;
  bool cap12;  // the client allows TLS 1.2 at most
};

std::vector<cell> all_cells() {
  std::vector<cell> out;
  for (const backend* c : backends()) {
    for (const backend* s : backends()) {
      for (const profile p : {profile::strict, profile::legacy}) {
        for (const char* leaf : {"server-rsa", "server-ecdsa"}) {
          for (const bool cap12 : {false, true}) out.push_back({c, s, p, leaf, cap12});
        }
      }
    }
  }
  return out;
}

std::string cell_name(const testing::TestParamInfo<cell>& info) {
  std::string leaf = info.param.leaf.substr(7);  // "rsa" / "ecdsa"
  return std::string(info.param.client_side->name()) + "_to_" + std::string(info.param.server_side->name()) + "_" +
         std::string(to_string(info.param.security)) + "_" + leaf + (info.param.cap12 ? "_tls12" : "");
}

class SmtpMatrix : public testing::TestWithParam<cell> {};

// The forward-secret AEAD suites both profiles prefer; legacy's RSA suites come
// after them, so two uptls peers never land on RSA key exchange.
bool strict_suite(const std::string& cipher) {
  static const std::vector<std::string> allowed = {
      "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"};
  return std::find(allowed.begin(), allowed.end(), cipher) != allowed.end();
}

TEST_P(SmtpMatrix, StarttlsDelivers) {
  const cell& c = GetParam();
  for (const backend* b : {c.client_side, c.server_side}) {
    if (c.security == profile::legacy && !b->caps().rsa_key_exchange) {
      GTEST_SKIP() << b->name() << " has no RSA key exchange, so no legacy profile";
    }
  }
  uptls::smtp::server_options o;
  o.tls = make_ctx(*c.server_side, server_config(c.leaf, c.security), role::server);
  server_run srv(o);
  client cl(client_to(srv.port()), uptls::smtp::client_options{});
  tls_config ccfg = client_config(c.security);
  if (c.cap12) ccfg.max_version = tls_version::tls1_2;
  ASSERT_EQ(cl.open(make_ctx(*c.client_side, ccfg, role::client), peer_options{"localhost"}), std::error_code{});
  ASSERT_EQ(cl.send_mail("matrix@example.org", {"rcpt@example.org"}, "matrix\r\n"), std::error_code{});
  EXPECT_EQ(cl.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});

  const session_info* mine = cl.connection().session();
  ASSERT_NE(mine, nullptr);
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  const session_info& theirs = got[0].session;
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(mine->backend, c.client_side->name());
  EXPECT_EQ(theirs.backend, c.server_side->name());

  const bool both13 = !c.cap12 && c.client_side->caps().tls13 && c.server_side->caps().tls13;
  const tls_version want = both13 ? tls_version::tls1_3 : tls_version::tls1_2;
  EXPECT_EQ(mine->version, want);
  EXPECT_EQ(theirs.version, want);
  EXPECT_EQ(mine->suite.name, theirs.suite.name);
  EXPECT_TRUE(strict_suite(mine->suite.name)) << mine->suite.name;
  if (want == tls_version::tls1_2) {
    const std::string auth = c.leaf == "server-rsa" ? "_RSA_" : "_ECDSA_";
    EXPECT_NE(mine->suite.name.find(auth), std::string::npos) << mine->suite.name;
    EXPECT_EQ(mine->kx, key_exchange::ecdhe);
  } else {
    EXPECT_EQ(mine->kx, key_exchange::ecdhe);
  }
  EXPECT_TRUE(mine->forward_secret);
  EXPECT_TRUE(mine->verified);
  EXPECT_EQ(mine->group, theirs.group);
  EXPECT_EQ(mine->group, named_group::x25519);  // first in every profile's list
}

INSTANTIATE_TEST_SUITE_P(AllPairs, SmtpMatrix, testing::ValuesIn(all_cells()), cell_name);

}  // namespace
}  // namespace uptls::test::smtp
