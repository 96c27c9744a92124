// The IMAP server against hand-driven clients: capabilities before and after
// TLS, refusals of credentials in plaintext, pipelining behind STARTTLS, a
// second STARTTLS, line and literal bounds, and the mailbox hand-off.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace uptls::test::imap {
namespace {

using uptls::imap::server_options;

// Reads the greeting, sends STARTTLS and upgrades the test's own stream.
void upgrade(stream& s) {
  ASSERT_EQ(last_line(ask(s, "t0", "STARTTLS")), "t0 OK Begin TLS negotiation now");
  ASSERT_EQ(s.start_tls(client_ctx(), localhost()), std::error_code{});
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(ImapServer, RequiredTlsHidesCredentialsUntilTheUpgrade) {
  server_options o = with_tls(true);
  o.hostname = "imap.test";
  server_run srv(o);
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] imap.test uptls IMAP ready");
  const std::string caps = ask(s, "a1", "CAPABILITY");
  EXPECT_EQ(caps, "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\na1 OK CAPABILITY completed");
  EXPECT_FALSE(has(caps, "AUTH="));
  // Credentials before TLS: refused, and never handed to the application.
  EXPECT_EQ(ask(s, "a2", std::string("LOGIN alice \"") + "s3cret \\\"pass\\\"\""),
            "a2 NO [PRIVACYREQUIRED] use STARTTLS first");
  EXPECT_EQ(ask(s, "a3", "AUTHENTICATE PLAIN"), "a3 NO [PRIVACYREQUIRED] use STARTTLS first");
  EXPECT_EQ(ask(s, "a4", "SELECT INBOX"), "a4 BAD SELECT not valid before STARTTLS and LOGIN");
  EXPECT_EQ(ask(s, "a5", "NOOP"), "a5 OK NOOP completed");
  upgrade(s);
  // Inside TLS: a fresh state; STARTTLS neither advertised nor accepted.
  EXPECT_EQ(ask(s, "b1", "CAPABILITY"), "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\nb1 OK CAPABILITY completed");
  EXPECT_EQ(ask(s, "b2", "STARTTLS"), "b2 BAD TLS is already active");
  EXPECT_EQ(ask(s, "b3", "LOGIN alice wrong"), "b3 NO [AUTHENTICATIONFAILED] Invalid credentials");
  EXPECT_EQ(ask(s, "b4", "LOGIN alice \"s3cret \\\"pass\\\"\""), "b4 OK [CAPABILITY IMAP4rev1] LOGIN completed");
  EXPECT_EQ(ask(s, "b5", "LOGIN alice x"), "b5 BAD already logged in");
  EXPECT_EQ(ask(s, "b6", "FETCH 1 BODY[]"), "b6 BAD no mailbox selected");
  EXPECT_EQ(ask(s, "b7", "LIST \"\" \"*\""), "* LIST () \"/\" \"INBOX\"\nb7 OK LIST completed");
  EXPECT_EQ(ask(s, "b8", "LIST \"\" \"\""), "* LIST (\\Noselect) \"/\" \"\"\nb8 OK LIST completed");
  EXPECT_EQ(ask(s, "b9", "SELECT Elsewhere"), "b9 NO [NONEXISTENT] no such mailbox");
  const std::string sel = ask(s, "c1", "SELECT INBOX");
  EXPECT_TRUE(has(sel, "* 2 EXISTS\n")) << sel;
  EXPECT_TRUE(has(sel, "* OK [UIDVALIDITY 1]")) << sel;
  EXPECT_EQ(last_line(sel), "c1 OK [READ-ONLY] SELECT completed");
  // FETCH: the body as a literal, read here as raw bytes.
  ASSERT_EQ(s.write("c2 FETCH 1 (FLAGS BODY.PEEK[])\r\n"), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  const std::string& body = inbox_messages()[0];
  EXPECT_EQ(line, "* 1 FETCH (FLAGS () BODY[] {" + std::to_string(body.size()) + "}");
  std::string got(body.size(), '\0');
  std::size_t have = 0;
  while (have < got.size()) {
    auto n = s.read_some(std::as_writable_bytes(std::span(got.data() + have, got.size() - have)));
    ASSERT_TRUE(n.ok() && *n > 0);
    have += *n;
  }
  EXPECT_EQ(got, body);
  EXPECT_EQ(read_until_tagged(s, "c2"), ")\nc2 OK FETCH completed");
  const std::string uid = ask(s, "c3", "UID FETCH 2 (RFC822.SIZE)");
  EXPECT_EQ(uid, "* 2 FETCH (UID 2 RFC822.SIZE " + std::to_string(inbox_messages()[1].size()) +
                     ")\nc3 OK UID FETCH completed");
  EXPECT_EQ(ask(s, "c4", "UID FETCH 9 (FLAGS)"), "c4 OK UID FETCH completed");  // no such UID: nothing
  EXPECT_EQ(ask(s, "c5", "FETCH 9 (FLAGS)"), "c5 BAD invalid message set");
  EXPECT_EQ(ask(s, "c6", "FETCH 1 BODY[HEADER]"), "c6 BAD unsupported FETCH item BODY[HEADER]");
  EXPECT_EQ(ask(s, "c7", "CLOSE"), "c7 OK CLOSE completed");
  EXPECT_EQ(ask(s, "c8", "LOGOUT"), "* BYE imap.test logging out\nc8 OK LOGOUT completed");
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto logins = srv.store().logins();
  ASSERT_EQ(logins.size(), 2u);  // the application saw only the two LOGINs inside TLS
  EXPECT_TRUE(logins[0].over_tls);
  EXPECT_TRUE(logins[1].over_tls);
  // The password never reaches the trace.
  for (const auto& t : srv.trace()) EXPECT_FALSE(has(t, "s3cret")) << t;
}

// AUTHENTICATE PLAIN inside TLS, with the response on the command line
// (SASL-IR) or after "+ "; malformed responses, a cancel, another mechanism and
// a proxy login are refused, each with its reason, and never reach the application.
TEST(ImapServer, AuthenticatePlainInsideTls) {
  server_run srv(with_tls(true));
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  upgrade(s);
  // In base64: "\0alice\0s3cret \"pass\"", "\0alice\0wrong", "bob\0alice\0s3cret \"pass\"".
  EXPECT_EQ(ask(s, "a1", "AUTHENTICATE CRAM-MD5"), "a1 NO [CANNOT] only the PLAIN mechanism is offered");
  EXPECT_EQ(ask(s, "a2", "AUTHENTICATE PLAIN not*base64"), "a2 BAD invalid SASL PLAIN response");
  EXPECT_EQ(ask(s, "a2b", "AUTHENTICATE PLAIN AGFsaWNlAHdyb25n extra"), "a2b BAD Syntax: AUTHENTICATE PLAIN response");
  EXPECT_EQ(ask(s, "a3", "AUTHENTICATE PLAIN YWxpY2U="), "a3 BAD invalid SASL PLAIN response");  // "alice": no NULs
  EXPECT_EQ(ask(s, "a4", "AUTHENTICATE PLAIN AGFsaWNlAHdyb25n"), "a4 NO [AUTHENTICATIONFAILED] Invalid credentials");
  EXPECT_EQ(ask(s, "a5", "AUTHENTICATE PLAIN Ym9iAGFsaWNlAHMzY3JldCAicGFzcyI="), "a5 NO [AUTHORIZATIONFAILED] no proxy login");
  ASSERT_EQ(s.write("a6 AUTHENTICATE PLAIN\r\n"), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "+ ");
  ASSERT_EQ(s.write("*\r\n"), std::error_code{});
  EXPECT_EQ(read_until_tagged(s, "a6"), "a6 BAD AUTHENTICATE cancelled");
  ASSERT_EQ(s.write("a7 AUTHENTICATE PLAIN\r\n"), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "+ ");
  ASSERT_EQ(s.write("AGFsaWNlAHMzY3JldCAicGFzcyI=\r\n"), std::error_code{});
  EXPECT_EQ(read_until_tagged(s, "a7"), "a7 OK [CAPABILITY IMAP4rev1] AUTHENTICATE completed");
  EXPECT_EQ(ask(s, "a8", "AUTHENTICATE PLAIN AGFsaWNlAHMzY3JldCAicGFzcyI="), "a8 BAD already logged in");
  EXPECT_EQ(ask(s, "a9", "LOGOUT"), "* BYE localhost logging out\na9 OK LOGOUT completed");
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto logins = srv.store().logins();
  ASSERT_EQ(logins.size(), 2u);  // the wrong password and the good one; nothing malformed
  EXPECT_TRUE(logins[1].over_tls);
  for (const auto& t : srv.trace()) EXPECT_FALSE(has(t, "AGFsaWNl")) << "a SASL response reached the trace: " << t;
}

TEST(ImapServer, WithoutRequiredTlsPlaintextLoginIsTheOperatorsChoice) {
  server_run srv(with_tls(false));
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR] localhost uptls IMAP ready");
  EXPECT_EQ(ask(s, "a", "LOGIN alice \"s3cret \\\"pass\\\"\""), "a OK [CAPABILITY IMAP4rev1] LOGIN completed");
  // Logged in: STARTTLS is gone (only in the not-authenticated state).
  EXPECT_EQ(ask(s, "b", "STARTTLS"), "b BAD STARTTLS only before LOGIN");
  EXPECT_EQ(ask(s, "c", "LOGOUT"), "* BYE localhost logging out\nc OK LOGOUT completed");
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto logins = srv.store().logins();
  ASSERT_EQ(logins.size(), 1u);
  EXPECT_FALSE(logins[0].over_tls);
}

TEST(ImapServer, NoTlsContextNoStarttls) {
  server_run srv(server_options{});
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] localhost uptls IMAP ready");
  EXPECT_EQ(ask(s, "a", "STARTTLS"), "a BAD STARTTLS is not available");
  EXPECT_EQ(ask(s, "b", "STARTTLS now"), "b BAD STARTTLS takes no arguments");
  EXPECT_EQ(ask(s, "c", "LOGOUT"), "* BYE localhost logging out\nc OK LOGOUT completed");
  EXPECT_EQ(srv.finish(), std::error_code{});
}

// Commands pipelined behind STARTTLS: a whole line, a fragment, binary bytes.
// Each is refused in plaintext and never runs, inside TLS or out.
TEST(ImapServer, CommandsPipelinedBehindStarttlsAreRefusedAndNeverRun) {
  for (const std::string& tail : {std::string("b LOGIN alice \"s3cret \\\"pass\\\"\"\r\n"), std::string("b LOG"),
                                 std::string("\x16\x03\x01\x00\x05hello", 10)}) {
    server_run srv(with_tls(false));
    stream s = connect_to(srv.port());
    std::string line;
    ASSERT_EQ(read_line(s, line), std::error_code{});
    ASSERT_EQ(s.write("a STARTTLS\r\n" + tail), std::error_code{});
    EXPECT_EQ(read_until_tagged(s, "a"), "a BAD no commands may follow STARTTLS before the TLS handshake");
    EXPECT_EQ(read_line(s, line), make_error_code(errc::eof));  // and the server hung up
    EXPECT_EQ(srv.finish(), make_error_code(errc::plaintext_injection));
    EXPECT_TRUE(srv.store().logins().empty());
    EXPECT_EQ(srv.received(), std::vector<std::string>{"a STARTTLS"});
  }
}

TEST(ImapServer, AnOverlongLineIsRefusedAndTheSessionGoesOn) {
  server_run srv(with_tls(false));
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  ASSERT_EQ(s.write("a NOOP " + std::string(9000, 'x') + "\r\n"), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "* BAD line too long");
  EXPECT_EQ(ask(s, "b", "NOOP"), "b OK NOOP completed");
  EXPECT_EQ(ask(s, "c", "LOGOUT"), "* BYE localhost logging out\nc OK LOGOUT completed");
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(ImapServer, AnOverlongLiteralEndsTheSession) {
  server_run srv(with_tls(false));
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  ASSERT_EQ(s.write("a LOGIN {100000}\r\n"), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "* BYE literal too large");
  EXPECT_EQ(srv.finish(), make_error_code(errc::protocol_error));
  EXPECT_TRUE(srv.store().logins().empty());
}

TEST(ImapServer, LiteralsAreAcknowledgedAndCarryCredentials) {
  server_run srv(with_tls(true));
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  upgrade(s);
  const std::string password = mail_store::password;
  ASSERT_EQ(s.write("a LOGIN {5}\r\n"), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "+ Ready for literal data");
  ASSERT_EQ(s.write("alice {" + std::to_string(password.size()) + "}\r\n"), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "+ Ready for literal data");
  ASSERT_EQ(s.write(password + "\r\n"), std::error_code{});
  EXPECT_EQ(read_until_tagged(s, "a"), "a OK [CAPABILITY IMAP4rev1] LOGIN completed");
  // A non-synchronising literal (LITERAL+ style) needs no go-ahead.
  EXPECT_EQ(ask(s, "b", "SELECT {5+}\r\nINBOX"), "* FLAGS (\\Seen)\n* 2 EXISTS\n* 0 RECENT\n"
                                                 "* OK [UIDVALIDITY 1] UIDs valid\n* OK [UIDNEXT 3] predicted next UID\n"
                                                 "* OK [PERMANENTFLAGS ()] read-only mailbox\n"
                                                 "b OK [READ-ONLY] SELECT completed");
  EXPECT_EQ(ask(s, "c", "LOGOUT"), "* BYE localhost logging out\nc OK LOGOUT completed");
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(ImapServer, BadSyntaxAndUnknownCommands) {
  server_options o;
  o.max_errors = 100;
  server_run srv(o);
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(ask(s, "a", "FROB"), "a BAD FROB not valid before LOGIN");
  EXPECT_EQ(ask(s, "b", "LOGIN onlyuser"), "b BAD Syntax: LOGIN user password");
  EXPECT_EQ(ask(s, "c", "LOGIN \"unterminated"), "c BAD Syntax: LOGIN user password");
  EXPECT_EQ(ask(s, "d", "CAPABILITY extra"), "d BAD CAPABILITY takes no arguments");
  EXPECT_EQ(ask(s, "e", ""), "e BAD missing command");
  ASSERT_EQ(s.write("* NOOP\r\n"), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "* BAD invalid tag");
  EXPECT_EQ(ask(s, "f", "LOGIN alice wrong"), "f NO [AUTHENTICATIONFAILED] Invalid credentials");
  EXPECT_EQ(ask(s, "g", "LOGOUT"), "* BYE localhost logging out\ng OK LOGOUT completed");
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(ImapServer, TooManyErrorsEndTheSession) {
  server_options o;
  o.max_errors = 3;
  server_run srv(o);
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(ask(s, "a", "FROB"), "a BAD FROB not valid before LOGIN");
  EXPECT_EQ(ask(s, "b", "FROB"), "b BAD FROB not valid before LOGIN");
  ASSERT_EQ(s.write("c FROB\r\n"), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "* BYE too many errors, closing");
  EXPECT_EQ(srv.finish(), make_error_code(errc::protocol_error));
}

TEST(ImapServer, ASilentClientIsLoggedOutAtTheGreetingTimeout) {
  server_options o;
  o.timeouts.greeting = 300ms;
  server_run srv(o);
  stream s = connect_to(srv.port());
  std::string line;
  ASSERT_EQ(read_line(s, line), std::error_code{});
  ASSERT_EQ(read_line(s, line), std::error_code{});
  EXPECT_EQ(line, "* BYE autologout; idle for too long");
  EXPECT_EQ(srv.finish(), make_error_code(errc::timeout));
}

TEST(ImapServer, ClientLeavingWithoutLogoutIsEof) {
  server_run srv(with_tls(false));
  {
    stream s = connect_to(srv.port());
    std::string line;
    ASSERT_EQ(read_line(s, line), std::error_code{});
    (void)s.close();
  }
  EXPECT_EQ(srv.finish(), make_error_code(errc::eof));
}

}  // namespace
}  // namespace uptls::test::imap
