// Certificates, keys and trust from memory (tls_config::ca_pem, cert_pem,
// key_pem, key_password): handshakes with nothing read from a file, chains,
// encrypted keys, and every way the PEM text can be wrong.
#include <fstream>
#include <sstream>

#include "harness.hpp"

namespace uptls::test {
namespace {

std::string pem_of(const std::string& name) {
  std::ifstream in(cert(name), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << "test file " << cert(name) << " is missing";
  return text.str();
}

tls_config memory_client() {
  tls_config c;
  c.ca_pem = pem_of("ca.pem");
  return c;
}

tls_config memory_server(const std::string& leaf = "server-rsa") {
  tls_config s;
  s.cert_pem = pem_of(leaf + ".pem");
  s.key_pem = pem_of(leaf + ".key");
  return s;
}

// The error make_context gives, and the reason it names.
struct refusal {
  std::error_code code;
  std::string why;
};
refusal refuse(const tls_config& cfg, role side) {
  refusal r;
  auto made = backend_under_test().make_context(cfg, side, r.why);
  EXPECT_FALSE(made.ok()) << "accepted";
  if (!made.ok()) r.code = made.error();
  return r;
}

void expect_handshake(const tls_config& cc, const tls_config& sc) {
  auto c = client_ctx(cc);
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_TRUE(p.client->session().verified);
}

class MemoryPem : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!backend_under_test().caps().pem_from_memory) GTEST_SKIP() << "no PEM from memory in this backend";
  }
};

TEST_F(MemoryPem, HandshakeWithEverythingFromMemory) {
  for (const char* leaf : {"server-rsa", "server-ecdsa"}) {
    SCOPED_TRACE(leaf);
    expect_handshake(memory_client(), memory_server(leaf));
  }
}

TEST_F(MemoryPem, ClientCertificateFromMemoryIsVerifiedByAServerTrustingFromMemory) {
  if (!backend_under_test().caps().client_certificates) GTEST_SKIP() << "no client certificates in this backend";
  tls_config cc = memory_client();
  cc.cert_pem = pem_of("client.pem");
  cc.key_pem = pem_of("client.key");
  tls_config sc = memory_server();
  sc.ca_pem = pem_of("ca.pem");
  sc.client_certificates = client_auth::required;
  auto c = client_ctx(cc);
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_TRUE(p.server->session().verified);
}

TEST_F(MemoryPem, ChainInCertPemIsSentWholeAndVerifies) {
  // The client trusts the root only: without the intermediate in cert_pem the
  // chain cannot be built, so success proves it was sent.
  expect_handshake(memory_client(), memory_server("server-chain"));
}

TEST_F(MemoryPem, LeafWithoutItsIntermediateIsRefusedAsUntrusted) {
  tls_config sc;
  const std::string chain = pem_of("server-chain.pem");
  sc.cert_pem = chain.substr(0, chain.find("-----END CERTIFICATE-----") + 26);
  sc.key_pem = pem_of("server-chain.key");
  auto c = client_ctx(memory_client());
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  const handshake_results r = handshake_both(p);
  EXPECT_EQ(r.client, errc::cert_untrusted) << to_string(r.client);
}

TEST_F(MemoryPem, EncryptedKeyFromMemoryWithItsPassword) {
  tls_config sc = memory_server();
  sc.key_pem = pem_of("server-rsa-encrypted.key");
  sc.key_password = pem_of("key-password.txt");
  expect_handshake(memory_client(), sc);
}

TEST_F(MemoryPem, EncryptedKeyFileWithItsPassword) {
  tls_config sc = server_config();
  sc.key_file = cert("server-rsa-encrypted.key");
  sc.key_password = pem_of("key-password.txt");
  expect_handshake(client_config(), sc);
}

TEST_F(MemoryPem, EncryptedKeyWithAWrongOrNoPasswordIsInvalidConfigNamingTheKey) {
  for (const char* password : {"not the password", ""}) {
    SCOPED_TRACE(password);
    tls_config sc = memory_server();
    sc.key_pem = pem_of("server-rsa-encrypted.key");
    sc.key_password = password;
    const refusal r = refuse(sc, role::server);
    EXPECT_EQ(r.code, errc::invalid_config);
    EXPECT_EQ(r.why.rfind("key_pem:", 0), 0u) << r.why;
  }
  tls_config sc = server_config();
  sc.key_file = cert("server-rsa-encrypted.key");
  sc.key_password = "not the password";
  const refusal r = refuse(sc, role::server);
  EXPECT_EQ(r.code, errc::invalid_config);
  EXPECT_NE(r.why.find("key_file"), std::string::npos) << r.why;
}

TEST_F(MemoryPem, BadPemIsInvalidConfigNamingTheField) {
  const std::string garbage = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
  {
    tls_config c = memory_client();
    c.ca_pem = garbage;
    const refusal r = refuse(c, role::client);
    EXPECT_EQ(r.code, errc::invalid_config);
    EXPECT_EQ(r.why.rfind("ca_pem:", 0), 0u) << r.why;
  }
  {
    tls_config c = memory_client();
    c.ca_pem = "no PEM here";
    const refusal r = refuse(c, role::client);
    EXPECT_EQ(r.code, errc::invalid_config);
    EXPECT_EQ(r.why.rfind("ca_pem:", 0), 0u) << r.why;
  }
  {
    tls_config s = memory_server();
    s.cert_pem = garbage;
    const refusal r = refuse(s, role::server);
    EXPECT_EQ(r.code, errc::invalid_config);
    EXPECT_EQ(r.why.rfind("cert_pem:", 0), 0u) << r.why;
  }
  {
    tls_config s = memory_server();
    s.key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    const refusal r = refuse(s, role::server);
    EXPECT_EQ(r.code, errc::invalid_config);
    EXPECT_EQ(r.why.rfind("key_pem:", 0), 0u) << r.why;
  }
}

TEST_F(MemoryPem, KeyThatDoesNotMatchTheCertificateIsInvalidConfig) {
  tls_config s = memory_server("server-rsa");
  s.key_pem = pem_of("client.key");  // another RSA key
  const refusal r = refuse(s, role::server);
  EXPECT_EQ(r.code, errc::invalid_config);
  EXPECT_EQ(r.why.rfind("key_pem:", 0), 0u) << r.why;
  EXPECT_NE(r.why.find("match"), std::string::npos) << r.why;

  tls_config f = server_config("server-rsa");
  f.key_file = cert("server-ecdsa.key");  // another key type as well
  const refusal rf = refuse(f, role::server);
  EXPECT_EQ(rf.code, errc::invalid_config);
  EXPECT_NE(rf.why.find("key_file"), std::string::npos) << rf.why;
}

TEST_F(MemoryPem, FileAndPemForOneItemIsInvalidConfig) {
  tls_config c = client_config();  // ca_file set
  c.ca_pem = pem_of("ca.pem");
  refusal r = refuse(c, role::client);
  EXPECT_EQ(r.code, errc::invalid_config);
  EXPECT_EQ(r.why.rfind("ca_pem:", 0), 0u) << r.why;

  tls_config s = server_config();  // cert_file and key_file set
  s.cert_pem = pem_of("server-rsa.pem");
  s.key_pem = pem_of("server-rsa.key");
  r = refuse(s, role::server);
  EXPECT_EQ(r.code, errc::invalid_config);
  EXPECT_NE(r.why.find("cert_pem"), std::string::npos) << r.why;

  tls_config half = memory_server();
  half.key_pem.clear();
  r = refuse(half, role::server);
  EXPECT_EQ(r.code, errc::invalid_config);
  EXPECT_EQ(r.why.rfind("key_pem:", 0), 0u) << r.why;
}

TEST_F(MemoryPem, PasswordWithoutAKeyIsInvalidConfig) {
  tls_config c = memory_client();
  c.key_password = "secret";
  const refusal r = refuse(c, role::client);
  EXPECT_EQ(r.code, errc::invalid_config);
  EXPECT_EQ(r.why.rfind("key_password:", 0), 0u) << r.why;
}

TEST_F(MemoryPem, TheTextIsCopiedAtMakeContext) {
  tls_config sc = memory_server();
  tls_config cc = memory_client();
  auto c = client_ctx(cc);
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  // Wiping the caller's strings afterwards changes nothing.
  sc.cert_pem.assign(sc.cert_pem.size(), 'x');
  cc.ca_pem.clear();
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_TRUE(p.client->session().verified);
}

}  // namespace
}  // namespace uptls::test
