// Settings a backend cannot honour are refused with errc::unsupported, settings
// that cannot work with errc::invalid_config; never silently ignored.
#include <fstream>

#include "harness.hpp"

namespace uptls::test {
namespace {

std::error_code refusal(const tls_config& cfg, role side) {
  return backend_under_test().make_context(cfg, side).error();
}

TEST(Config, TheTestConfigsAreAccepted) {
  EXPECT_FALSE(refusal(client_config(), role::client));
  EXPECT_FALSE(refusal(server_config(), role::server));
}

TEST(Config, Tls13OnlyWhereTheBackendHasIt) {
  for (const role side : {role::client, role::server}) {
    tls_config cfg = side == role::client ? client_config() : server_config();
    cfg.min_version = tls_version::tls1_3;
    const std::error_code ec = refusal(cfg, side);
    if (backend_under_test().caps().tls13) {
      EXPECT_FALSE(ec) << name_of(ec);
    } else {
      EXPECT_EQ(ec, errc::unsupported) << name_of(ec);
    }
    cfg.min_version = tls_version::tls1_2;
    cfg.max_version = tls_version::tls1_3;
    EXPECT_EQ(!refusal(cfg, side), backend_under_test().caps().tls13);
  }
}

TEST(Config, MaximumBelowMinimumIsInvalid) {
  if (!backend_under_test().caps().tls13) GTEST_SKIP() << "needs TLS 1.3 to express the inversion";
  tls_config cfg = client_config();
  cfg.min_version = tls_version::tls1_3;
  cfg.max_version = tls_version::tls1_2;
  EXPECT_EQ(refusal(cfg, role::client), errc::invalid_config);
}

TEST(Config, LegacyNeedsRsaKeyExchange) {
  const std::error_code ec = refusal(client_config(profile::legacy), role::client);
  if (backend_under_test().caps().rsa_key_exchange) {
    EXPECT_FALSE(ec) << name_of(ec);
  } else {
    EXPECT_EQ(ec, errc::unsupported);
  }
}

TEST(Config, OptionalFeaturesAreRefusedWhenMissing) {
  const capabilities& caps = backend_under_test().caps();
  tls_config cfg = client_config();
  cfg.alpn = {"smtp"};
  EXPECT_EQ(!refusal(cfg, role::client), caps.alpn);
  cfg = client_config();
  cfg.system_trust = true;
  EXPECT_EQ(!refusal(cfg, role::client), caps.system_trust);
  cfg = client_config();
  cfg.release_buffers = true;
  EXPECT_EQ(!refusal(cfg, role::client), caps.release_buffers);
  cfg = server_config();
  cfg.client_certificates = client_auth::required;
  cfg.ca_file = cert("ca.pem");
  EXPECT_EQ(!refusal(cfg, role::server), caps.client_certificates);
}

TEST(Config, MissingOrUnreadableFilesAreInvalid) {
  tls_config cfg = server_config();
  cfg.key_file = cert("no-such.key");
  EXPECT_EQ(refusal(cfg, role::server), errc::invalid_config);
  cfg = server_config();
  cfg.cert_file = cert("no-such.pem");
  EXPECT_EQ(refusal(cfg, role::server), errc::invalid_config);
  cfg = client_config();
  cfg.ca_file = cert("no-such-ca.pem");
  EXPECT_EQ(refusal(cfg, role::client), errc::invalid_config);
  // A file that exists but holds no PEM at all.
  cfg = server_config();
  cfg.cert_file = cert("stamp");
  EXPECT_EQ(refusal(cfg, role::server), errc::invalid_config);
  cfg = client_config();
  cfg.ca_file = cert("stamp");
  EXPECT_EQ(refusal(cfg, role::client), errc::invalid_config);
  cfg = server_config();
  cfg.key_file = cert("server-rsa.pem");  // a certificate where the key should be
  EXPECT_EQ(refusal(cfg, role::server), errc::invalid_config);
}

TEST(Config, KeyThatDoesNotMatchTheCertificateIsInvalid) {
  tls_config cfg = server_config();
  cfg.key_file = cert("client.key");
  EXPECT_EQ(refusal(cfg, role::server), errc::invalid_config);
  cfg.cert_file = cert("server-ecdsa.pem");
  cfg.key_file = cert("server-rsa.key");
  EXPECT_EQ(refusal(cfg, role::server), errc::invalid_config);
  if (backend_under_test().caps().client_certificates) {
    tls_config cc = client_config();
    cc.cert_file = cert("client.pem");
    cc.key_file = cert("server-rsa.key");
    EXPECT_EQ(refusal(cc, role::client), errc::invalid_config);
  }
}

TEST(Config, MissingPiecesAreInvalid) {
  tls_config cfg = server_config();
  cfg.cert_file.clear();
  cfg.key_file.clear();
  EXPECT_EQ(refusal(cfg, role::server), errc::invalid_config) << "a server needs a certificate";
  cfg = server_config();
  cfg.key_file.clear();
  EXPECT_EQ(refusal(cfg, role::server), errc::invalid_config) << "a certificate without its key";
  cfg = client_config();
  cfg.ca_file.clear();
  EXPECT_EQ(refusal(cfg, role::client), errc::invalid_config) << "a verifying client needs trust";
  cfg = client_config();
  cfg.handshake_timeout = milliseconds{0};
  EXPECT_EQ(refusal(cfg, role::client), errc::invalid_config);
  if (backend_under_test().caps().client_certificates) {
    cfg = server_config();
    cfg.client_certificates = client_auth::required;
    EXPECT_EQ(refusal(cfg, role::server), errc::invalid_config) << "client certificates against what?";
  }
  if (backend_under_test().caps().alpn) {
    cfg = client_config();
    cfg.alpn = {""};
    EXPECT_EQ(refusal(cfg, role::client), errc::invalid_config);
    cfg.alpn = {std::string(256, 'a')};
    EXPECT_EQ(refusal(cfg, role::client), errc::invalid_config);
  }
}

TEST(Config, ContextRemembersItsConfigRoleAndBackend) {
  auto made = backend_under_test().make_context(client_config(profile::strict), role::client);
  ASSERT_TRUE(made.ok());
  EXPECT_EQ((*made)->side(), role::client);
  EXPECT_EQ(&(*made)->owner(), &backend_under_test());
  EXPECT_EQ((*made)->config().ca_file, cert("ca.pem"));
}

TEST(Config, BackendDescribesItself) {
  const backend& b = backend_under_test();
  EXPECT_EQ(find_backend(b.name()), &b);
  EXPECT_FALSE(b.library_version().empty());
}

TEST(Config, OneContextServesManyConnectionsAtOnce) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  std::vector<std::future<bool>> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(in_thread([&] {
      engine_pair p = connected(*c, *s, memory_pair());
      return p.client && p.server && p.client->session().verified;
    }));
  }
  for (auto& r : runs) EXPECT_TRUE(r.get());
}

}  // namespace
}  // namespace uptls::test
