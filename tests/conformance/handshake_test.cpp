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
  EXPECT_EQ(cs.cipher, ss.cipher);
  EXPECT_FALSE(cs.cipher.empty());
  EXPECT_EQ(cs.cipher.rfind("TLS_", 0), 0u) << "IANA names start with TLS_: " << cs.cipher;
  EXPECT_EQ(cs.key_exchange, ss.key_exchange);
  EXPECT_TRUE(cs.forward_secret);
  EXPECT_EQ(cs.group, ss.group);
  EXPECT_EQ(cs.group, "x25519") << "x25519 comes first in every profile";
  EXPECT_EQ(cs.backend, backend_under_test().name());
  EXPECT_EQ(ss.backend, backend_under_test().name());
  EXPECT_FALSE(cs.resumed);
  EXPECT_FALSE(ss.resumed);
  // The client checked the server; the server asked nothing of the client.
  EXPECT_TRUE(cs.verified);
  EXPECT_FALSE(ss.verified);
  EXPECT_NE(cs.peer_subject.find("CN=localhost"), std::string::npos) << cs.peer_subject;
  EXPECT_TRUE(ss.peer_subject.empty()) << ss.peer_subject;
  EXPECT_TRUE(ss.peer_names.empty());
  const std::vector<std::string> want_names{"localhost", "127.0.0.1", "::1"};
  EXPECT_EQ(cs.peer_names, want_names);
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
  ASSERT_FALSE(engine_write_text(*p.client, "EHLO client.example\r\n"));
  std::string got;
  ASSERT_FALSE(engine_read_text(*p.server, 21, got));
  EXPECT_EQ(got, "EHLO client.example\r\n");
  ASSERT_FALSE(engine_write_text(*p.server, "250 ok\r\n"));
  ASSERT_FALSE(engine_read_text(*p.client, 8, got));
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
  EXPECT_EQ(p.client->read(buf).error, errc::usage);
  EXPECT_EQ(p.client->write(buf).error, errc::usage);
  EXPECT_EQ(p.client->close().error, errc::usage);
  // A wrong-state call is not a fatal error: the handshake still works after it.
  const handshake_results r = handshake_both(p);
  EXPECT_EQ(r.client.status, tls_status::ok) << name_of(r.client.error);
  EXPECT_EQ(r.server.status, tls_status::ok) << name_of(r.server.error);
}

TEST(HandshakeState, SecondHandshakeCallIsHarmless) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  EXPECT_EQ(p.client->handshake().status, tls_status::ok);
  EXPECT_EQ(p.server->handshake().status, tls_status::ok);
}

}  // namespace
}  // namespace uptls::test
