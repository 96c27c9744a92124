// The uptls ManageSieve server, in the program's mode, against a hand-driven
// client (each rule and each attack, asserted on the server's own words and
// its reason for ending) and against real clients nobody here wrote:
// sieve-connect, gnutls-cli --starttls-proto=sieve, openssl s_client -starttls
// sieve, and a Python client on the ssl module.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "sieve_harness.hpp"

namespace uptls::test::sieve {
namespace {

constexpr auto step = 10s;
const std::string python = "/usr/bin/python3";

std::string plain_login(const std::string& user, const std::string& password) {
  // base64("\0alice\0secret"), computed by hand once and checked by the server.
  if (user == "alice" && password == "secret") return "AGFsaWNlAHNlY3JldA==";
  return "AGFsaWNlAHdyb25n";  // "\0alice\0wrong"
}

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

TEST(SieveServer, RequiredTlsHidesSaslRefusesLoginThenServesInsideTls) {
  auto o = with_tls();
  o.require_tls = true;
  server_run srv(o);
  stream s = connect_to(srv.port(), quick());
  const std::string greeting = read_response(s);
  EXPECT_TRUE(has(greeting, "\"SASL\" \"\"")) << greeting;  // no mechanism before TLS
  EXPECT_TRUE(has(greeting, "\"STARTTLS\"")) << greeting;
  EXPECT_TRUE(has(greeting, "\"IMPLEMENTATION\" \"uptls\"")) << greeting;
  EXPECT_EQ(greeting.substr(greeting.rfind('\n') + 1), "OK \"uptls ManageSieve ready\"");

  EXPECT_EQ(ask(s, "AUTHENTICATE \"PLAIN\" \"" + plain_login("alice", "secret") + "\""),
            "NO (ENCRYPT-NEEDED) \"TLS is required before authentication\"");
  EXPECT_EQ(ask(s, "LISTSCRIPTS"), "NO \"authenticate first\"");
  EXPECT_EQ(ask(s, "NOOP \"t1\""), "OK (TAG \"t1\") \"Done\"");
  EXPECT_EQ(ask(s, "STARTTLS extra"), "NO \"STARTTLS takes no arguments\"");
  EXPECT_EQ(ask(s, "STARTTLS"), "OK \"Begin TLS negotiation now\"");
  ASSERT_EQ(drive(s, [&] { return s.start_tls(client_ctx(), localhost()); }), std::error_code{});

  // RFC 5804 2.2: the capabilities again, unasked, now with SASL and without STARTTLS.
  const std::string again = read_response(s);
  EXPECT_TRUE(has(again, "\"SASL\" \"PLAIN\"")) << again;
  EXPECT_FALSE(has(again, "STARTTLS")) << again;
  EXPECT_EQ(again.substr(again.rfind('\n') + 1), "OK \"TLS negotiation successful\"");
  EXPECT_EQ(ask(s, "STARTTLS"), "NO \"TLS already active\"");
  EXPECT_EQ(ask(s, "CAPABILITY"), again.substr(0, again.rfind('\n') + 1) + "OK \"Capability completed\"");
  EXPECT_EQ(ask(s, "AUTHENTICATE \"PLAIN\" \"" + plain_login("alice", "secret") + "\""), "OK \"Logged in\"");
  EXPECT_EQ(ask(s, "LOGOUT"), "OK \"Logout completed\"");
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(SieveServer, LoginWithAChallengeThenScripts) {
  server_run srv(with_tls());
  stream s = connect_to(srv.port(), quick());
  (void)read_response(s);
  EXPECT_EQ(ask(s, "STARTTLS"), "OK \"Begin TLS negotiation now\"");
  ASSERT_EQ(drive(s, [&] { return s.start_tls(client_ctx(), localhost()); }), std::error_code{});
  (void)read_response(s);
  ASSERT_TRUE(s.write("AUTHENTICATE \"PLAIN\"\r\n").ok());
  std::string line;
  ASSERT_FALSE(read_line(s, line));
  EXPECT_EQ(line, "\"\"");
  EXPECT_EQ(ask(s, "\"" + plain_login("alice", "wrong") + "\""), "NO \"authentication failed\"");
  ASSERT_TRUE(s.write("AUTHENTICATE \"PLAIN\"\r\n").ok());
  ASSERT_FALSE(read_line(s, line));
  EXPECT_EQ(ask(s, "{20+}\r\n" + plain_login("alice", "secret")), "OK \"Logged in\"");
  EXPECT_EQ(ask(s, "STARTTLS"), "NO \"TLS already active\"");
  EXPECT_EQ(ask(s, "PUTSCRIPT \"spam\" {21+}\r\nrequire \"fileinto\";\r\n"), "OK \"Putscript completed\"");
  EXPECT_EQ(ask(s, "SETACTIVE \"spam\""), "OK \"Setactive completed\"");
  EXPECT_EQ(ask(s, "LISTSCRIPTS"), "\"spam\" ACTIVE\n\"vacation\"\nOK \"Listscripts completed\"");
  EXPECT_EQ(ask(s, "GETSCRIPT \"spam\""), "{21}\nrequire \"fileinto\";\n\nOK \"Getscript completed\"");
  EXPECT_EQ(ask(s, "GETSCRIPT \"nothere\""), "NO (NONEXISTENT) \"there is no such script\"");
  EXPECT_EQ(ask(s, "DELETESCRIPT \"spam\""), "NO (ACTIVE) \"the active script cannot be deleted\"");
  EXPECT_EQ(ask(s, "LOGOUT"), "OK \"Logout completed\"");
  EXPECT_EQ(srv.finish(), std::error_code{});
  // The credentials never reach the trace.
  for (const auto& t : srv.trace()) EXPECT_FALSE(has(t, plain_login("alice", "secret"))) << t;
  EXPECT_TRUE(srv.traced("*: authenticated as alice"));
}

// Commands pipelined behind STARTTLS (a whole line, a fragment, binary bytes):
// refused with BYE, never run, and the session ends without TLS.
TEST(SieveServer, PipeliningBehindStarttlsIsRefusedAndNeverRun) {
  for (const std::string& behind : {std::string("AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n"),
                                    std::string("LISTSCR"), std::string("\x16\x03\x01\x00\x05", 5)}) {
    server_run srv(with_tls());
    stream s = connect_to(srv.port(), quick());
    (void)read_response(s);
    raw_write(s.lower(), "STARTTLS\r\n" + behind);
    bool closed = false;
    const std::string rest = drain(s.lower(), &closed);
    EXPECT_EQ(rest, "BYE \"no commands may follow STARTTLS before the TLS handshake\"\r\n");
    EXPECT_TRUE(closed);
    EXPECT_EQ(srv.finish(), errc::plaintext_injection);
    EXPECT_EQ(srv.received(), std::vector<std::string>{"STARTTLS"});
    EXPECT_FALSE(srv.traced("*: authenticated as alice"));
  }
}

TEST(SieveServer, OverLongLiteralEndsTheSessionBeforeItIsRead) {
  server_run srv(with_tls());
  stream s = connect_to(srv.port(), quick());
  (void)read_response(s);
  raw_write(s.lower(), "PUTSCRIPT \"big\" {99999999+}\r\n");
  bool closed = false;
  EXPECT_EQ(drain(s.lower(), &closed), "BYE \"literal too long\"\r\n");
  EXPECT_TRUE(closed);
  EXPECT_EQ(srv.finish(), errc::protocol_error);
}

TEST(SieveServer, OverLongLineAndBadSyntaxAreRefusedAndTheSessionGoesOn) {
  server_run srv(with_tls());
  stream s = connect_to(srv.port(), quick());
  (void)read_response(s);
  EXPECT_EQ(ask(s, "NOOP \"" + std::string(uptls::sieve::max_line + 10, 'a') + "\""), "NO \"line too long\"");
  EXPECT_EQ(ask(s, "NOOP \"unterminated"), "NO \"syntax error\"");
  EXPECT_EQ(ask(s, "NOOP \"bad\\escape\""), "NO \"syntax error\"");
  EXPECT_EQ(ask(s, "FROBNICATE"), "NO \"authenticate first\"");
  EXPECT_EQ(ask(s, "NOOP"), "OK \"Done\"");
  EXPECT_EQ(ask(s, "LOGOUT"), "OK \"Logout completed\"");
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(SieveServer, TooManyErrorsEndWithBye) {
  auto o = with_tls();
  o.max_errors = 3;
  server_run srv(o);
  stream s = connect_to(srv.port(), quick());
  (void)read_response(s);
  EXPECT_EQ(ask(s, "X1"), "NO \"authenticate first\"");
  EXPECT_EQ(ask(s, "X2"), "NO \"authenticate first\"");
  EXPECT_EQ(ask(s, "X3"), "BYE \"too many errors, closing\"");
  EXPECT_EQ(srv.finish(), errc::protocol_error);
}

TEST(SieveServer, SilentClientGetsByeAndTimeout) {
  auto o = with_tls();
  o.timeouts = {300ms, 300ms};
  server_run srv(o);
  stream s = connect_to(srv.port(), quick());
  (void)read_response(s);
  bool closed = false;
  EXPECT_EQ(drain(s.lower(), &closed), "BYE \"timeout, closing\"\r\n");
  EXPECT_EQ(srv.finish(), errc::timeout);
}

TEST(SieveServer, WithoutACertificateNoStarttls) {
  uptls::sieve::server_options o;
  server_run srv(o);
  stream s = connect_to(srv.port(), quick());
  const std::string greeting = read_response(s);
  EXPECT_FALSE(has(greeting, "STARTTLS")) << greeting;
  EXPECT_TRUE(has(greeting, "\"SASL\" \"\"")) << greeting;  // no authenticator either
  EXPECT_EQ(ask(s, "STARTTLS"), "NO \"STARTTLS not available\"");
  EXPECT_EQ(ask(s, "AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\""), "NO \"unsupported SASL mechanism\"");
  EXPECT_EQ(ask(s, "LOGOUT"), "OK \"Logout completed\"");
  EXPECT_EQ(srv.finish(), std::error_code{});
}

// ---- real clients ----------------------------------------------------------------

TEST(SieveServerPeers, SieveConnectListsAndDownloadsInsideTls) {
  if (!have_program("sieve-connect")) FAIL() << "sieve-connect is missing (Debian: sieve-connect)";
  server_run srv(with_tls(), quick(15s));
  const std::string out_file = testing::TempDir() + "/uptls-sieve-download-" + std::to_string(srv.port());
  // --noclearauth: sieve-connect itself refuses to log in without TLS; --nosrv: no
  // DNS query for SRV records (loopback only).
  auto peer = child::spawn({"sieve-connect", "--server", "127.0.0.1", "--port", std::to_string(srv.port()), "--user",
                            "alice", "--passwordfd", "0", "--tlscafile", cert("ca.pem"), "--tlshostname", "localhost",
                            "--noclearauth", "--nosrv", "--authmech", "PLAIN", "--download", "--remotesieve", "vacation",
                            "--localsieve", out_file});
  peer->write_stdin("secret\n");
  peer->close_stdin();
  const int status = peer->wait(20s);
  const std::string out = peer->read_all(1s);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(srv.finish(), std::error_code{}) << out;
  const auto lines = srv.received();
  ASSERT_GE(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0], "STARTTLS");
  EXPECT_TRUE(srv.traced("*: authenticated as alice")) << out;
  EXPECT_NE(std::find(lines.begin(), lines.end(), "GETSCRIPT \"vacation\""), lines.end()) << out;
  std::ifstream f(out_file, std::ios::binary);
  const std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "require \"vacation\";\r\nvacation \"away\";\r\n") << out;
  std::remove(out_file.c_str());
}

TEST(SieveServerPeers, SieveConnectRefusesAnUntrustedServer) {
  if (!have_program("sieve-connect")) FAIL() << "sieve-connect is missing (Debian: sieve-connect)";
  server_run srv(with_tls("untrusted"), quick(15s));
  auto peer = child::spawn({"sieve-connect", "--server", "127.0.0.1", "--port", std::to_string(srv.port()), "--user",
                            "alice", "--passwordfd", "0", "--tlscafile", cert("ca.pem"), "--tlshostname", "localhost",
                            "--noclearauth", "--nosrv", "--list"});
  peer->write_stdin("secret\n");
  peer->close_stdin();
  const int status = peer->wait(20s);
  const std::string out = peer->read_all(1s);
  EXPECT_NE(status, 0) << out;
  EXPECT_TRUE(has(out, "certificate verify failed") || has(out, "SSL connect attempt failed")) << out;
  EXPECT_EQ(srv.finish(), errc::cert_rejected_by_peer) << out;
  EXPECT_FALSE(srv.traced("*: authenticated as alice"));
}

TEST(SieveServerPeers, GnutlsCliStarttlsSieve) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::gnutls_cli);
  server_run srv(with_tls(), quick(15s));
  auto peer = child::spawn({"gnutls-cli", "--starttls-proto=sieve", "--x509cafile", cert("ca.pem"),
                            "--verify-hostname=localhost", "-p", std::to_string(srv.port()), "127.0.0.1"});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("Handshake was completed", step, &seen)) << seen;
  ASSERT_TRUE(peer->wait_for_output("OK \"TLS negotiation successful\"", step, &seen)) << seen;
  peer->write_stdin("AUTHENTICATE \"PLAIN\" \"" + plain_login("alice", "secret") + "\"\r\n");
  ASSERT_TRUE(peer->wait_for_output("OK \"Logged in\"", step, &seen)) << seen;
  peer->write_stdin("LISTSCRIPTS\r\n");
  ASSERT_TRUE(peer->wait_for_output("OK \"Listscripts completed\"", step, &seen)) << seen;
  peer->write_stdin("LOGOUT\r\n");
  ASSERT_TRUE(peer->wait_for_output("OK \"Logout completed\"", step, &seen)) << seen;
  peer->close_stdin();
  (void)peer->wait(step);
  EXPECT_TRUE(has(seen, "\"vacation\"")) << seen;
  EXPECT_TRUE(has(seen, "Status: The certificate is trusted.")) << seen;
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.received().front(), "STARTTLS");
}

TEST(SieveServerPeers, OpensslSClientStarttlsSieve) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  server_run srv(with_tls(), quick(15s));
  auto peer = child::spawn({"openssl", "s_client", "-starttls", "sieve", "-connect",
                            "127.0.0.1:" + std::to_string(srv.port()), "-CAfile", cert("ca.pem"),
                            "-verify_return_error", "-verify_hostname", "localhost", "-nocommands", "-ign_eof"});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("Verify return code: 0 (ok)", step, &seen)) << seen;
  peer->write_stdin("LOGOUT\r\n");
  ASSERT_TRUE(peer->wait_for_output("OK \"Logout completed\"", step, &seen)) << seen;
  (void)peer->wait(step);
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.received(), (std::vector<std::string>{"STARTTLS", "LOGOUT"}));
}

TEST(SieveServerPeers, PythonClientSeesCapabilitiesAgainAndFetchesAScript) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3);
  server_run srv(with_tls(), quick(15s));
  // A ManageSieve client on Python's socket and ssl modules (the standard library has no ManageSieve).
  const std::string code = R"(
import base64, socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
def response(f):
    lines = []
    while True:
        line = f.readline().rstrip(b"\r\n").decode()
        lines.append(line)
        if line.startswith(("OK", "NO", "BYE")):
            return lines
before = response(f)
print("BEFORE", "|".join(before))
s.sendall(b"STARTTLS\r\n")
print("STARTTLS", response(f)[-1])
t = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="localhost")
f = t.makefile("rb")
print("AFTER", "|".join(response(f)))
t.sendall(b'AUTHENTICATE "PLAIN" "' + base64.b64encode(b"\0alice\0secret") + b'"\r\n')
print("AUTH", response(f)[-1])
t.sendall(b'GETSCRIPT "vacation"\r\n')
print("GET", "|".join(response(f)))
t.sendall(b"LOGOUT\r\n")
print("LOGOUT", response(f)[-1])
)";
  auto peer = child::spawn({python, "-c", code, std::to_string(srv.port()), cert("ca.pem")});
  const int status = peer->wait(20s);
  const std::string out = peer->read_all(1s);
  EXPECT_EQ(status, 0) << out;
  EXPECT_TRUE(has(out, "BEFORE \"IMPLEMENTATION\" \"uptls\"|\"SASL\" \"PLAIN\"|")) << out;
  EXPECT_TRUE(has(out, "|\"STARTTLS\"|")) << out;
  EXPECT_TRUE(has(out, "STARTTLS OK \"Begin TLS negotiation now\"")) << out;
  EXPECT_TRUE(has(out, "AFTER \"IMPLEMENTATION\" \"uptls\"|")) << out;
  EXPECT_FALSE(has(out.substr(out.find("AFTER")), "STARTTLS")) << out;
  EXPECT_TRUE(has(out, "AUTH OK \"Logged in\"")) << out;
  EXPECT_TRUE(has(out, "GET {39}|require \"vacation\";|vacation \"away\";||OK \"Getscript completed\"")) << out;
  EXPECT_TRUE(has(out, "LOGOUT OK \"Logout completed\"")) << out;
  EXPECT_EQ(srv.finish(), std::error_code{});
}

}  // namespace
}  // namespace uptls::test::sieve
