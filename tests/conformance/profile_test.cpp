// The profiles on the wire and in the result: strict offers only forward secret
// AEAD suites, legacy appends plain RSA after them, both prefer TLS 1.3 and
// x25519, and what gets negotiated between two ends of this backend.
#include <algorithm>

#include "client_hello.hpp"
#include "harness.hpp"

namespace uptls::test {
namespace {

// The client's first flight for cfg, captured on the server's end of a pipe.
std::optional<client_hello> first_flight(const tls_config& cfg) {
  auto c = client_ctx(cfg);
  if (!c) return std::nullopt;
  auto [client_end, server_end] = make_memory_pipe({.capacity = 256 * 1024});
  auto e = new_engine(*c, *client_end, {"localhost"});
  EXPECT_TRUE(e.ok()) << to_string(e);
  if (!e) return std::nullopt;
  // One call: the ClientHello goes out whole, then the client waits for the
  // server's answer (would-block on read, not an error).
  const result<> r = (*e)->handshake();
  EXPECT_TRUE(r.would_block()) << to_string(r);
  EXPECT_EQ(r.wants(), wait_for::read);
  std::vector<std::byte> wire(64 * 1024);
  const result<std::size_t> got = server_end->read_some(wire);
  EXPECT_TRUE(is_ok(got));
  if (!got) return std::nullopt;
  wire.resize(*got);
  auto hello = parse_client_hello(wire);
  EXPECT_TRUE(hello.has_value()) << "not a ClientHello";
  return hello;
}

bool contains(const std::vector<std::uint16_t>& v, std::uint16_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

void expect_modern_versions_only(const client_hello& h) {
  EXPECT_EQ(h.legacy_version, 0x0303) << "TLS 1.2 in the legacy version field";
  for (const auto v : h.supported_versions) {
    EXPECT_TRUE(v == 0x0303 || v == 0x0304 || (v & 0x0F0F) == 0x0A0A) << std::hex << "offers version " << v;
  }
  if (backend_under_test().caps().tls13) {
    EXPECT_TRUE(contains(h.supported_versions, 0x0304));
  }
}

void expect_groups(const client_hello& h) {
  ASSERT_FALSE(h.groups.empty());
  EXPECT_EQ(h.groups.front(), 0x001D) << "x25519 first";
  EXPECT_TRUE(contains(h.groups, 23)) << "secp256r1";
  EXPECT_TRUE(contains(h.groups, 24)) << "secp384r1";
}

TEST(ProfileOnTheWire, StrictOffersOnlyForwardSecretAead) {
  const auto h = first_flight(client_config(profile::strict));
  ASSERT_TRUE(h);
  bool any_ecdhe = false;
  for (const auto id : h->cipher_suites) {
    EXPECT_TRUE(is_tls13_suite(id) || is_ecdhe_aead_suite(id) || is_signalling_suite(id))
        << std::hex << "strict offers suite 0x" << id;
    any_ecdhe = any_ecdhe || is_ecdhe_aead_suite(id);
  }
  EXPECT_TRUE(any_ecdhe) << "TLS 1.2 ECDHE suites for TLS 1.2-only servers";
  if (backend_under_test().caps().tls13) {
    EXPECT_TRUE(std::any_of(h->cipher_suites.begin(), h->cipher_suites.end(), is_tls13_suite));
  }
  expect_modern_versions_only(*h);
  expect_groups(*h);
  EXPECT_TRUE(h->has_sni);
  EXPECT_FALSE(h->has_alpn);
}

TEST(ProfileOnTheWire, LegacyAppendsPlainRsaAfterForwardSecretSuites) {
  if (!backend_under_test().caps().rsa_key_exchange) GTEST_SKIP() << "no RSA key exchange in this backend";
  const auto h = first_flight(client_config(profile::legacy));
  ASSERT_TRUE(h);
  std::size_t last_fs = 0;
  std::size_t first_rsa = h->cipher_suites.size();
  for (std::size_t i = 0; i < h->cipher_suites.size(); ++i) {
    const auto id = h->cipher_suites[i];
    // ECDHE with AES-CBC is tolerated: a library that cannot enable AES-CBC for
    // RSA alone (GnuTLS priorities name families, not suites) offers it too. It
    // is forward secret, so it must still come before every plain RSA suite.
    EXPECT_TRUE(is_tls13_suite(id) || is_ecdhe_aead_suite(id) || is_ecdhe_cbc_suite(id) ||
                is_rsa_kx_legacy_suite(id) || is_signalling_suite(id))
        << std::hex << "legacy offers suite 0x" << id
        << " (legacy = strict's ECDHE AEAD suites, then TLS_RSA_WITH_AES_*; nothing else)";
    if (is_tls13_suite(id) || is_ecdhe_aead_suite(id) || is_ecdhe_cbc_suite(id)) last_fs = i;
    if (is_rsa_kx_legacy_suite(id)) first_rsa = std::min(first_rsa, i);
  }
  EXPECT_TRUE(contains(h->cipher_suites, 0x009C)) << "TLS_RSA_WITH_AES_128_GCM_SHA256";
  EXPECT_TRUE(contains(h->cipher_suites, 0x009D)) << "TLS_RSA_WITH_AES_256_GCM_SHA384";
  EXPECT_LT(last_fs, first_rsa) << "every forward secret suite comes before plain RSA";
  expect_modern_versions_only(*h);
  expect_groups(*h);
}

TEST(ProfileOnTheWire, MinimumTls13OffersOnlyTls13) {
  if (!backend_under_test().caps().tls13) GTEST_SKIP() << "no TLS 1.3 in this backend";
  tls_config cfg = client_config();
  cfg.min_version = tls_version::tls1_3;
  const auto h = first_flight(cfg);
  ASSERT_TRUE(h);
  for (const auto v : h->supported_versions) {
    EXPECT_TRUE(v == 0x0304 || (v & 0x0F0F) == 0x0A0A) << std::hex << v;
  }
}

TEST(ProfileOnTheWire, AlpnIsOfferedOnlyWhenConfigured) {
  if (!backend_under_test().caps().alpn) GTEST_SKIP() << "no ALPN in this backend";
  tls_config cfg = client_config();
  cfg.alpn = {"smtp"};
  const auto h = first_flight(cfg);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->has_alpn);
}

// What two ends of this backend agree on, for every pair of profiles.
struct negotiation {
  profile client;
  profile server;
  bool cap12;  // the client stops at TLS 1.2
};

class Negotiation : public ::testing::TestWithParam<negotiation> {};

TEST_P(Negotiation, ForwardSecretAeadAndTheBestVersion) {
  const negotiation n = GetParam();
  const capabilities& caps = backend_under_test().caps();
  if ((n.client == profile::legacy || n.server == profile::legacy) && !caps.rsa_key_exchange) {
    GTEST_SKIP() << "no legacy profile (RSA key exchange) in this backend";
  }
  tls_config cc = client_config(n.client);
  if (n.cap12) cc.max_version = tls_version::tls1_2;
  auto c = client_ctx(cc);
  auto s = server_ctx(server_config("server-rsa", n.server));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  const session_info cs = p.client->session();
  EXPECT_EQ(cs.suite.name, p.server->session().suite.name);
  EXPECT_TRUE(cs.forward_secret) << "a forward secret suite wins whenever both sides have one";
  EXPECT_EQ(cs.group, named_group::x25519);
  if (caps.tls13 && !n.cap12) {
    EXPECT_EQ(cs.version, tls_version::tls1_3);
    EXPECT_EQ(cs.kx, key_exchange::ecdhe);
    EXPECT_TRUE(cs.suite.name == "TLS_AES_128_GCM_SHA256" || cs.suite.name == "TLS_AES_256_GCM_SHA384" ||
                cs.suite.name == "TLS_CHACHA20_POLY1305_SHA256")
        << cs.suite.name;
  } else {
    EXPECT_EQ(cs.version, tls_version::tls1_2);
    EXPECT_EQ(cs.kx, key_exchange::ecdhe);
    EXPECT_EQ(cs.suite.name.rfind("TLS_ECDHE_RSA_WITH_", 0), 0u) << cs.suite.name;
    EXPECT_TRUE(cs.suite.name.find("_GCM_") != std::string::npos ||
                cs.suite.name.find("CHACHA20_POLY1305") != std::string::npos)
        << cs.suite.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Profiles, Negotiation,
    ::testing::Values(negotiation{profile::strict, profile::strict, false},
                      negotiation{profile::strict, profile::strict, true},
                      negotiation{profile::legacy, profile::legacy, false},
                      negotiation{profile::legacy, profile::legacy, true},
                      negotiation{profile::legacy, profile::strict, true},
                      negotiation{profile::strict, profile::legacy, true}),
    [](const auto& info) {
      return std::string(to_string(info.param.client)) + "_client_" + std::string(to_string(info.param.server)) +
             "_server" + (info.param.cap12 ? "_tls12" : "_best");
    });

TEST(NegotiationEdges, EcdsaCertificateGivesEcdsaSuitesInTls12) {
  tls_config cc = client_config();
  cc.max_version = tls_version::tls1_2;
  auto c = client_ctx(cc);
  auto s = server_ctx(server_config("server-ecdsa"));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_EQ(p.client->session().suite.name.rfind("TLS_ECDHE_ECDSA_WITH_", 0), 0u) << p.client->session().suite.name;
}

TEST(NegotiationEdges, ServerCappedAtTls12IsStillReached) {
  auto c = client_ctx(client_config());
  tls_config sc = server_config();
  sc.max_version = tls_version::tls1_2;
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_EQ(p.client->session().version, tls_version::tls1_2);
  EXPECT_EQ(p.client->session().kx, key_exchange::ecdhe);
}

TEST(NegotiationEdges, NoCommonVersionIsProtocolVersion) {
  if (!backend_under_test().caps().tls13) GTEST_SKIP() << "no TLS 1.3 in this backend";
  tls_config cc = client_config();
  cc.min_version = tls_version::tls1_3;
  tls_config sc = server_config();
  sc.max_version = tls_version::tls1_2;
  auto c = client_ctx(cc);
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  const handshake_results r = handshake_both(p);
  EXPECT_EQ(r.server, errc::protocol_version) << to_string(r.server);
  EXPECT_EQ(r.client, errc::protocol_version) << to_string(r.client);
  EXPECT_EQ(p.client->failure().alert_received, 70);
}

}  // namespace
}  // namespace uptls::test
