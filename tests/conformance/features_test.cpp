// SNI, ALPN, session resumption and the low-memory switch.
#include "harness.hpp"

namespace uptls::test {
namespace {

TEST(Sni, TheServerSeesTheNameTheClientAskedFor) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair(), "localhost");
  ASSERT_TRUE(p.client && p.server);
  EXPECT_EQ(p.client->session().sni, "localhost");
  EXPECT_EQ(p.server->session().sni, "localhost");
}

class Alpn : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!backend_under_test().caps().alpn) GTEST_SKIP() << "no ALPN in this backend";
  }
  static engine_pair pair(std::vector<std::string> client, std::vector<std::string> server,
                          handshake_results* out) {
    tls_config cc = client_config();
    cc.alpn = std::move(client);
    tls_config sc = server_config();
    sc.alpn = std::move(server);
    auto c = client_ctx(cc);
    auto s = server_ctx(sc);
    if (!c || !s) return {};
    engine_pair p = make_engines(*c, *s, memory_pair());
    if (p.client && p.server) *out = handshake_both(p);
    return p;
  }
};

TEST_F(Alpn, TheServersFirstChoiceThatTheClientOffersWins) {
  handshake_results r;
  engine_pair p = pair({"imap", "smtp", "h2"}, {"h2", "smtp"}, &r);
  ASSERT_TRUE(p.client && p.server);
  ASSERT_TRUE(is_ok(r.client));
  ASSERT_TRUE(is_ok(r.server));
  EXPECT_EQ(p.client->session().alpn, "h2");
  EXPECT_EQ(p.server->session().alpn, "h2");
}

TEST_F(Alpn, NothingInCommonIsRefusedWithNoApplicationProtocol) {
  handshake_results r;
  engine_pair p = pair({"imap"}, {"smtp"}, &r);
  ASSERT_TRUE(p.client && p.server);
  EXPECT_EQ(r.server, errc::no_application_protocol) << to_string(r.server);
  EXPECT_EQ(r.client, errc::no_application_protocol) << to_string(r.client);
  EXPECT_EQ(p.client->failure().alert_received, 120);
  EXPECT_EQ(p.server->failure().alert_sent, 120);
}

TEST_F(Alpn, ClientWithoutAlpnIsServedWithout) {
  handshake_results r;
  engine_pair p = pair({}, {"smtp"}, &r);
  ASSERT_TRUE(p.client && p.server);
  ASSERT_TRUE(is_ok(r.client));
  ASSERT_TRUE(is_ok(r.server));
  EXPECT_TRUE(p.client->session().alpn.empty());
  EXPECT_TRUE(p.server->session().alpn.empty());
}

TEST_F(Alpn, ServerWithoutAlpnIgnoresTheOffer) {
  handshake_results r;
  engine_pair p = pair({"smtp"}, {}, &r);
  ASSERT_TRUE(p.client && p.server);
  ASSERT_TRUE(is_ok(r.client));
  ASSERT_TRUE(is_ok(r.server));
  EXPECT_TRUE(p.client->session().alpn.empty());
}

class Resumption : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!backend_under_test().caps().resumption) GTEST_SKIP() << "no session resumption in this backend";
  }
  // One connection: handshake, one byte from the server (which carries any TLS 1.3
  // ticket to the client before it), clean close.
  static std::pair<bool, bool> connect_once(const context& c, const context& s, const std::string& name) {
    engine_pair p = connected(c, s, memory_pair(), name);
    if (!p.client || !p.server) return {false, false};
    EXPECT_TRUE(is_ok(engine_write_text(*p.server, *p.io.server, "x")));
    std::string got;
    EXPECT_TRUE(is_ok(engine_read_text(*p.client, *p.io.client, 1, got)));
    EXPECT_EQ(got, "x");
    const std::pair<bool, bool> resumed{p.client->session().resumed, p.server->session().resumed};
    EXPECT_TRUE(is_ok(finish(*p.io.client, [&] { return p.client->close(); })));
    EXPECT_TRUE(is_ok(finish(*p.io.server, [&] { return p.server->close(); })));
    return resumed;
  }
};

TEST_F(Resumption, SecondConnectionToTheSameNameIsResumedOnBothSides) {
  for (const bool cap12 : {false, true}) {
    SCOPED_TRACE(cap12 ? "TLS 1.2" : "best version");
    tls_config cc = client_config();
    if (cap12) cc.max_version = tls_version::tls1_2;
    auto c = client_ctx(cc);
    auto s = server_ctx(server_config());
    ASSERT_TRUE(c && s);
    EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(false, false));
    EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(true, true));
    EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(true, true)) << "and again";
  }
}

// TLS 1.2 clients that take no ticket (many MTAs, openssl s_client -no_ticket)
// resume by session ID: the server must keep the session itself.
TEST_F(Resumption, Tls12ClientThatTakesNoTicketsResumesBySessionId) {
  if (!backend_under_test().caps().session_id_cache) GTEST_SKIP() << "no session-ID cache in this backend";
  tls_config cc = client_config();
  cc.max_version = tls_version::tls1_2;
  cc.session_tickets = false;
  auto c = client_ctx(cc);
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(false, false));
  EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(true, true));
  EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(true, true)) << "and again";
}

TEST_F(Resumption, Tls12ServerThatIssuesNoTicketsResumesBySessionId) {
  if (!backend_under_test().caps().session_id_cache) GTEST_SKIP() << "no session-ID cache in this backend";
  tls_config cc = client_config();
  cc.max_version = tls_version::tls1_2;
  tls_config sc = server_config();
  sc.session_tickets = false;
  auto c = client_ctx(cc);
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(false, false));
  EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(true, true));
}

TEST_F(Resumption, SessionIdsAreKeptPerServerContext) {
  tls_config cc = client_config();
  cc.max_version = tls_version::tls1_2;
  cc.session_tickets = false;
  auto c = client_ctx(cc);
  auto s1 = server_ctx(server_config());
  auto s2 = server_ctx(server_config());
  ASSERT_TRUE(c && s1 && s2);
  (void)connect_once(*c, *s1, "localhost");
  EXPECT_EQ(connect_once(*c, *s2, "localhost"), std::make_pair(false, false))
      << "another server context never saw that session ID";
}

TEST_F(Resumption, TicketsOffStillResumesTls13) {
  if (!backend_under_test().caps().tls13) GTEST_SKIP() << "no TLS 1.3 in this backend";
  tls_config cc = client_config();
  cc.session_tickets = false;
  tls_config sc = server_config();
  sc.session_tickets = false;
  auto c = client_ctx(cc);
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  (void)connect_once(*c, *s, "localhost");
  EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(true, true))
      << "session_tickets governs TLS 1.2 only";
}

TEST_F(Resumption, ResumedSessionStillReportsThePeer) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  (void)connect_once(*c, *s, "localhost");
  engine_pair p = connected(*c, *s, memory_pair(), "localhost");
  ASSERT_TRUE(p.client && p.server);
  const session_info cs = p.client->session();
  EXPECT_TRUE(cs.resumed);
  EXPECT_TRUE(cs.verified);
  ASSERT_NE(cs.peer_certificate(), nullptr);
  EXPECT_NE(cs.peer_certificate()->subject.find("CN=localhost"), std::string::npos)
      << cs.peer_certificate()->subject;
  EXPECT_TRUE(cs.forward_secret);
}

TEST_F(Resumption, AnotherNameStartsAFreshSession) {
  if (!backend_under_test().caps().ip_address_names) GTEST_SKIP() << "needs a second name: an IP address";
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  (void)connect_once(*c, *s, "localhost");
  EXPECT_FALSE(connect_once(*c, *s, "127.0.0.1").first);
}

TEST_F(Resumption, AnotherClientContextStartsAFreshSession) {
  auto c1 = client_ctx(client_config());
  auto c2 = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c1 && c2 && s);
  (void)connect_once(*c1, *s, "localhost");
  EXPECT_FALSE(connect_once(*c2, *s, "localhost").first);
}

TEST_F(Resumption, TurnedOffOnTheClientNeverResumes) {
  tls_config cc = client_config();
  cc.resumption = false;
  auto c = client_ctx(cc);
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  (void)connect_once(*c, *s, "localhost");
  EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(false, false));
}

TEST_F(Resumption, TurnedOffOnTheServerNeverResumes) {
  tls_config sc = server_config();
  sc.resumption = false;
  auto c = client_ctx(client_config());
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  (void)connect_once(*c, *s, "localhost");
  EXPECT_EQ(connect_once(*c, *s, "localhost"), std::make_pair(false, false));
}

TEST(ReleaseBuffers, ConnectionsWorkWithTheLowMemorySwitch) {
  tls_config cc = client_config();
  cc.release_buffers = true;
  tls_config sc = server_config();
  sc.release_buffers = true;
  if (!backend_under_test().caps().release_buffers) {
    EXPECT_EQ(backend_under_test().make_context(cc, role::client).error(), errc::unsupported);
    return;
  }
  auto c = client_ctx(cc);
  auto s = server_ctx(sc);
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  for (int i = 0; i < 3; ++i) {  // idle in between: buffers go and come back
    ASSERT_TRUE(is_ok(engine_write_text(*p.client, *p.io.client, "ping")));
    std::string got;
    ASSERT_TRUE(is_ok(engine_read_text(*p.server, *p.io.server, 4, got)));
    EXPECT_EQ(got, "ping");
  }
}

}  // namespace
}  // namespace uptls::test
