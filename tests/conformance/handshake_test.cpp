// A full handshake in both roles, over the memory pipe and over loopback
// sockets, and what each side reports about it.
#include "harness.hpp"

namespace uptls::test {
namespace {

class Handshake : public ::testing::TestWithParam<bool> {  // true: sockets
 protected:
  transport_pair transports() { return GetParam() ? socket_pair() : memory_pair(); }
};

TEST_P(Handshake, BothSidesAgreeOnTheSession) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, transports());
  ASSERT_TRUE(p.client && p.server);
  const session_info cs = p.client->session();
  const session_info ss = p.server->session();
  EXPECT_EQ(cs.version, ss.version);
  EXPECT_EQ(cs.suite.name, ss.suite.name);
  EXPECT_FALSE(cs.suite.name.empty());
  EXPECT_EQ(cs.suite.name.rfind("TLS_", 0), 0u) << "IANA names start with TLS_: " << cs.suite.name;
  EXPECT_EQ(cs.kx, ss.kx);
  EXPECT_TRUE(cs.forward_secret);
  EXPECT_EQ(cs.group, ss.group);
  EXPECT_EQ(cs.group, named_group::x25519) << "x25519 comes first in every profile";
  EXPECT_EQ(cs.backend, backend_under_test().name());
  EXPECT_EQ(ss.backend, backend_under_test().name());
  EXPECT_FALSE(cs.resumed);
  EXPECT_FALSE(ss.resumed);
  // The client checked the server; the server asked nothing of the client.
  EXPECT_TRUE(cs.verified);
  EXPECT_FALSE(ss.verified);
  EXPECT_TRUE(cs.suite.aead);
  EXPECT_NE(cs.suite.id, 0);
  EXPECT_EQ(cs.suite.id, ss.suite.id);
  // The server's leaf, read on demand; the server got no client certificate.
  EXPECT_EQ(ss.peer_certificate(), nullptr);
  EXPECT_TRUE(ss.peer_certificate_der().empty());
  const certificate_info* leaf = cs.peer_certificate();
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ(leaf, cs.peer_certificate()) << "parsed once, then kept";
  EXPECT_NE(leaf->subject.find("CN=localhost"), std::string::npos) << leaf->subject;
  EXPECT_NE(leaf->issuer.find("CN=uptls test"), std::string::npos) << leaf->issuer;
  EXPECT_EQ(leaf->dns_names, std::vector<std::string>{"localhost"});
  const std::vector<std::string> want_ips{"127.0.0.1", "::1"};
  EXPECT_EQ(leaf->ip_addresses, want_ips);
  EXPECT_EQ(leaf->key, key_type::rsa);
  EXPECT_EQ(leaf->key_bits, 2048u);
  EXPECT_EQ(leaf->sha256.size(), 64u) << leaf->sha256;
  EXPECT_FALSE(leaf->serial.empty());
  EXPECT_LT(leaf->not_before, std::chrono::system_clock::now());
  EXPECT_GT(leaf->not_after, std::chrono::system_clock::now());
  EXPECT_EQ(cs.sni, "localhost");
  EXPECT_EQ(ss.sni, "localhost");
  EXPECT_TRUE(cs.alpn.empty());
}

TEST_P(Handshake, DataFlowsBothWays) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("server-ecdsa"));
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, transports());
  ASSERT_TRUE(p.client && p.server);
  ASSERT_TRUE(is_ok(engine_write_text(*p.client, *p.io.client, "EHLO client.example\r\n")));
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*p.server, *p.io.server, 21, got)));
  EXPECT_EQ(got, "EHLO client.example\r\n");
  ASSERT_TRUE(is_ok(engine_write_text(*p.server, *p.io.server, "250 ok\r\n")));
  ASSERT_TRUE(is_ok(engine_read_text(*p.client, *p.io.client, 8, got)));
  EXPECT_EQ(got, "250 ok\r\n");
}

TEST_P(Handshake, EcdsaAndRsaCertificatesBothWork) {
  for (const char* leaf : {"server-rsa", "server-ecdsa"}) {
    SCOPED_TRACE(leaf);
    auto c = client_ctx(client_config());
    auto s = server_ctx(server_config(leaf));
    ASSERT_TRUE(c && s);
    engine_pair p = connected(*c, *s, transports());
    ASSERT_TRUE(p.client && p.server);
    EXPECT_TRUE(p.client->session().verified);
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, Handshake, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "sockets" : "memory_pipe"; });

TEST(HandshakeState, ReadWriteBeforeHandshakeIsUsage) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  std::byte buf[4]{};
  EXPECT_EQ(p.client->read(buf), errc::usage);
  EXPECT_EQ(p.client->write(buf), errc::usage);
  EXPECT_EQ(p.client->close(), errc::usage);
  // The server's too, and before it has seen a byte: usage, not would-block.
  EXPECT_EQ(p.server->read(buf), errc::usage);
  EXPECT_EQ(p.server->write(buf), errc::usage);
  EXPECT_EQ(p.server->close(), errc::usage);
  // A wrong-state call is not a fatal error: the handshake still works after it.
  const handshake_results r = handshake_both(p);
  EXPECT_TRUE(is_ok(r.client));
  EXPECT_TRUE(is_ok(r.server));
}

TEST(HandshakeState, SecondHandshakeCallIsHarmless) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  // Ok at once: a finished handshake neither fails nor waits for the peer again.
  EXPECT_TRUE(is_ok(p.client->handshake()));
  EXPECT_TRUE(is_ok(p.server->handshake()));
}

}  // namespace
}  // namespace uptls::test
