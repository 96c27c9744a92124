// Client certificates: asked for, given, missing, untrusted.
#include "harness.hpp"

namespace uptls::test {
namespace {

class ClientAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!backend_under_test().caps().client_certificates) GTEST_SKIP() << "no client certificates in this backend";
  }
  static tls_config server_asking(client_auth mode) {
    tls_config sc = server_config("server-rsa");
    sc.client_certificates = mode;
    sc.ca_file = cert("ca.pem");
    return sc;
  }
  static tls_config client_with(const std::string& leaf) {
    tls_config cc = client_config();
    if (!leaf.empty()) {
      cc.cert_file = cert(leaf + ".pem");
      cc.key_file = cert(leaf + ".key");
    }
    return cc;
  }
  // The client's side of a refusal: TLS 1.2 fails its handshake; in TLS 1.3 the
  // client has finished before the server decides, so its first read fails
  // (run to its end: the server's alert, or its end, is what it waits for).
  static std::error_code client_outcome(engine_pair& p, const handshake_results& r) {
    if (r.client.failed()) return r.client.error();
    std::byte buf[8];
    const result<std::size_t> rd = finish(*p.io.client, [&] { return p.client->read(buf); });
    return rd.error();
  }
};

TEST_F(ClientAuth, RequiredAndGivenTheServerSeesTheClient) {
  auto c = client_ctx(client_with("client"));
  auto s = server_ctx(server_asking(client_auth::required));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  const session_info ss = p.server->session();
  EXPECT_TRUE(ss.verified);
  ASSERT_NE(ss.peer_certificate(), nullptr);
  EXPECT_NE(ss.peer_certificate()->subject.find("CN=uptls test client"), std::string::npos)
      << ss.peer_certificate()->subject;
  ASSERT_NE(ss.peer_certificate(), nullptr);
  EXPECT_EQ(ss.peer_certificate()->dns_names, std::vector<std::string>{"client.uptls.test"});
  // Data still flows after the client's certificate was checked.
  ASSERT_TRUE(is_ok(engine_write_text(*p.server, *p.io.server, "hi")));
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*p.client, *p.io.client, 2, got)));
  EXPECT_EQ(got, "hi");
}

TEST_F(ClientAuth, RequiredAndMissingIsCertRequired) {
  auto c = client_ctx(client_with(""));
  auto s = server_ctx(server_asking(client_auth::required));
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  const handshake_results r = handshake_both(p);
  EXPECT_EQ(r.server, errc::cert_required) << to_string(r.server) << ": " << p.server->failure().text;
  const std::error_code client = client_outcome(p, r);
  EXPECT_TRUE(client) << "the client must not carry on as if accepted";
  EXPECT_TRUE(client == errc::cert_required || client == errc::handshake_failure ||
              client == errc::cert_rejected_by_peer || client == errc::peer_alert)
      << name_of(client);
}

TEST_F(ClientAuth, OptionalAndMissingConnectsUnverified) {
  auto c = client_ctx(client_with(""));
  auto s = server_ctx(server_asking(client_auth::optional));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_FALSE(p.server->session().verified);
  EXPECT_EQ(p.server->session().peer_certificate(), nullptr);
}

TEST_F(ClientAuth, OptionalAndGivenIsVerified) {
  auto c = client_ctx(client_with("client"));
  auto s = server_ctx(server_asking(client_auth::optional));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_TRUE(p.server->session().verified);
}

TEST_F(ClientAuth, UntrustedClientCertificateIsRefused) {
  for (const client_auth mode : {client_auth::required, client_auth::optional}) {
    SCOPED_TRACE(mode == client_auth::required ? "required" : "optional");
    auto c = client_ctx(client_with("client-untrusted"));
    auto s = server_ctx(server_asking(mode));
    ASSERT_TRUE(c && s);
    engine_pair p = make_engines(*c, *s, memory_pair());
    ASSERT_TRUE(p.client && p.server);
    const handshake_results r = handshake_both(p);
    EXPECT_EQ(r.server, errc::cert_untrusted) << to_string(r.server) << ": " << p.server->failure().text;
    const std::error_code client = client_outcome(p, r);
    EXPECT_TRUE(client == errc::cert_rejected_by_peer || client == errc::eof || client == errc::truncated)
        << name_of(client);
  }
}

TEST_F(ClientAuth, ServerThatDoesNotAskGetsNoCertificate) {
  auto c = client_ctx(client_with("client"));
  auto s = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_EQ(p.server->session().peer_certificate(), nullptr);
  EXPECT_FALSE(p.server->session().verified);
}

}  // namespace
}  // namespace uptls::test
