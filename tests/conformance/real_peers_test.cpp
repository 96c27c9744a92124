// The backend against TLS programs nobody here wrote: openssl s_server/s_client
// and gnutls-serv/gnutls-cli, over loopback, implicit TLS. Each peer is a child
// process that the test stops; a missing program fails the test, naming its package.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "harness.hpp"

namespace uptls::test {
namespace {

using namespace std::chrono_literals;

// Our client's handshake with whatever listens on 127.0.0.1:port, run to its
// end (every call of a run waits at most call_limit for the peer).
struct client_run {
  std::unique_ptr<transport> io;
  std::unique_ptr<engine> e;
  result<> outcome = errc::internal;  // how the handshake ended (internal until it ran)
};

client_run connect_to(std::uint16_t port, const tls_config& cfg, const std::string& name = "localhost") {
  client_run run;
  auto c = client_ctx(cfg);
  if (!c) return run;
  auto conn = tcp_connect("127.0.0.1", port, {.connect_timeout = 5s});
  EXPECT_TRUE(conn.ok()) << name_of(conn.error());
  if (!conn) return run;
  run.io = std::move(*conn);
  auto e = new_engine(*c, *run.io, {name});
  EXPECT_TRUE(e.ok()) << to_string(e);
  if (!e) return run;
  run.e = std::move(*e);
  run.outcome = finish(*run.io, [&] { return run.e->handshake(); });
  return run;
}

std::unique_ptr<child> start_s_server(std::uint16_t port, std::vector<std::string> extra) {
  std::vector<std::string> argv{"openssl", "s_server", "-cert", cert("server-rsa.pem"), "-key", cert("server-rsa.key"),
                                "-accept", "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto peer = child::spawn(argv);
  std::string seen;
  EXPECT_TRUE(peer->wait_for_output("ACCEPT", 5s, &seen)) << seen;
  return peer;
}

std::unique_ptr<child> start_gnutls_serv(std::uint16_t port, const std::string& priority) {
  std::vector<std::string> argv{"gnutls-serv", "--echo", "--x509certfile", cert("server-rsa.pem"), "--x509keyfile",
                                cert("server-rsa.key"), "-p", std::to_string(port)};
  if (!priority.empty()) argv.push_back("--priority=" + priority);
  auto peer = child::spawn(argv);
  EXPECT_TRUE(wait_for_port(port, 5s)) << peer->read_all(200ms);
  return peer;
}

class OpensslServer : public ::testing::Test {
 protected:
  void SetUp() override {
    UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  }
};

TEST_F(OpensslServer, RsaOnlyServerRefusesStrictWithHandshakeFailure) {
  const std::uint16_t port = free_port();
  auto peer = start_s_server(port, {"-tls1_2", "-cipher", "AES128-GCM-SHA256"});
  client_run run = connect_to(port, client_config(profile::strict));
  ASSERT_TRUE(run.e);
  EXPECT_TRUE(run.outcome.failed()) << to_string(run.outcome);
  EXPECT_EQ(run.outcome, errc::handshake_failure) << to_string(run.outcome) << ": " << run.e->failure().text;
  EXPECT_EQ(run.e->failure().alert_received, 40);
}

TEST_F(OpensslServer, RsaOnlyServerAcceptsLegacyWithPlainRsa) {
  if (!backend_under_test().caps().rsa_key_exchange) GTEST_SKIP() << "no RSA key exchange in this backend";
  const std::uint16_t port = free_port();
  auto peer = start_s_server(port, {"-tls1_2", "-cipher", "AES128-GCM-SHA256"});
  client_run run = connect_to(port, client_config(profile::legacy));
  ASSERT_TRUE(run.e);
  ASSERT_TRUE(is_ok(run.outcome)) << run.e->failure().text;
  const session_info s = run.e->session();
  EXPECT_EQ(s.version, tls_version::tls1_2);
  EXPECT_EQ(s.suite.name, "TLS_RSA_WITH_AES_128_GCM_SHA256");
  EXPECT_EQ(s.kx, key_exchange::rsa);
  EXPECT_FALSE(s.forward_secret);
  EXPECT_TRUE((s.group == named_group::none));
  EXPECT_TRUE(s.verified);
  EXPECT_TRUE(is_ok(finish(*run.io, [&] { return run.e->close(); })));
}

TEST_F(OpensslServer, DefaultServerGetsTheBestVersionWithStrict) {
  const std::uint16_t port = free_port();
  auto peer = start_s_server(port, {});
  client_run run = connect_to(port, client_config(profile::strict));
  ASSERT_TRUE(run.e);
  ASSERT_TRUE(is_ok(run.outcome)) << run.e->failure().text;
  const session_info s = run.e->session();
  EXPECT_EQ(s.version, backend_under_test().caps().tls13 ? tls_version::tls1_3 : tls_version::tls1_2);
  EXPECT_TRUE(s.forward_secret);
  EXPECT_EQ(s.group, named_group::x25519);
  EXPECT_TRUE(s.verified);
}

TEST_F(OpensslServer, Tls11OnlyServerIsRefused) {
  const std::uint16_t port = free_port();
  auto peer = start_s_server(port, {"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"});
  // Legacy offers suites that TLS 1.1 could use, so only the version can stop it.
  if (backend_under_test().caps().rsa_key_exchange) {
    client_run run = connect_to(port, client_config(profile::legacy));
    ASSERT_TRUE(run.e);
    EXPECT_TRUE(run.outcome.failed()) << to_string(run.outcome);
    EXPECT_EQ(run.outcome, errc::protocol_version) << to_string(run.outcome) << ": " << run.e->failure().text;
  }
  // Strict has nothing TLS 1.1 can use: the server may refuse the version or the suites.
  client_run run = connect_to(port, client_config(profile::strict));
  ASSERT_TRUE(run.e);
  EXPECT_TRUE(run.outcome.failed()) << to_string(run.outcome);
  EXPECT_TRUE(run.outcome == errc::protocol_version || run.outcome == errc::handshake_failure)
      << to_string(run.outcome) << ": " << run.e->failure().text;
}

class GnutlsServer : public ::testing::Test {
 protected:
  void SetUp() override {
    UPTLS_REQUIRE_PEER_PROGRAM(peer_program::gnutls_serv);
    if (!private_network()) GTEST_SKIP() << wildcard_listener_skip;
  }
};

TEST_F(GnutlsServer, DefaultServerGetsTheBestVersionWithStrictAndEchoes) {
  const std::uint16_t port = free_port();
  auto peer = start_gnutls_serv(port, "");
  client_run run = connect_to(port, client_config(profile::strict));
  ASSERT_TRUE(run.e);
  ASSERT_TRUE(is_ok(run.outcome)) << run.e->failure().text;
  const session_info s = run.e->session();
  EXPECT_EQ(s.version, backend_under_test().caps().tls13 ? tls_version::tls1_3 : tls_version::tls1_2);
  EXPECT_TRUE(s.forward_secret);
  EXPECT_TRUE(s.verified);
  ASSERT_TRUE(is_ok(engine_write_text(*run.e, *run.io, "ping\n")));
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*run.e, *run.io, 5, got)));
  EXPECT_EQ(got, "ping\n");
  EXPECT_TRUE(is_ok(finish(*run.io, [&] { return run.e->close(); })));
}

TEST_F(GnutlsServer, RsaOnlyServerRefusesStrict) {
  const std::uint16_t port = free_port();
  auto peer = start_gnutls_serv(port, "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA");
  client_run run = connect_to(port, client_config(profile::strict));
  ASSERT_TRUE(run.e);
  EXPECT_TRUE(run.outcome.failed()) << to_string(run.outcome);
  EXPECT_EQ(run.outcome, errc::handshake_failure) << to_string(run.outcome) << ": " << run.e->failure().text;
  EXPECT_EQ(run.e->failure().alert_received, 40);
}

TEST_F(GnutlsServer, RsaOnlyServerAcceptsLegacyWithPlainRsa) {
  if (!backend_under_test().caps().rsa_key_exchange) GTEST_SKIP() << "no RSA key exchange in this backend";
  const std::uint16_t port = free_port();
  auto peer = start_gnutls_serv(port, "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA");
  client_run run = connect_to(port, client_config(profile::legacy));
  ASSERT_TRUE(run.e);
  ASSERT_TRUE(is_ok(run.outcome)) << run.e->failure().text;
  const session_info s = run.e->session();
  EXPECT_EQ(s.kx, key_exchange::rsa);
  EXPECT_FALSE(s.forward_secret);
  EXPECT_EQ(s.suite.name.rfind("TLS_RSA_WITH_AES_", 0), 0u) << s.suite.name;
}

// Our server, their client.
struct server_run {
  std::unique_ptr<transport> io;
  std::unique_ptr<engine> e;
  result<> outcome = errc::internal;  // how the handshake ended (internal until it ran)
};

server_run accept_one(tcp_listener& l, const tls_config& cfg) {
  server_run run;
  auto s = server_ctx(cfg);
  if (!s) return run;
  auto conn = l.accept(5s);
  EXPECT_TRUE(conn.ok()) << name_of(conn.error());
  if (!conn) return run;
  run.io = std::move(*conn);
  auto e = new_engine(*s, *run.io, {});
  EXPECT_TRUE(e.ok()) << to_string(e);
  if (!e) return run;
  run.e = std::move(*e);
  run.outcome = finish(*run.io, [&] { return run.e->handshake(); });
  return run;
}

class OpensslClient : public ::testing::Test {
 protected:
  void SetUp() override {
    UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  }
  static std::unique_ptr<child> s_client(std::uint16_t port, std::vector<std::string> extra) {
    std::vector<std::string> argv{"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                                  "-servername", "localhost", "-CAfile", cert("ca.pem"), "-verify_return_error"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return child::spawn(argv);
  }
};

TEST_F(OpensslClient, RsaOnlyClientIsRefusedByAStrictServer) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  auto peer = s_client(l->port(), {"-tls1_2", "-cipher", "AES128-GCM-SHA256"});
  server_run run = accept_one(*l, server_config("server-rsa", profile::strict));
  ASSERT_TRUE(run.e);
  EXPECT_TRUE(run.outcome.failed()) << to_string(run.outcome);
  EXPECT_EQ(run.outcome, errc::handshake_failure) << to_string(run.outcome) << ": " << run.e->failure().text;
}

TEST_F(OpensslClient, RsaOnlyClientIsServedByALegacyServer) {
  if (!backend_under_test().caps().rsa_key_exchange) GTEST_SKIP() << "no RSA key exchange in this backend";
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  auto peer = s_client(l->port(), {"-tls1_2", "-cipher", "AES128-GCM-SHA256"});
  server_run run = accept_one(*l, server_config("server-rsa", profile::legacy));
  ASSERT_TRUE(run.e);
  ASSERT_TRUE(is_ok(run.outcome)) << run.e->failure().text;
  EXPECT_EQ(run.e->session().suite.name, "TLS_RSA_WITH_AES_128_GCM_SHA256");
  EXPECT_EQ(run.e->session().sni, "localhost");
}

TEST_F(OpensslClient, DefaultClientVerifiesOurServerAndSendsData) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  auto peer = s_client(l->port(), {"-verify_hostname", "localhost"});
  server_run run = accept_one(*l, server_config("server-ecdsa"));
  ASSERT_TRUE(run.e);
  ASSERT_TRUE(is_ok(run.outcome)) << run.e->failure().text;
  EXPECT_EQ(run.e->session().version, backend_under_test().caps().tls13 ? tls_version::tls1_3 : tls_version::tls1_2);
  peer->write_stdin("hello from s_client\n");
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*run.e, *run.io, 20, got)));
  EXPECT_EQ(got, "hello from s_client\n");
  std::string seen;
  EXPECT_TRUE(peer->wait_for_output("Verify return code: 0", 5s, &seen)) << seen;
}

// openssl s_client -no_ticket -sess_out, then -sess_in: the second handshake
// offers the first one's session ID and says "Reused" when our server resumed it.
class OpensslClientSessionId : public OpensslClient {
 protected:
  void SetUp() override {
    OpensslClient::SetUp();
    if (!backend_under_test().caps().session_id_cache) GTEST_SKIP() << "no session-ID cache in this backend";
  }
  void TearDown() override { std::filesystem::remove(file_); }
  // One s_client run against a new connection to l, our server compiled from sc
  // (shared between runs through ctx): what s_client printed, and our side's view.
  std::string run_once(tcp_listener& l, const std::shared_ptr<const context>& ctx, const char* sess_flag,
                       bool* resumed) {
    auto peer = s_client(l.port(), {"-tls1_2", "-no_ticket", sess_flag, file_});
    auto conn = l.accept(5s);
    EXPECT_TRUE(conn.ok()) << name_of(conn.error());
    if (!conn) return {};
    auto e = new_engine(*ctx, **conn, {});
    EXPECT_TRUE(e.ok()) << to_string(e);
    if (!e) return {};
    const result<> hs = finish(**conn, [&] { return (*e)->handshake(); });
    EXPECT_TRUE(is_ok(hs)) << (*e)->failure().text;
    if (hs.ok()) {
      *resumed = (*e)->session().resumed;
      // A clean end: OpenSSL drops a session from its cache when the
      // connection is freed without our close_notify.
      EXPECT_TRUE(is_ok(finish(**conn, [&] { return (*e)->close(); })));
    }
    peer->close_stdin();  // s_client exits, writing -sess_out
    std::string seen = peer->read_all(5s);
    EXPECT_EQ(peer->wait(5s), 0) << seen;
    return seen;
  }
  const std::string file_ = (std::filesystem::temp_directory_path() /
                             ("uptls-sess-" + std::to_string(getpid()) + "-" + std::to_string(free_port()) + ".pem"))
                                .string();
};

TEST_F(OpensslClientSessionId, NoTicketClientResumesBySessionId) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  auto ctx = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(ctx);
  bool resumed = true;
  const std::string first = run_once(*l, ctx, "-sess_out", &resumed);
  EXPECT_NE(first.find("New, TLSv1.2"), std::string::npos) << first;
  EXPECT_FALSE(resumed);
  ASSERT_TRUE(std::filesystem::exists(file_)) << "s_client wrote no session: " << first;
  const std::string second = run_once(*l, ctx, "-sess_in", &resumed);
  EXPECT_NE(second.find("Reused, TLSv1.2"), std::string::npos) << second;
  EXPECT_TRUE(resumed);
}

TEST_F(OpensslClientSessionId, ServerWithoutResumptionSaysNewAgain) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  tls_config sc = server_config("server-rsa");
  sc.resumption = false;
  auto ctx = server_ctx(sc);
  ASSERT_TRUE(ctx);
  bool resumed = true;
  const std::string first = run_once(*l, ctx, "-sess_out", &resumed);
  EXPECT_NE(first.find("New, TLSv1.2"), std::string::npos) << first;
  EXPECT_FALSE(resumed);
  // A server that resumes nothing may give no session ID at all, and then
  // s_client has nothing to save: that is the same answer.
  if (!std::filesystem::exists(file_)) return;
  const std::string second = run_once(*l, ctx, "-sess_in", &resumed);
  EXPECT_NE(second.find("New, TLSv1.2"), std::string::npos) << second;
  EXPECT_EQ(second.find("Reused"), std::string::npos) << second;
  EXPECT_FALSE(resumed);
}

TEST_F(OpensslClientSessionId, AnotherServerContextDoesNotKnowTheId) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  auto first_ctx = server_ctx(server_config("server-rsa"));
  auto other_ctx = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(first_ctx && other_ctx);
  bool resumed = true;
  (void)run_once(*l, first_ctx, "-sess_out", &resumed);
  ASSERT_TRUE(std::filesystem::exists(file_));
  const std::string second = run_once(*l, other_ctx, "-sess_in", &resumed);
  EXPECT_NE(second.find("New, TLSv1.2"), std::string::npos) << second;
  EXPECT_FALSE(resumed);
}

class GnutlsClient : public ::testing::Test {
 protected:
  void SetUp() override {
    UPTLS_REQUIRE_PEER_PROGRAM(peer_program::gnutls_cli);
  }
  static std::unique_ptr<child> gnutls_cli(std::uint16_t port, const std::string& priority) {
    std::vector<std::string> argv{"gnutls-cli", "127.0.0.1", "-p", std::to_string(port), "--sni-hostname",
                                  "localhost", "--verify-hostname", "localhost", "--x509cafile", cert("ca.pem")};
    if (!priority.empty()) argv.push_back("--priority=" + priority);
    return child::spawn(argv);
  }
};

TEST_F(GnutlsClient, DefaultClientVerifiesOurServerAndSendsData) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  auto peer = gnutls_cli(l->port(), "");
  server_run run = accept_one(*l, server_config("server-rsa"));
  ASSERT_TRUE(run.e);
  ASSERT_TRUE(is_ok(run.outcome)) << run.e->failure().text;
  EXPECT_TRUE(run.e->session().forward_secret);
  EXPECT_EQ(run.e->session().sni, "localhost");
  peer->write_stdin("hello from gnutls-cli\n");
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*run.e, *run.io, 22, got)));
  EXPECT_EQ(got, "hello from gnutls-cli\n");
}

TEST_F(GnutlsClient, RsaOnlyClientIsRefusedByAStrictServer) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  auto peer = gnutls_cli(l->port(), "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA");
  server_run run = accept_one(*l, server_config("server-rsa", profile::strict));
  ASSERT_TRUE(run.e);
  EXPECT_TRUE(run.outcome.failed()) << to_string(run.outcome);
  EXPECT_EQ(run.outcome, errc::handshake_failure) << to_string(run.outcome) << ": " << run.e->failure().text;
}

}  // namespace
}  // namespace uptls::test
