// POP3 with STLS against real programs nobody here wrote: the uptls client
// against Dovecot (STLS, pop3s, ssl = required, a login and a fetch inside
// TLS), and the uptls server against Python's poplib, openssl s_client,
// gnutls-cli and curl, each logging in and fetching a message. A peer that
// ./dev installs but cannot do its job fails the test, naming its package.
#include <gtest/gtest.h>

#include "dovecot.hpp"
#include "pop3_harness.hpp"

namespace uptls::test::pop3 {
namespace {

using uptls::pop3::client_options;
using uptls::pop3::server_options;

constexpr auto step = 10s;  // the longest wait for one answer from a peer
const std::string python = "/usr/bin/python3";
const std::string body_marker = "The seeded body: 5e1d-uptls-pop3.";
const std::string seeded =
    "From: Seeder <seeder@example.org>\r\n"
    "To: alice@localhost\r\n"
    "Subject: uptls pop3 seeded message\r\n"
    "\r\n" +
    body_marker + "\r\n.a line with a leading dot\r\n";

// ---- uptls client against Dovecot -------------------------------------------------

// One Dovecot per configuration for the whole program, started at first use.
struct shared_dovecot {
  std::unique_ptr<dovecot> server;
  std::string error;
};
shared_dovecot ssl_yes;
shared_dovecot ssl_required;

dovecot* dovecot_for(shared_dovecot& s, bool required) {
  if (!s.server && s.error.empty()) {
    try {
      dovecot::options o;
      o.ssl_required = required;
      // Clients from 127.0.0.1 count as remote: no plaintext login for them.
      o.address = "127.0.0.2";
      auto d = std::make_unique<dovecot>(o);
      d->add_to_inbox(seeded);
      d->start();
      s.server = std::move(d);
    } catch (const std::exception& e) {
      s.error = e.what();
    }
  }
  return s.server.get();
}

class Pop3Dovecot : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    ssl_yes.server.reset();
    ssl_required.server.reset();
  }
};

#define UPTLS_DOVECOT(var, which, required)                 \
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::dovecot);        \
  dovecot* var = dovecot_for(which, required);              \
  ASSERT_NE(var, nullptr) << which.error

// The connection of the client under test to Dovecot, in the program's mode.
under_test dial(const dovecot& d, std::uint16_t port) {
  auto t = tcp_connect(d.address(), port, {2s});
  if (!t) throw std::runtime_error("connect failed: " + to_string(t));
  auto [s, dr] = driver::make(mode(), std::move(t).value(), quick(10s));
  return {std::move(s), std::move(dr)};
}

TEST_F(Pop3Dovecot, StlsThenLoginStatRetrInsideTls) {
  UPTLS_DOVECOT(d, ssl_yes, false);
  std::vector<std::string> trace;
  client_options co;
  co.trace = [&](std::string_view dir, std::string_view l) { trace.push_back(std::string(dir) + ": " + std::string(l)); };
  client c(dial(*d, d->ports().pop3), co);
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  EXPECT_TRUE(c.unit().connection().is_tls());
  EXPECT_EQ(c.unit().connection().session()->backend, backend_under_test().name());
  // Inside TLS Dovecot offers logins and no STLS; the pre-TLS list is gone.
  EXPECT_TRUE(c.unit().supports("USER"));
  EXPECT_TRUE(c.unit().supports("SASL"));
  EXPECT_FALSE(c.unit().supports("STLS"));
  ASSERT_EQ(c.login(d->user(), d->password()), std::error_code{}) << c.unit().last_response().text;
  EXPECT_EQ(c.unit().last_response().text, "Logged in.");
  ASSERT_EQ(c.stat(), std::error_code{});
  EXPECT_EQ(c.unit().last_stat().count, 1u);
  ASSERT_EQ(c.retr(1), std::error_code{});
  EXPECT_NE(c.unit().retrieved().find(body_marker + "\r\n.a line with a leading dot\r\n"), std::string::npos)
      << c.unit().retrieved();
  EXPECT_EQ(c.quit(), std::error_code{});
  // Dovecot's own go-ahead, and no password in the trace.
  bool go_ahead = false;
  for (const auto& l : trace) {
    go_ahead = go_ahead || l == "S: +OK Begin TLS negotiation now.";
    EXPECT_EQ(l.find(d->password()), std::string::npos) << l;
  }
  EXPECT_TRUE(go_ahead);
}

TEST_F(Pop3Dovecot, ImplicitTlsOnPop3s) {
  UPTLS_DOVECOT(d, ssl_yes, false);
  under_test conn = dial(*d, d->ports().pop3s);
  ASSERT_EQ(conn.d.run(conn.s, [&] { return conn.s.start_tls(client_ctx(), localhost()); }), std::error_code{});
  client c(std::move(conn));
  ASSERT_EQ(c.open_implicit(), std::error_code{});
  EXPECT_FALSE(c.unit().supports("STLS"));
  ASSERT_EQ(c.login(d->user(), d->password()), std::error_code{});
  ASSERT_EQ(c.retr(1), std::error_code{});
  EXPECT_NE(c.unit().retrieved().find(body_marker), std::string::npos);
  EXPECT_EQ(c.quit(), std::error_code{});
}

TEST_F(Pop3Dovecot, SslRequiredWithAnOpportunisticClient) {
  UPTLS_DOVECOT(d, ssl_required, true);
  client_options co;
  co.mode = uptls::pop3::tls_mode::opportunistic;
  client c(dial(*d, d->ports().pop3), co);
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  EXPECT_FALSE(c.unit().tls_skipped()) << "STLS was offered: the client must take it";
  EXPECT_TRUE(c.unit().connection().is_tls());
  ASSERT_EQ(c.login(d->user(), d->password()), std::error_code{});
  ASSERT_EQ(c.stat(), std::error_code{});
  EXPECT_EQ(c.unit().last_stat().count, 1u);
  EXPECT_EQ(c.quit(), std::error_code{});
}

// Last of the Dovecot tests: after a failed login Dovecot slows down every
// later login from the same address (its auth penalty).
TEST_F(Pop3Dovecot, WrongPasswordIsDovecotsRefusal) {
  UPTLS_DOVECOT(d, ssl_yes, false);
  client c(dial(*d, d->ports().pop3));
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  EXPECT_EQ(c.login(d->user(), "not-the-password"), make_error_code(uptls::pop3::refusal::login));
  EXPECT_NE(c.unit().last_response().text.find("[AUTH]"), std::string::npos) << c.unit().last_response().text;
  EXPECT_EQ(c.quit(), std::error_code{});
}

// ---- uptls server against real clients -----------------------------------------

server_options required_tls() {
  server_options o = with_tls();
  o.require_tls = true;
  return o;
}

void expect_one_tls_login(server_run& srv) {
  EXPECT_EQ(srv.log()->logins, (std::vector<std::string>{user + "/" + password + " tls"}));
  EXPECT_GE(srv.log()->retrieved, 1);
}

TEST(Pop3Peers, PythonPoplibStls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3);
  server_run srv(required_tls(), quick(15s));
  const std::string script = R"(
import poplib, ssl, sys
host, port, ca, user, pw = sys.argv[1:6]
p = poplib.POP3(host, int(port), timeout=10)
print("WELCOME", p.getwelcome().decode())
print("BEFORE", " ".join(sorted(p.capa())))
p.stls(context=ssl.create_default_context(cafile=ca))
print("AFTER", " ".join(sorted(p.capa())))
p.user(user)
p.pass_(pw)
print("STAT", *p.stat())
resp, lines, octets = p.retr(2)
for l in lines:
    print("LINE", l.decode())
print("TLS", p.sock.version())
print("QUIT", p.quit().decode())
)";
  auto peer = child::spawn({python, "-c", script, "127.0.0.1", std::to_string(srv.port()), cert("ca.pem"), user, password});
  const std::string out = peer->read_all(20s);
  EXPECT_EQ(peer->wait(step), 0) << out;
  EXPECT_NE(out.find("WELCOME +OK localhost POP3 uptls ready"), std::string::npos) << out;
  EXPECT_NE(out.find("BEFORE AUTH-RESP-CODE IMPLEMENTATION PIPELINING RESP-CODES STLS\n"), std::string::npos) << out;
  EXPECT_NE(out.find("AFTER AUTH-RESP-CODE IMPLEMENTATION PIPELINING RESP-CODES USER\n"), std::string::npos) << out;
  EXPECT_NE(out.find("STAT 3 "), std::string::npos) << out;
  // poplib undoes the dot-stuffing itself.
  EXPECT_NE(out.find("LINE .leading dot\nLINE ..two dots\nLINE .\nLINE end\n"), std::string::npos) << out;
  EXPECT_NE(out.find("QUIT +OK localhost POP3 uptls signing off"), std::string::npos) << out;
  EXPECT_EQ(srv.finish(), std::error_code{});
  expect_one_tls_login(srv);
}

// Feeds one line at a time to a line-oriented client and waits for the answer in its output.
struct step_t {
  std::string send;
  std::string expect;
};
void drive_peer(child& peer, const std::vector<step_t>& steps, std::string& seen) {
  for (const auto& s : steps) {
    peer.write_stdin(s.send);
    ASSERT_TRUE(peer.wait_for_output(s.expect, step, &seen)) << "no '" << s.expect << "' after " << s.send
                                                                << "\n--- peer said:\n" << seen;
  }
}
std::vector<step_t> fetch_steps() {
  return {
      {"USER " + user + "\r\n", "+OK send PASS"},
      {"PASS " + password + "\r\n", "+OK alice's maildrop has 3 messages"},
      {"STAT\r\n", "+OK 3 "},
      {"RETR 1\r\n", "hello"},
      {"QUIT\r\n", "+OK localhost POP3 uptls signing off"},
  };
}

TEST(Pop3Peers, OpensslSClientStarttlsPop3) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  server_run srv(required_tls(), quick(15s));
  auto peer = child::spawn({"openssl", "s_client", "-starttls", "pop3", "-connect", "127.0.0.1:" + std::to_string(srv.port()),
                            "-CAfile", cert("ca.pem"), "-verify_return_error", "-verify_hostname", "localhost",
                            "-nocommands", "-ign_eof"});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("Verify return code: 0 (ok)", step, &seen)) << seen;
  drive_peer(*peer, fetch_steps(), seen);
  peer->close_stdin();
  (void)peer->wait(step);
  EXPECT_EQ(srv.finish(), std::error_code{});
  expect_one_tls_login(srv);
  const auto lines = srv.received();
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "STLS");  // s_client's own upgrade
  EXPECT_EQ(lines[1], "USER " + user);
}

TEST(Pop3Peers, GnutlsCliStarttlsProtoPop3) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::gnutls_cli);
  server_run srv(required_tls(), quick(15s));
  auto peer = child::spawn({"gnutls-cli", "--starttls-proto=pop3", "--x509cafile", cert("ca.pem"),
                            "--verify-hostname=localhost", "-p", std::to_string(srv.port()), "127.0.0.1"});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("Handshake was completed", step, &seen)) << seen;
  drive_peer(*peer, fetch_steps(), seen);
  peer->close_stdin();
  (void)peer->wait(step);
  EXPECT_EQ(srv.finish(), std::error_code{});
  expect_one_tls_login(srv);
  EXPECT_NE(seen.find("Status: The certificate is trusted."), std::string::npos) << seen;
}

TEST(Pop3Peers, CurlSslReqdFetchesAMessage) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::curl_imap_pop3_tls);
  server_run srv(required_tls(), quick(15s));
  auto peer = child::spawn({"curl", "-sS", "--ssl-reqd", "--cacert", cert("ca.pem"), "--max-time", "15", "-u",
                            user + ":" + password, "pop3://localhost:" + std::to_string(srv.port()) + "/2"},
                           true);
  const std::string out = peer->read_all(20s);
  const std::string err = peer->read_stderr(2s);
  EXPECT_EQ(peer->wait(step), 0) << out << err;
  // curl prints the message as the server sent it, dot-stuffed lines undone
  // (the child's output is read as lines).
  std::string text = out;
  std::erase(text, '\r');
  EXPECT_EQ(text, "Subject: dots\n\n.leading dot\n..two dots\n.\nend\n") << err;
  EXPECT_EQ(srv.finish(), std::error_code{});
  expect_one_tls_login(srv);
  const auto lines = srv.received();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "CAPA");
  EXPECT_EQ(lines[1], "STLS");
  EXPECT_EQ(lines[2], "CAPA");  // curl asks again inside TLS
}

TEST(Pop3Peers, CurlSslReqdAgainstAServerWithoutTlsStops) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::curl_imap_pop3_tls);
  server_run srv(server_options{}, quick(15s));
  auto peer = child::spawn({"curl", "-sS", "--ssl-reqd", "--cacert", cert("ca.pem"), "--max-time", "15", "-u",
                            user + ":" + password, "pop3://localhost:" + std::to_string(srv.port()) + "/1"},
                           true);
  (void)peer->read_all(20s);
  const std::string err = peer->read_stderr(2s);
  // curl's own reason: exit 64, "Requested SSL level failed".
  EXPECT_EQ(peer->wait(step), 64) << err;
  (void)srv.finish();
  EXPECT_TRUE(srv.log()->logins.empty());
}

}  // namespace
}  // namespace uptls::test::pop3
