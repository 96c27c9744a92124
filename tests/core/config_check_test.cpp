// check_config is what makes every backend refuse the same settings the same
// way; it is tested here against capability sets, not against a backend.
#include <gtest/gtest.h>

#include "engine/engine.hpp"
#include "uptls/backend.hpp"

using namespace uptls;
using uptls::detail::check_config;
using uptls::detail::is_ip_literal;

namespace {
capabilities all() {
  capabilities c;
  c.tls13 = c.rsa_key_exchange = c.ip_address_names = c.alpn = c.resumption = true;
  c.client_certificates = c.system_trust = c.release_buffers = c.chacha20 = true;
  return c;
}
tls_config client() {
  tls_config c;
  c.ca_file = "/nonexistent/but/named.pem";
  return c;
}
tls_config server() {
  tls_config c;
  c.cert_file = "cert.pem";
  c.key_file = "key.pem";
  return c;
}
}  // namespace

TEST(CheckConfig, AcceptsPlainClientAndServer) {
  EXPECT_FALSE(check_config(client(), role::client, all()));
  EXPECT_FALSE(check_config(server(), role::server, all()));
}

TEST(CheckConfig, Tls13WithoutCapabilityIsUnsupported) {
  auto caps = all();
  caps.tls13 = false;
  auto c = client();
  c.min_version = tls_version::tls1_3;
  EXPECT_EQ(check_config(c, role::client, caps), errc::unsupported);
  c.min_version = tls_version::tls1_2;
  c.max_version = tls_version::tls1_3;
  EXPECT_EQ(check_config(c, role::client, caps), errc::unsupported);
  c.max_version.reset();  // "the best you can" is honest on a TLS 1.2-only backend
  EXPECT_FALSE(check_config(c, role::client, caps));
}

TEST(CheckConfig, InvertedVersionsAreInvalid) {
  auto c = client();
  c.min_version = tls_version::tls1_3;
  c.max_version = tls_version::tls1_2;
  EXPECT_EQ(check_config(c, role::client, all()), errc::invalid_config);
}

TEST(CheckConfig, MissingCapabilitiesAreRefusedNotIgnored) {
  auto c = client();
  c.alpn = {"smtp"};
  auto caps = all();
  caps.alpn = false;
  EXPECT_EQ(check_config(c, role::client, caps), errc::unsupported);

  c = client();
  c.security = profile::legacy;
  caps = all();
  caps.rsa_key_exchange = false;
  EXPECT_EQ(check_config(c, role::client, caps), errc::unsupported);

  c = client();
  c.release_buffers = true;
  caps = all();
  caps.release_buffers = false;
  EXPECT_EQ(check_config(c, role::client, caps), errc::unsupported);

  c = client();
  c.system_trust = true;
  caps = all();
  caps.system_trust = false;
  EXPECT_EQ(check_config(c, role::client, caps), errc::unsupported);
}

TEST(CheckConfig, BadAlpnNamesAreInvalid) {
  auto c = client();
  c.alpn = {""};
  EXPECT_EQ(check_config(c, role::client, all()), errc::invalid_config);
  c.alpn = {std::string(256, 'x')};
  EXPECT_EQ(check_config(c, role::client, all()), errc::invalid_config);
}

TEST(CheckConfig, ServerNeedsCertificateAndKey) {
  tls_config s;
  EXPECT_EQ(check_config(s, role::server, all()), errc::invalid_config);
  s.cert_file = "cert.pem";
  EXPECT_EQ(check_config(s, role::server, all()), errc::invalid_config);  // key missing
}

TEST(CheckConfig, ClientMustTrustSomethingUnlessVerificationIsOff) {
  tls_config c;
  EXPECT_EQ(check_config(c, role::client, all()), errc::invalid_config);
  c.dangerous_skip_verification = true;
  EXPECT_FALSE(check_config(c, role::client, all()));
}

TEST(CheckConfig, ClientCertificateRequestNeedsTrust) {
  auto s = server();
  s.client_certificates = client_auth::required;
  EXPECT_EQ(check_config(s, role::server, all()), errc::invalid_config);
  s.ca_file = "ca.pem";
  EXPECT_FALSE(check_config(s, role::server, all()));
}

TEST(CheckConfig, PemAndFileForOneItemAreInvalidAndTheReasonNamesTheField) {
  std::string why;
  auto c = client();
  c.ca_pem = "-----BEGIN CERTIFICATE-----";
  EXPECT_EQ(check_config(c, role::client, all(), &why), errc::invalid_config);
  EXPECT_EQ(why.rfind("ca_pem:", 0), 0u) << why;
  auto s = server();
  s.cert_pem = "pem";
  s.key_pem = "pem";
  EXPECT_EQ(check_config(s, role::server, all(), &why), errc::invalid_config);
  EXPECT_NE(why.find("cert_pem"), std::string::npos) << why;
}

TEST(CheckConfig, PemIdentityComesAsAPairAndServesAServer) {
  std::string why;
  tls_config s;
  s.cert_pem = "pem";
  EXPECT_EQ(check_config(s, role::server, all(), &why), errc::invalid_config);
  EXPECT_EQ(why.rfind("key_pem:", 0), 0u) << why;
  s.key_pem = "pem";
  EXPECT_FALSE(check_config(s, role::server, all()));
  tls_config c;
  c.ca_pem = "pem";  // trust from memory is trust enough for a verifying client
  EXPECT_FALSE(check_config(c, role::client, all()));
}

TEST(CheckConfig, KeyPasswordWithoutAKeyIsInvalid) {
  std::string why;
  auto c = client();
  c.key_password = "secret";
  EXPECT_EQ(check_config(c, role::client, all(), &why), errc::invalid_config);
  EXPECT_EQ(why.rfind("key_password:", 0), 0u) << why;
}

TEST(CheckConfig, NonPositiveHandshakeTimeoutIsInvalid) {
  auto c = client();
  c.handshake_timeout = std::chrono::milliseconds{0};
  EXPECT_EQ(check_config(c, role::client, all()), errc::invalid_config);
}

TEST(IpLiteral, RecognisesAddressesOnly) {
  EXPECT_TRUE(is_ip_literal("127.0.0.1"));
  EXPECT_TRUE(is_ip_literal("::1"));
  EXPECT_TRUE(is_ip_literal("2001:db8::7"));
  EXPECT_FALSE(is_ip_literal("localhost"));
  EXPECT_FALSE(is_ip_literal("1.2.3"));
  EXPECT_FALSE(is_ip_literal(""));
  EXPECT_FALSE(is_ip_literal("127.0.0.1.example"));
}

TEST(Names, EnumsHaveStableText) {
  EXPECT_EQ(to_string(profile::strict), "strict");
  EXPECT_EQ(to_string(profile::legacy), "legacy");
  EXPECT_EQ(to_string(tls_version::tls1_3), "TLSv1.3");
  EXPECT_EQ(to_string(tls_version::tls1_2), "TLSv1.2");
  EXPECT_EQ(to_string(role::server), "server");
}
