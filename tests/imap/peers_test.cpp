// uptls IMAP against real programs nobody here wrote: Python's imaplib,
// openssl s_client -starttls imap, gnutls-cli --starttls-proto=imap and curl
// as clients of the uptls server, each logging in and fetching a message inside
// TLS; and the uptls client against a real Dovecot (STARTTLS, implicit TLS,
// ssl = required). A peer that ./dev installs but cannot do its job fails the
// test loudly, naming its Debian package.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "dovecot.hpp"
#include "harness.hpp"

namespace uptls::test::imap {
namespace {

constexpr auto step = 10s;  // the longest wait for one reply from a peer
const std::string python = "/usr/bin/python3";

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The password as an IMAP quoted string, as a line-driven client types it.
std::string quoted_password() { return "\"s3cret \\\"pass\\\"\""; }

struct step_t {
  std::string send;
  std::string expect;
};

void drive(child& peer, const std::vector<step_t>& steps, std::string& seen) {
  for (const auto& s : steps) {
    peer.write_stdin(s.send);
    ASSERT_TRUE(peer.wait_for_output(s.expect, step, &seen)) << "no '" << s.expect << "' after " << s.send
                                                                << "\n--- peer said:\n" << seen;
  }
}

// What a line-driven client types inside TLS: log in, select, fetch, log out.
std::vector<step_t> mailbox_steps() {
  return {
      {"x1 LOGIN alice " + quoted_password() + "\r\n", "x1 OK"},
      {"x2 SELECT INBOX\r\n", "x2 OK"},
      {"x3 FETCH 1 BODY[]\r\n", "x3 OK FETCH completed"},
      {"x4 LOGOUT\r\n", "x4 OK LOGOUT completed"},
  };
}

void expect_logged_in_over_tls(server_run& srv) {
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto logins = srv.store().logins();
  ASSERT_FALSE(logins.empty());
  EXPECT_TRUE(logins.back().over_tls);
  EXPECT_EQ(logins.back().user, "alice");
}

// ---- uptls server, real clients -------------------------------------------------

TEST(ImapPeersServer, PythonImaplibStarttlsLoginSelectFetch) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3);
  server_run srv(with_tls(true), quick(15s));
  const std::string script = R"py(
import imaplib, ssl, sys
host, port, ca, user, password = sys.argv[1:6]
m = imaplib.IMAP4(host, int(port), timeout=10)
print("BEFORE", " ".join(sorted(m.capabilities)))
try:
    m.login(user, password)
    print("PLAIN LOGIN ACCEPTED")
except imaplib.IMAP4.error as e:
    print("PLAIN LOGIN REFUSED", e)
typ, dat = m.starttls(ssl.create_default_context(cafile=ca))
print("STARTTLS", typ, m.sock.version())
print("AFTER", " ".join(sorted(m.capabilities)))
typ, dat = m.login(user, password)
print("LOGIN", typ)
typ, dat = m.select("INBOX", readonly=True)
print("SELECT", typ, dat[0].decode())
typ, dat = m.fetch("2", "(RFC822)")
print("FETCH", typ)
sys.stdout.write("BODY[" + dat[0][1].decode().replace("\r\n", "|") + "]\n")
print("LOGOUT", m.logout()[0])
)py";
  auto c = child::spawn({python, "-c", script, "127.0.0.1", std::to_string(srv.port()), cert("ca.pem"),
                         mail_store::user, mail_store::password});
  const std::string out = c->read_all(20s);
  ASSERT_EQ(c->wait(step), 0) << out;
  EXPECT_TRUE(has(out, "BEFORE IMAP4REV1 LOGINDISABLED STARTTLS\n")) << out;
  // imaplib sent LOGIN in plaintext; the server refused it in its own words.
  EXPECT_TRUE(has(out, "PLAIN LOGIN REFUSED")) << out;
  EXPECT_TRUE(has(out, "[PRIVACYREQUIRED]")) << out;
  EXPECT_TRUE(has(out, "STARTTLS OK TLS")) << out;
  // imaplib sorts them; SASL PLAIN appears only inside TLS.
  EXPECT_TRUE(has(out, "AFTER AUTH=PLAIN IMAP4REV1 SASL-IR\n")) << out;
  EXPECT_TRUE(has(out, "LOGIN OK\n")) << out;
  EXPECT_TRUE(has(out, "SELECT OK 2\n")) << out;
  std::string flat = inbox_messages()[1];
  for (std::size_t at = flat.find("\r\n"); at != std::string::npos; at = flat.find("\r\n")) flat.replace(at, 2, "|");
  EXPECT_TRUE(has(out, "BODY[" + flat + "]\n")) << out;
  EXPECT_TRUE(has(out, "LOGOUT BYE")) << out;
  expect_logged_in_over_tls(srv);
  const auto logins = srv.store().logins();
  EXPECT_EQ(logins.size(), 1u);  // the plaintext LOGIN never reached the application
}

TEST(ImapPeersServer, OpensslSClientStarttlsImap) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  server_run srv(with_tls(true), quick(15s));
  auto peer = child::spawn({"openssl", "s_client", "-starttls", "imap", "-connect",
                            "127.0.0.1:" + std::to_string(srv.port()), "-CAfile", cert("ca.pem"),
                            "-verify_return_error", "-verify_hostname", "localhost", "-nocommands", "-ign_eof"});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("Verify return code: 0 (ok)", step, &seen)) << seen;
  drive(*peer, mailbox_steps(), seen);
  EXPECT_TRUE(has(seen, "body one 4f1e")) << seen;
  EXPECT_EQ(peer->wait(step), 0) << seen;
  expect_logged_in_over_tls(srv);
  const auto lines = srv.received();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], ". CAPABILITY");  // s_client's own pre-TLS dialogue
  EXPECT_EQ(lines[1], ". STARTTLS");
  EXPECT_EQ(lines[2], "x1 LOGIN ***");
}

TEST(ImapPeersServer, GnutlsCliStarttlsImap) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::gnutls_cli);
  server_run srv(with_tls(true), quick(15s));
  auto peer = child::spawn({"gnutls-cli", "--starttls-proto=imap", "--x509cafile", cert("ca.pem"),
                            "--verify-hostname=localhost", "-p", std::to_string(srv.port()), "127.0.0.1"});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("Handshake was completed", step, &seen)) << seen;
  drive(*peer, mailbox_steps(), seen);
  peer->close_stdin();
  (void)peer->wait(step);
  EXPECT_TRUE(has(seen, "body one 4f1e")) << seen;
  EXPECT_TRUE(has(seen, "Status: The certificate is trusted.")) << seen;
  expect_logged_in_over_tls(srv);
}

// curl 7.88 keeps the LOGINDISABLED it saw before STARTTLS after the upgrade
// and logs in only through a SASL mechanism then: the server's AUTH=PLAIN
// (SASL-IR) inside TLS is what it uses.
TEST(ImapPeersServer, CurlSslReqdFetchesByIndexAndByUid) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::curl_imap_pop3_tls);
  for (const auto& [path, body] : {std::pair{std::string("/INBOX;MAILINDEX=1"), inbox_messages()[0]},
                                   std::pair{std::string("/INBOX;UID=2"), inbox_messages()[1]}}) {
    server_run srv(with_tls(true), quick(15s));
    auto c = child::spawn({"curl", "-sS", "--ssl-reqd", "--cacert", cert("ca.pem"), "--max-time", "20", "-u",
                           std::string(mail_store::plain_user) + ":" + mail_store::plain_password,
                           "imap://127.0.0.1:" + std::to_string(srv.port()) + path});
    const std::string out = c->read_all(25s);
    EXPECT_EQ(c->wait(step), 0) << path << "\n" << out;
    // child::read_all gives lines with LF ends; the body went out with CRLF.
    std::string body_lf = body;
    body_lf.erase(std::remove(body_lf.begin(), body_lf.end(), '\r'), body_lf.end());
    EXPECT_EQ(out, body_lf) << path;
    EXPECT_EQ(srv.finish(), std::error_code{});
    const auto logins = srv.store().logins();
    ASSERT_EQ(logins.size(), 1u);
    EXPECT_TRUE(logins[0].over_tls);
    const auto lines = srv.received();
    ASSERT_GE(lines.size(), 3u);
    EXPECT_TRUE(has(lines[1], " STARTTLS")) << lines[1];
  }
}

TEST(ImapPeersServer, CurlSslReqdRefusesAServerWithoutStarttls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::curl_imap_pop3_tls);
  server_run srv(uptls::imap::server_options{}, quick(15s));  // no TLS context
  auto c = child::spawn({"curl", "-sS", "--ssl-reqd", "--max-time", "20", "-u", "alice:x",
                         "imap://127.0.0.1:" + std::to_string(srv.port()) + "/INBOX;MAILINDEX=1"});
  const std::string out = c->read_all(25s);
  // curl's own words: exit 64, "Requested SSL level failed" / "STARTTLS not supported".
  EXPECT_EQ(c->wait(step), 64) << out;
  (void)srv.finish();
  EXPECT_TRUE(srv.store().logins().empty());
}

// ---- uptls client, real Dovecot -------------------------------------------------

const std::string body_marker = "seeded 91c2-uptls-imap";
const std::string seeded =
    "From: Seeder <seeder@example.org>\r\nTo: alice@localhost\r\nSubject: uptls imap\r\n"
    "Message-ID: <seeded-imap@uptls.test>\r\n\r\n" +
    body_marker + "\r\n";

// One Dovecot per configuration for the whole program, started at first use.
dovecot& shared_dovecot(bool ssl_required) {
  static std::unique_ptr<dovecot> servers[2];
  std::unique_ptr<dovecot>& d = servers[ssl_required ? 1 : 0];
  if (!d) {
    dovecot::options o;
    o.ssl_required = ssl_required;
    // Clients from 127.0.0.1 count as remote: no plaintext shortcuts.
    o.address = "127.0.0.2";
    d = std::make_unique<dovecot>(o);
    d->add_to_inbox(seeded);
    d->start();
  }
  return *d;
}

class ImapDovecot : public ::testing::Test {
 protected:
  void SetUp() override { UPTLS_REQUIRE_PEER_PROGRAM(peer_program::dovecot); }
};

void fetch_seeded(client& c, dovecot& d) {
  ASSERT_EQ(c.login(d.user(), d.password()), std::error_code{});
  ASSERT_EQ(c.select("INBOX"), std::error_code{});
  EXPECT_GE(c.unit().exists(), 1u);
  ASSERT_EQ(c.fetch(1), std::error_code{});
  EXPECT_EQ(c.unit().message(), seeded);
  EXPECT_EQ(c.logout(), std::error_code{});
}

TEST_F(ImapDovecot, StarttlsThenLoginSelectFetchInsideTls) {
  dovecot& d = shared_dovecot(false);
  client c(client_to(d.address(), d.ports().imap), uptls::imap::client_options{});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{}) << d.log();
  EXPECT_TRUE(c.connection().is_tls());
  EXPECT_TRUE(c.supports("AUTH=PLAIN"));
  EXPECT_FALSE(c.supports("STARTTLS"));
  EXPECT_FALSE(c.supports("LOGINDISABLED"));
  fetch_seeded(c, d);
  EXPECT_EQ(c.connection().session()->backend, backend_under_test().name());
}

TEST_F(ImapDovecot, ThePreludeSeesDovecotsPlaintextCapabilities) {
  dovecot& d = shared_dovecot(false);
  under_test conn = client_to(d.address(), d.ports().imap, quick(), drive_mode::blocking);
  std::vector<std::string> caps;
  ASSERT_EQ(run_prelude(conn.s, uptls::imap::client_options{}, &caps), std::error_code{});
  const auto in = [&](const std::string& c) { return std::find(caps.begin(), caps.end(), c) != caps.end(); };
  EXPECT_TRUE(in("STARTTLS"));
  EXPECT_TRUE(in("LOGINDISABLED"));
  EXPECT_FALSE(std::any_of(caps.begin(), caps.end(), [](const std::string& c) { return c.rfind("AUTH=", 0) == 0; }));
  ASSERT_EQ(conn.s.start_tls(client_ctx(), localhost()), std::error_code{});
  (void)conn.s.close();
}

TEST_F(ImapDovecot, ImplicitTlsOnTheImapsPort) {
  dovecot& d = shared_dovecot(false);
  under_test conn = client_to(d.address(), d.ports().imaps);
  ASSERT_EQ(conn.d.run(conn.s, [&] { return conn.s.start_tls(client_ctx(), localhost()); }), std::error_code{});
  client c(std::move(conn), uptls::imap::client_options{});
  ASSERT_EQ(c.open_implicit(), std::error_code{});
  EXPECT_TRUE(c.supports("AUTH=PLAIN"));
  fetch_seeded(c, d);
}

TEST_F(ImapDovecot, SslRequiredAndAnOpportunisticClientStillEndUpInTls) {
  dovecot& d = shared_dovecot(true);
  uptls::imap::client_options o;
  o.mode = uptls::imap::tls_mode::opportunistic;
  client c(client_to(d.address(), d.ports().imap), o);
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{}) << d.log();
  EXPECT_FALSE(c.tls_skipped());
  EXPECT_TRUE(c.connection().is_tls());
  fetch_seeded(c, d);
}

TEST_F(ImapDovecot, DovecotRefusesALoginBeforeTlsInItsOwnWords) {
  // The uptls client would never send it; a hand-driven one shows Dovecot's side.
  dovecot& d = shared_dovecot(true);
  stream s = [&] {
    auto t = tcp_connect(d.address(), d.ports().imap, {2s});
    if (!t) throw std::runtime_error("connect failed");
    return stream(std::move(t).value(), quick());
  }();
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_TRUE(has(line, "LOGINDISABLED")) << line;
  const std::string reply = ask(s, "a", "LOGIN " + d.user() + " " + d.password());
  EXPECT_TRUE(has(last_line(reply), "a NO [PRIVACYREQUIRED]")) << reply;
  (void)s.close();
}

// ---- the example server (examples/imap), real clients ----------------------------

#ifdef UPTLS_IMAP_MAILBOX
TEST(ImapExample, CurlAndImaplibReadTheFolderInsideTls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::curl_imap_pop3_tls);
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3);
  char dir_template[] = "/tmp/uptls-imap-example-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::filesystem::path dir = dir_template;
  struct remove_dir {
    std::filesystem::path p;
    ~remove_dir() { std::filesystem::remove_all(p); }
  } cleanup{dir};
  std::filesystem::create_directory(dir / "mail");
  std::ofstream(dir / "mail" / "1.eml") << "Subject: one\n\nfirst file\n";
  std::ofstream(dir / "mail" / "2.eml") << "Subject: two\n\nsecond file 5d7a\n";
  std::ofstream(dir / "password") << "pw-of-carol\n";
  auto server = child::spawn({UPTLS_IMAP_MAILBOX, "--cert", cert("server-rsa.pem"), "--key", cert("server-rsa.key"),
                              "--user", "carol", "--password-file", (dir / "password").string(), "--mail",
                              (dir / "mail").string(), "--backend", std::string(backend_under_test().name())});
  std::string seen;
  const std::string marker = "listening on 127.0.0.1 port ";
  ASSERT_TRUE(server->wait_for_output(marker, step, &seen)) << seen;
  const std::string port = std::to_string(std::stoi(seen.substr(seen.rfind(marker) + marker.size())));

  auto curl = child::spawn({"curl", "-sS", "--ssl-reqd", "--cacert", cert("ca.pem"), "--max-time", "20", "-u",
                            "carol:pw-of-carol", "imap://127.0.0.1:" + port + "/INBOX;MAILINDEX=2"});
  const std::string fetched = curl->read_all(25s);
  EXPECT_EQ(curl->wait(step), 0) << fetched;
  EXPECT_EQ(fetched, "Subject: two\n\nsecond file 5d7a\n");  // read_all: LF line ends
  ASSERT_TRUE(server->wait_for_output("session ended: ok", step, &seen)) << seen;
  EXPECT_TRUE(has(seen, "login accepted inside TLS")) << seen;

  const std::string script = R"py(
import imaplib, ssl, sys
port, ca = sys.argv[1:3]
m = imaplib.IMAP4("127.0.0.1", int(port), timeout=10)
try:
    m.login("carol", "pw-of-carol")
    print("PLAIN LOGIN ACCEPTED")
except imaplib.IMAP4.error as e:
    print("PLAIN LOGIN REFUSED", e)
m.starttls(ssl.create_default_context(cafile=ca))
print("LOGIN", m.login("carol", "pw-of-carol")[0])
print("LIST", m.list()[1][0].decode())
print("SELECT", m.select("INBOX", readonly=True)[1][0].decode())
print("FETCH", m.fetch("1", "(BODY.PEEK[])")[1][0][1].decode().replace("\r\n", "|"))
print("LOGOUT", m.logout()[0])
)py";
  auto py = child::spawn({python, "-c", script, port, cert("ca.pem")});
  const std::string out = py->read_all(20s);
  ASSERT_EQ(py->wait(step), 0) << out;
  EXPECT_TRUE(has(out, "PLAIN LOGIN REFUSED")) << out;
  EXPECT_TRUE(has(out, "[PRIVACYREQUIRED]")) << out;
  EXPECT_TRUE(has(out, "LOGIN OK\n")) << out;
  EXPECT_TRUE(has(out, "LIST () \"/\" \"INBOX\"\n")) << out;
  EXPECT_TRUE(has(out, "SELECT 2\n")) << out;
  EXPECT_TRUE(has(out, "FETCH Subject: one||first file|\n")) << out;
  EXPECT_TRUE(has(out, "LOGOUT BYE")) << out;
  server->stop();
}
#endif

}  // namespace
}  // namespace uptls::test::imap
