// The backend against TLS programs nobody here wrote: openssl s_server/s_client
// and gnutls-serv/gnutls-cli, over loopback, implicit TLS. Each peer is a child
// process that the test stops; a missing program fails the test, naming its package.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <gsl/util>
#include <sstream>

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

// The typed facts against a program nobody here wrote: what `openssl s_client`
// prints of a session, and what `openssl x509` and `openssl ciphers` say of the
// certificate and the suite, must be what our side of the same session reports.
std::string run_openssl(const std::vector<std::string>& argv) {
  auto p = child::spawn(argv);
  std::string out = p->read_all(10s);
  EXPECT_EQ(p->wait(5s), 0) << out;
  return out;
}

// The value after "key=" on the line that starts with it ("" if none).
std::string field_of(const std::string& text, const std::string& key) {
  std::size_t at = 0;
  while ((at = text.find(key, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const std::size_t start = at + key.size();
      return text.substr(start, text.find('\n', start) - start);
    }
    at += key.size();
  }
  return {};
}

// The `openssl x509` view of a PEM file, in certificate_info's terms.
certificate_info openssl_x509_view(const std::string& pem) {
  const std::string f = run_openssl({"openssl", "x509", "-in", pem, "-noout", "-nameopt", "RFC2253", "-subject",
                                     "-issuer", "-serial", "-fingerprint", "-sha256", "-startdate", "-enddate"});
  certificate_info c;
  c.subject = field_of(f, "subject=");
  c.issuer = field_of(f, "issuer=");
  c.serial = field_of(f, "serial=");
  for (char ch : field_of(f, "sha256 Fingerprint=")) {
    if (ch != ':') c.sha256 += ch;
  }
  auto date = [&](const std::string& key) {
    std::tm tm{};
    const std::string text = field_of(f, key);
    EXPECT_NE(strptime(text.c_str(), "%b %d %H:%M:%S %Y GMT", &tm), nullptr) << key << text;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
  };
  c.not_before = date("notBefore=");
  c.not_after = date("notAfter=");
  const std::string text = run_openssl({"openssl", "x509", "-in", pem, "-noout", "-text"});
  if (text.find("Public Key Algorithm: rsaEncryption") != std::string::npos) c.key = key_type::rsa;
  if (text.find("Public Key Algorithm: id-ecPublicKey") != std::string::npos) c.key = key_type::ecdsa;
  const std::size_t bits = text.find("Public-Key: (");
  if (bits != std::string::npos) c.key_bits = static_cast<unsigned>(std::stoul(text.substr(bits + 13)));
  std::size_t at = 0;
  while ((at = text.find("DNS:", at)) != std::string::npos) {
    at += 4;
    c.dns_names.push_back(text.substr(at, text.find_first_of(",\n", at) - at));
  }
  return c;
}

void expect_same_certificate(const certificate_info* ours, const certificate_info& theirs) {
  ASSERT_NE(ours, nullptr);
  EXPECT_EQ(ours->subject, theirs.subject);
  EXPECT_EQ(ours->issuer, theirs.issuer);
  EXPECT_EQ(ours->serial, theirs.serial);
  EXPECT_EQ(ours->sha256, theirs.sha256);
  EXPECT_EQ(ours->not_before, theirs.not_before);
  EXPECT_EQ(ours->not_after, theirs.not_after);
  EXPECT_EQ(ours->key, theirs.key);
  EXPECT_EQ(ours->key_bits, theirs.key_bits);
  EXPECT_EQ(ours->dns_names, theirs.dns_names);
}

// One row of `openssl ciphers -V -stdname`: "0xC0,0x2F - TLS_ECDHE_RSA_... - ECDHE-RSA-... TLSv1.2 Kx=ECDH ... Mac=AEAD".
struct openssl_suite {
  std::uint16_t id = 0;
  std::string iana;
  std::string kx;  // "ECDH", "DH", "RSA", "any" (TLS 1.3)
  bool aead = false;
};

openssl_suite openssl_suite_named(const std::string& name) {
  static const std::string table = run_openssl({"openssl", "ciphers", "-V", "-stdname", "ALL:COMPLEMENTOFALL"});
  std::size_t line = 0;
  while (line < table.size()) {
    const std::size_t end = std::min(table.find('\n', line), table.size());
    std::istringstream row(table.substr(line, end - line));
    std::string hex, dash1, iana, dash2, ossl, version, kx, au, enc, mac;
    row >> hex >> dash1 >> iana >> dash2 >> ossl >> version >> kx >> au >> enc >> mac;
    if (ossl == name || iana == name) {
      openssl_suite s;
      s.id = static_cast<std::uint16_t>(std::stoul(hex.substr(2, 2), nullptr, 16) << 8 |
                                        std::stoul(hex.substr(7, 2), nullptr, 16));
      s.iana = iana;
      s.kx = kx.substr(3);
      s.aead = mac == "Mac=AEAD";
      return s;
    }
    line = end + 1;
  }
  ADD_FAILURE() << "openssl ciphers does not list " << name;
  return {};
}

// "Server Temp Key: X25519, 253 bits" or "ECDH, prime256v1, 256 bits" as a group.
named_group group_from_temp_key(const std::string& key) {
  if (key.empty()) return named_group::none;
  if (key.rfind("X25519", 0) == 0) return named_group::x25519;
  if (key.rfind("X448", 0) == 0) return named_group::x448;
  if (key.find("prime256v1") != std::string::npos) return named_group::secp256r1;
  if (key.find("secp384r1") != std::string::npos) return named_group::secp384r1;
  if (key.find("secp521r1") != std::string::npos) return named_group::secp521r1;
  ADD_FAILURE() << "unexpected temp key " << key;
  return named_group::none;
}

class OpensslClientFacts : public OpensslClient {
 protected:
  // One s_client session (with the client certificate) against our server made
  // from ctx, run to its end; our side's facts and what s_client printed. A
  // caller that resumes passes the same ctx twice: it holds the ticket key and cache.
  session_info run_once(std::vector<std::string> flags, const context& ctx, std::string& printed) {
    auto l = tcp_listener::listen("127.0.0.1", 0);
    EXPECT_TRUE(l.ok());
    if (!l) return {};
    flags.insert(flags.end(), {"-cert", cert("client.pem"), "-key", cert("client.key")});
    auto peer = s_client(l->port(), flags);
    auto conn = l->accept(5s);
    EXPECT_TRUE(conn.ok()) << name_of(conn.error());
    if (!conn) return {};
    auto e = new_engine(ctx, **conn, {});
    EXPECT_TRUE(e.ok()) << to_string(e);
    if (!e) return {};
    EXPECT_TRUE(is_ok(finish(**conn, [&] { return (*e)->handshake(); }))) << (*e)->failure().text;
    session_info ours = (*e)->session();
    EXPECT_TRUE(is_ok(finish(**conn, [&] { return (*e)->close(); })));
    peer->close_stdin();
    printed = peer->read_all(5s);
    EXPECT_EQ(peer->wait(5s), 0) << printed;
    return ours;
  }
  session_info run_once(std::vector<std::string> flags, const tls_config& sc, std::string& printed) {
    auto ctx = server_ctx(sc);
    EXPECT_TRUE(ctx);
    return ctx ? run_once(std::move(flags), *ctx, printed) : session_info{};
  }
  tls_config server_asking_client(profile p = profile::strict) {
    tls_config sc = server_config("server-rsa", p);
    sc.client_certificates = client_auth::required;
    sc.ca_file = cert("ca.pem");
    return sc;
  }
  // Every fact s_client prints of the session, against ours.
  void expect_agree(const session_info& ours, const std::string& printed) {
    const std::string status = printed.find("\nReused, ") != std::string::npos ? "Reused, " : "New, ";
    const std::string line = field_of(printed, status);  // "TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"
    ASSERT_FALSE(line.empty()) << printed;
    EXPECT_EQ(ours.resumed, status == "Reused, ") << printed;
    EXPECT_EQ(std::string(to_string(ours.version)), line.substr(0, line.find(','))) << printed;
    const openssl_suite theirs = openssl_suite_named(line.substr(line.find("Cipher is ") + 10));
    EXPECT_EQ(ours.suite.id, theirs.id) << ours.suite.name;
    EXPECT_EQ(ours.suite.name, theirs.iana);
    EXPECT_EQ(ours.suite.aead, theirs.aead) << ours.suite.name;
    // A resumed session prints no temp key: no key was exchanged (TLS 1.2), or
    // s_client does not say (TLS 1.3); the full handshakes carry the check.
    if (!ours.resumed) {
      EXPECT_EQ(ours.group, group_from_temp_key(field_of(printed, "Server Temp Key: "))) << printed;
    }
    if (ours.version == tls_version::tls1_2) {
      const key_exchange want = theirs.kx == "ECDH" ? key_exchange::ecdhe
                                : theirs.kx == "DH" ? key_exchange::dhe
                                : theirs.kx == "RSA" ? key_exchange::rsa
                                                     : key_exchange::unknown;
      EXPECT_EQ(ours.kx, want) << theirs.kx;
    } else {
      EXPECT_EQ(theirs.kx, "any");
      EXPECT_EQ(ours.kx, key_exchange::ecdhe) << "an EC key share";
    }
    // s_client's own word on the key exchange ("any" in TLS 1.3: a key share).
    EXPECT_EQ(ours.forward_secret, theirs.kx == "ECDH" || theirs.kx == "DH" || theirs.kx == "any") << theirs.kx;
    EXPECT_EQ(ours.sni, "localhost");
    EXPECT_TRUE(ours.verified);
    expect_same_certificate(ours.peer_certificate(), openssl_x509_view(cert("client.pem")));
  }
};

TEST_F(OpensslClientFacts, DefaultSessionAgreesWithSClient) {
  std::string printed;
  const session_info ours = run_once({}, server_asking_client(), printed);
  expect_agree(ours, printed);
  EXPECT_EQ(ours.version, backend_under_test().caps().tls13 ? tls_version::tls1_3 : tls_version::tls1_2);
}

TEST_F(OpensslClientFacts, Tls12EcdheP256AgreesWithSClient) {
  std::string printed;
  const session_info ours = run_once({"-tls1_2", "-groups", "P-256"}, server_asking_client(), printed);
  expect_agree(ours, printed);
  EXPECT_EQ(ours.group, named_group::secp256r1);
  EXPECT_EQ(ours.kx, key_exchange::ecdhe);
}

TEST_F(OpensslClientFacts, Tls12RsaKeyExchangeAgreesWithSClient) {
  if (!backend_under_test().caps().rsa_key_exchange) GTEST_SKIP() << "no RSA key exchange in this backend";
  std::string printed;
  const session_info ours =
      run_once({"-tls1_2", "-cipher", "AES256-SHA256"}, server_asking_client(profile::legacy), printed);
  expect_agree(ours, printed);
  EXPECT_EQ(ours.suite.id, 0x003D);
  EXPECT_FALSE(ours.suite.aead);
  EXPECT_EQ(ours.kx, key_exchange::rsa);
  EXPECT_EQ(ours.group, named_group::none);
  EXPECT_FALSE(ours.forward_secret);
}

TEST_F(OpensslClientFacts, ResumedTls12SessionAgreesWithSClient) {
  const std::string file = (std::filesystem::temp_directory_path() /
                            ("uptls-facts-" + std::to_string(getpid()) + "-" + std::to_string(free_port()) + ".pem"))
                               .string();
  auto cleanup = gsl::finally([&] { std::filesystem::remove(file); });
  const tls_config sc = server_asking_client();
  auto ctx = server_ctx(sc);  // one context: it holds the ticket key or the session cache
  ASSERT_TRUE(ctx);
  std::string printed;
  auto session_with = [&](const char* flag) { return run_once({"-tls1_2", flag, file}, *ctx, printed); };
  const session_info first = session_with("-sess_out");
  expect_agree(first, printed);
  EXPECT_FALSE(first.resumed);
  const session_info second = session_with("-sess_in");
  expect_agree(second, printed);
  EXPECT_TRUE(second.resumed) << printed;
  EXPECT_EQ(second.group, named_group::none) << "an abbreviated TLS 1.2 handshake exchanges no key";
  EXPECT_EQ(second.kx, first.kx) << "the suite's key exchange, from the first handshake";
  EXPECT_EQ(second.peer_certificate_der(), first.peer_certificate_der());
}

// Our client's view of the server's ECDSA certificate, against `openssl x509`.
TEST_F(OpensslServer, ServerCertificateFactsAgreeWithOpensslX509) {
  const std::uint16_t port = free_port();
  auto peer = start_s_server(port, {"-cert", cert("server-ecdsa.pem"), "-key", cert("server-ecdsa.key")});
  client_run run = connect_to(port, client_config(profile::strict));
  ASSERT_TRUE(run.e);
  ASSERT_TRUE(is_ok(run.outcome)) << run.e->failure().text;
  const session_info s = run.e->session();
  certificate_info theirs = openssl_x509_view(cert("server-ecdsa.pem"));
  expect_same_certificate(s.peer_certificate(), theirs);
  EXPECT_EQ(s.peer_certificate()->key, key_type::ecdsa);
  EXPECT_EQ(s.peer_certificate()->ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
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
