// The uptls POP3 client against the uptls POP3 server, and each side against a
// hand-driven or scripted peer for the attacks: STLS missing or refused, bytes
// injected behind the +OK, malformed and over-long responses, commands
// pipelined behind STLS, credentials in plaintext, STLS inside TLS, and
// capabilities that must not survive the upgrade. Every failure asserts its reason.
#include <gtest/gtest.h>

#include <algorithm>

#include "pop3_harness.hpp"

namespace uptls::test::pop3 {
namespace {

using uptls::pop3::client_options;
using uptls::pop3::refusal;
using uptls::pop3::server_options;
using uptls::pop3::tls_mode;

bool has_line(const std::vector<std::string>& lines, const std::string& l) {
  return std::find(lines.begin(), lines.end(), l) != lines.end();
}

std::size_t total_size() {
  std::size_t n = 0;
  for (const auto& m : messages()) n += uptls::pop3::wire_size(m);
  return n;
}

// ---- uptls client against uptls server ----------------------------------------

TEST(Pop3Session, StlsLoginStatRetrInsideTls) {
  server_options o = with_tls();
  o.require_tls = true;
  server_run srv(o);
  client c(client_to(srv.port()));
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  ASSERT_TRUE(c.unit().connection().is_tls());
  EXPECT_EQ(c.unit().connection().session()->backend, backend_under_test().name());
  // The capabilities are the ones given inside TLS: USER now, STLS no longer.
  EXPECT_TRUE(c.unit().supports("USER"));
  EXPECT_TRUE(c.unit().supports("pipelining"));
  EXPECT_FALSE(c.unit().supports("STLS"));
  EXPECT_FALSE(c.unit().tls_skipped());
  ASSERT_EQ(c.login(user, password), std::error_code{});
  ASSERT_EQ(c.stat(), std::error_code{});
  EXPECT_EQ(c.unit().last_stat().count, 3u);
  EXPECT_EQ(c.unit().last_stat().size, total_size());
  ASSERT_EQ(c.retr(2), std::error_code{});
  EXPECT_EQ(c.unit().retrieved(), messages()[1]);  // dot-stuffed on the wire, unstuffed again
  ASSERT_EQ(c.retr(3), std::error_code{});
  EXPECT_EQ(c.unit().retrieved(), "Subject: lf only\r\n\r\nbare LF lines\r\nsecond\r\n");
  EXPECT_EQ(c.retr(4), make_error_code(refusal::command));
  EXPECT_EQ(c.unit().last_response().text, "no such message");
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.log()->logins, (std::vector<std::string>{user + "/" + password + " tls"}));
  // The password never reaches a trace.
  for (const auto& l : srv.trace()) EXPECT_EQ(l.find(password), std::string::npos) << l;
}

TEST(Pop3Session, WrongPasswordIsALoginRefusal) {
  server_run srv(with_tls());
  client c(client_to(srv.port()));
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  EXPECT_EQ(c.login(user, "wrong"), make_error_code(refusal::login));
  EXPECT_EQ(c.unit().last_response().text, "[AUTH] invalid user name or password");
  EXPECT_EQ(c.stat(), make_error_code(refusal::command));  // not logged in
  // A refusal is not a broken session: the right password still works.
  ASSERT_EQ(c.login(user, password), std::error_code{});
  ASSERT_EQ(c.stat(), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.log()->logins, (std::vector<std::string>{user + "/wrong tls", user + "/" + password + " tls"}));
}

TEST(Pop3Session, ImplicitTls) {
  std::shared_ptr<drop_log> log = std::make_shared<drop_log>();
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    if (!s.start_tls(server_ctx()).ok()) return;
    server_options o;
    o.require_tls = true;
    (void)uptls::pop3::serve(std::move(s), o, drops_of(log));
  });
  under_test conn = client_to(srv.port());
  ASSERT_EQ(conn.d.run(conn.s, [&] { return conn.s.start_tls(client_ctx(), localhost()); }), std::error_code{});
  client c(std::move(conn));
  ASSERT_EQ(c.open_implicit(), std::error_code{});
  EXPECT_TRUE(c.unit().supports("USER"));
  EXPECT_FALSE(c.unit().supports("STLS"));  // already TLS: nothing to upgrade
  ASSERT_EQ(c.login(user, password), std::error_code{});
  ASSERT_EQ(c.retr(1), std::error_code{});
  EXPECT_EQ(c.unit().retrieved(), messages()[0]);
  EXPECT_EQ(c.quit(), std::error_code{});
  srv.join();
  EXPECT_EQ(log->logins, (std::vector<std::string>{user + "/" + password + " tls"}));
}

TEST(Pop3Session, OpenImplicitOrUpgradedOnPlaintextIsUsage) {
  server_run srv(with_tls());
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open_implicit(), errc::usage);
  EXPECT_EQ(c.open_upgraded(), errc::usage);
  EXPECT_EQ(c.login(user, password), errc::usage);  // before open()
  EXPECT_EQ(c.stat(), errc::usage);
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  EXPECT_EQ(c.open(client_ctx()), errc::usage);  // twice
  EXPECT_EQ(c.retr(0), errc::usage);
  EXPECT_EQ(c.login("alice\r\nDELE 1", password), errc::usage);
  EXPECT_EQ(c.login(user, ""), errc::usage);
  EXPECT_EQ(c.login(user, std::string(201, 'p')), errc::usage);
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.received(), (std::vector<std::string>{"CAPA", "STLS", "CAPA", "QUIT"}));
}

TEST(Pop3Session, RequiredClientAgainstServerWithoutTlsSendsOnlyCapa) {
  server_run srv(server_options{});
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx()), errc::starttls_not_offered);
  EXPECT_EQ(c.login(user, password), errc::starttls_not_offered);  // the failure is sticky
  EXPECT_EQ(srv.finish(), errc::eof);
  EXPECT_EQ(srv.received(), std::vector<std::string>{"CAPA"});
  EXPECT_TRUE(srv.log()->logins.empty());
}

TEST(Pop3Session, OpportunisticClientGoesOnInPlaintextButKeepsThePassword) {
  server_run srv(server_options{});
  client_options co;
  co.mode = tls_mode::opportunistic;
  client c(client_to(srv.port()), co);
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  EXPECT_TRUE(c.unit().tls_skipped());
  EXPECT_EQ(c.unit().tls_skip_reason(), errc::starttls_not_offered);
  EXPECT_FALSE(c.unit().connection().is_tls());
  EXPECT_TRUE(c.unit().supports("USER"));
  // No password in the clear unless the application says so.
  EXPECT_EQ(c.login(user, password), errc::usage);
  EXPECT_EQ(c.stat(), make_error_code(refusal::command));  // not logged in: the server says so
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_TRUE(srv.log()->logins.empty());
  for (const auto& l : srv.received()) EXPECT_NE(l.rfind("USER", 0), 0u) << l;
}

TEST(Pop3Session, OpportunisticWithPlaintextLoginAllowed) {
  server_run srv(server_options{});
  client_options co;
  co.mode = tls_mode::opportunistic;
  co.plaintext_login = true;
  client c(client_to(srv.port()), co);
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  ASSERT_EQ(c.login(user, password), std::error_code{});
  ASSERT_EQ(c.stat(), std::error_code{});
  EXPECT_EQ(c.unit().last_stat().count, 3u);
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.log()->logins, (std::vector<std::string>{user + "/" + password + " plain"}));
}

TEST(Pop3Session, ExpiredCertificateStopsTheClient) {
  server_run srv(with_tls("expired"));
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx()), errc::cert_expired);
  EXPECT_EQ(c.login(user, password), errc::cert_expired);
  (void)srv.finish();
  EXPECT_TRUE(srv.log()->logins.empty());
}

TEST(Pop3Session, LadderPreludeThenOpenUpgraded) {
  server_options o = with_tls();
  o.require_tls = true;
  server_run srv(o);
  fallback_request req;
  req.host = "127.0.0.1";
  req.port = srv.port();
  req.stream_opts = quick();
  req.stream_opts.mode = mode() == drive_mode::blocking ? io_mode::blocking : io_mode::non_blocking;
  req.before_tls = uptls::pop3::starttls_prelude({});
  req.peer = localhost();
  req.base = client_config();
  req.ladder = {rung{&backend_under_test(), profile::strict}};
  fallback_result res = connect_with_fallback(req);
  ASSERT_TRUE(res.ok()) << res.report.why;
  client c(std::move(*res.connection), client_options{});
  ASSERT_EQ(c.open_upgraded(), std::error_code{});
  EXPECT_TRUE(c.unit().supports("USER"));
  ASSERT_EQ(c.login(user, password), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
}

// ---- the uptls server against a hand-driven client ------------------------------

TEST(Pop3Server, GreetsAndAnswersEveryCommand) {
  server_options o = with_tls();
  o.hostname = "pop.test";
  o.max_errors = 100;
  server_run srv(o);
  stream s = connect_to(srv.port(), quick());
  EXPECT_EQ(read_status(s), "+OK pop.test POP3 uptls ready");
  EXPECT_EQ(ask(s, "CAPA"), "+OK Capability list follows");
  EXPECT_EQ(read_list(s), "STLS\nUSER\nRESP-CODES\nAUTH-RESP-CODE\nPIPELINING\nIMPLEMENTATION uptls");
  EXPECT_EQ(ask(s, "NOOP"), "+OK");
  EXPECT_EQ(ask(s, "noop"), "+OK");
  EXPECT_EQ(ask(s, "CAPA now"), "-ERR CAPA takes no arguments");
  EXPECT_EQ(ask(s, "STAT"), "-ERR log in first");
  EXPECT_EQ(ask(s, "RETR 1"), "-ERR log in first");
  EXPECT_EQ(ask(s, "FROB"), "-ERR command not recognized");
  EXPECT_EQ(ask(s, "PASS x"), "-ERR give USER first");
  EXPECT_EQ(ask(s, "APOP alice 0123456789abcdef"), "-ERR [AUTH] APOP is not supported: use USER and PASS");
  EXPECT_EQ(ask(s, "AUTH PLAIN"), "-ERR [AUTH] no SASL mechanism is supported: use USER and PASS");
  EXPECT_EQ(ask(s, "STLS please"), "-ERR STLS takes no arguments");
  EXPECT_EQ(ask(s, "USER " + user), "+OK send PASS");
  EXPECT_EQ(ask(s, "PASS wrong"), "-ERR [AUTH] invalid user name or password");
  EXPECT_EQ(ask(s, "USER " + user), "+OK send PASS");
  EXPECT_EQ(ask(s, "PASS " + password), "+OK alice's maildrop has 3 messages (" + std::to_string(total_size()) + " octets)");
  EXPECT_EQ(ask(s, "STAT"), "+OK 3 " + std::to_string(total_size()));
  EXPECT_EQ(ask(s, "LIST"), "+OK 3 messages");
  EXPECT_EQ(read_list(s), "1 " + std::to_string(uptls::pop3::wire_size(messages()[0])) + "\n2 " +
                              std::to_string(uptls::pop3::wire_size(messages()[1])) + "\n3 " +
                              std::to_string(uptls::pop3::wire_size(messages()[2])));
  EXPECT_EQ(ask(s, "LIST 2"), "+OK 2 " + std::to_string(uptls::pop3::wire_size(messages()[1])));
  EXPECT_EQ(ask(s, "LIST 9"), "-ERR no such message");
  EXPECT_EQ(ask(s, "LIST x"), "-ERR Syntax: a message number");
  EXPECT_EQ(ask(s, "RETR 0"), "-ERR Syntax: a message number");
  EXPECT_EQ(ask(s, "RETR 2"), "+OK " + std::to_string(uptls::pop3::wire_size(messages()[1])) + " octets");
  // The raw wire: dot-stuffed, and the lone "." line of the message doubled.
  EXPECT_EQ(read_list(s), "Subject: dots\n\n..leading dot\n...two dots\n..\nend");
  EXPECT_EQ(ask(s, "DELE 1"), "-ERR [SYS/PERM] this maildrop is read-only");
  EXPECT_EQ(ask(s, "RSET"), "+OK");
  EXPECT_EQ(ask(s, "STLS"), "-ERR STLS is only allowed before logging in");
  EXPECT_EQ(ask(s, "USER bob"), "-ERR already logged in");
  EXPECT_EQ(ask(s, "QUIT"), "+OK pop.test POP3 uptls signing off");
  EXPECT_TRUE(starts(read_status(s), "ERR"));  // closed
  EXPECT_EQ(srv.finish(), std::error_code{});
  for (const auto& l : srv.trace()) EXPECT_EQ(l.find(password), std::string::npos) << l;
  EXPECT_TRUE(has_line(srv.trace(), "C: PASS ****"));
}

TEST(Pop3Server, CredentialsInPlaintextAreRefusedWhenTlsIsRequired) {
  server_options o = with_tls();
  o.require_tls = true;
  server_run srv(o);
  stream s = connect_to(srv.port());
  (void)read_status(s);
  EXPECT_EQ(ask(s, "CAPA"), "+OK Capability list follows");
  const std::string before = read_list(s);
  EXPECT_NE(before.find("STLS"), std::string::npos) << before;
  EXPECT_EQ(before.find("USER"), std::string::npos) << "a way to log in advertised before TLS: " << before;
  EXPECT_EQ(before.find("SASL"), std::string::npos) << before;
  const std::string refused = "-ERR [AUTH] TLS is required before logging in: issue STLS first";
  EXPECT_EQ(ask(s, "USER " + user), refused);
  EXPECT_EQ(ask(s, "PASS " + password), refused);
  EXPECT_EQ(ask(s, "APOP alice c4c9334bac560ecc979e58001b3e22fb"), refused);
  EXPECT_EQ(ask(s, "AUTH PLAIN AGFsaWNlAGFsaWNlLVNlY3JldC00NzEx"), refused);
  EXPECT_EQ(ask(s, "STLS"), "+OK Begin TLS negotiation");
  ASSERT_EQ(s.start_tls(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(ask(s, "CAPA"), "+OK Capability list follows");
  const std::string after = read_list(s);
  EXPECT_EQ(after.find("STLS"), std::string::npos) << "STLS advertised inside TLS: " << after;
  EXPECT_NE(after.find("USER"), std::string::npos) << after;
  // A second STLS inside TLS is refused, and the session goes on.
  EXPECT_EQ(ask(s, "STLS"), "-ERR TLS already active");
  EXPECT_EQ(ask(s, "USER " + user), "+OK send PASS");
  EXPECT_TRUE(starts(ask(s, "PASS " + password), "+OK alice's maildrop has 3 messages"));
  EXPECT_EQ(ask(s, "QUIT"), "+OK localhost POP3 uptls signing off");
  EXPECT_EQ(srv.finish(), std::error_code{});
  // The maildrop only ever saw the login inside TLS.
  EXPECT_EQ(srv.log()->logins, (std::vector<std::string>{user + "/" + password + " tls"}));
  EXPECT_EQ(srv.log()->made, 1);
}

TEST(Pop3Server, UserGivenBeforeStlsIsForgotten) {
  server_run srv(with_tls());  // TLS offered, not required: USER in plaintext is allowed
  stream s = connect_to(srv.port());
  (void)read_status(s);
  EXPECT_EQ(ask(s, "USER " + user), "+OK send PASS");
  EXPECT_EQ(ask(s, "STLS"), "+OK Begin TLS negotiation");
  ASSERT_EQ(s.start_tls(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(ask(s, "PASS " + password), "-ERR give USER first");
  EXPECT_EQ(ask(s, "QUIT"), "+OK localhost POP3 uptls signing off");
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_TRUE(srv.log()->logins.empty());
}

TEST(Pop3Server, CommandsPipelinedBehindStlsAreRefusedAndNeverRun) {
  // Whole lines, a fragment, and binary behind STLS, each in one write.
  for (const std::string& behind : {std::string("USER alice\r\nPASS alice-Secret-4711\r\nRETR 1\r\n"),
                                   std::string("USER ali"), std::string("\x16\x03\x01\x00\x05hello", 10)}) {
    server_options o = with_tls();
    o.require_tls = true;
    server_run srv(o);
    stream s = connect_to(srv.port());
    (void)read_status(s);
    ASSERT_EQ(s.write("STLS\r\n" + behind), std::error_code{});
    EXPECT_EQ(read_status(s), "-ERR no commands may follow STLS before the TLS handshake");
    EXPECT_TRUE(starts(read_status(s), "ERR"));  // and it closed
    EXPECT_EQ(srv.finish(), errc::plaintext_injection);
    EXPECT_EQ(srv.received(), std::vector<std::string>{"STLS"});
    EXPECT_EQ(srv.log()->made, 0);
    for (const auto& l : srv.trace()) EXPECT_EQ(l.find("Begin TLS"), std::string::npos) << l;
  }
}

TEST(Pop3Server, PlaintextAfterTheGoAheadEndsTheSessionAsAnInjection) {
  server_run srv(with_tls());
  stream s = connect_to(srv.port());
  (void)read_status(s);
  EXPECT_EQ(ask(s, "STLS"), "+OK Begin TLS negotiation");
  ASSERT_EQ(s.write("USER alice\r\nPASS alice-Secret-4711\r\n"), std::error_code{});
  EXPECT_EQ(srv.finish(), errc::plaintext_injection);
  EXPECT_EQ(srv.received(), std::vector<std::string>{"STLS"});
  EXPECT_EQ(srv.log()->made, 0);
}

TEST(Pop3Server, OverlongCommandLinesAreRefusedAndTheSessionGoesOn) {
  server_run srv(with_tls());
  stream s = connect_to(srv.port());
  (void)read_status(s);
  EXPECT_EQ(ask(s, "NOOP" + std::string(300, ' ')), "-ERR line too long");
  EXPECT_EQ(ask(s, "USER " + std::string(260, 'u')), "-ERR line too long");
  // Past the stream's limit: discarded in slices, each refused, none run.
  ASSERT_EQ(s.write("NOOP " + std::string(40000, 'x') + "STLS\r\nNOOP\r\n"), std::error_code{});
  std::string r;
  int refusals = 0;
  for (int i = 0; i < 20 && (r = read_status(s)) == "-ERR line too long"; ++i) ++refusals;
  EXPECT_GE(refusals, 1);
  EXPECT_EQ(r, "+OK");  // the NOOP after it
  EXPECT_EQ(ask(s, "QUIT"), "+OK localhost POP3 uptls signing off");
  EXPECT_EQ(srv.finish(), std::error_code{});
  for (const auto& l : srv.trace()) EXPECT_EQ(l.find("Begin TLS"), std::string::npos) << l;
}

TEST(Pop3Server, TooManyErrorsEndTheSession) {
  server_options o;
  o.max_errors = 3;
  server_run srv(o);
  stream s = connect_to(srv.port());
  (void)read_status(s);
  EXPECT_EQ(ask(s, "BAD1"), "-ERR command not recognized");
  EXPECT_EQ(ask(s, "BAD2"), "-ERR command not recognized");
  EXPECT_EQ(ask(s, "BAD3"), "-ERR [SYS/PERM] too many errors, closing");
  EXPECT_TRUE(starts(read_status(s), "ERR"));
  EXPECT_EQ(srv.finish(), errc::protocol_error);
}

TEST(Pop3Server, SilentClientIsLoggedOut) {
  server_options o;
  o.timeouts.greeting = 300ms;
  server_run srv(o);
  stream s = connect_to(srv.port());
  EXPECT_TRUE(starts(read_status(s), "+OK"));
  EXPECT_EQ(srv.finish(), errc::timeout);
  EXPECT_EQ(read_status(s), "-ERR [SYS/TEMP] autologout: idle for too long, closing");
}

TEST(Pop3Server, StlsWithoutTlsContextIsRefused) {
  server_run srv(server_options{});
  stream s = connect_to(srv.port());
  (void)read_status(s);
  EXPECT_EQ(ask(s, "CAPA"), "+OK Capability list follows");
  EXPECT_EQ(read_list(s).find("STLS"), std::string::npos);
  EXPECT_EQ(ask(s, "STLS"), "-ERR STLS not available");
  EXPECT_EQ(ask(s, "QUIT"), "+OK localhost POP3 uptls signing off");
  EXPECT_EQ(srv.finish(), std::error_code{});
}

// ---- the uptls client against a scripted server ---------------------------------

// A scripted server: reads lines and answers per the script; records what it read.
struct scripted {
  std::vector<std::string> read;  // the client's lines
  // Reads one line into read; false at the end of the stream.
  bool next(stream& s) {
    std::string line;
    if (smtp::read_line(s, line)) return false;
    read.push_back(line);
    return true;
  }
};

// Runs the uptls client's open() against a server that sends greeting, then for
// CAPA capa_reply, then for STLS stls_reply (all raw); what the client sent.
result<> open_against(const std::string& greeting, const std::string& capa_reply, const std::string& stls_reply,
                      std::vector<std::string>& sent, client_options co = {}) {
  scripted sc;
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick(3s));
    raw_write(s.lower(), greeting);
    for (int i = 0; i < 5 && sc.next(s); ++i) {
      if (sc.read.back() == "CAPA") {
        raw_write(s.lower(), capa_reply);
        // A list without its "." line: hang up at once, as a cut connection would.
        if (capa_reply.size() > 5 && !capa_reply.ends_with(".\r\n")) return;
      }
      else if (sc.read.back() == "STLS") raw_write(s.lower(), stls_reply);
      else raw_write(s.lower(), "-ERR unexpected\r\n");
    }
  });
  client c(client_to(srv.port()), co);
  const result<> r = c.open(client_ctx());
  (void)c.unit().connection().close();
  srv.join();
  sent = sc.read;
  return r;
}

const std::string capa_stls = "+OK\r\nTOP\r\nSTLS\r\nUSER\r\n.\r\n";

TEST(Pop3Client, StlsMissingFromCapaStopsARequiredClient) {
  std::vector<std::string> sent;
  EXPECT_EQ(open_against("+OK hi\r\n", "+OK\r\nTOP\r\nUSER\r\nSASL PLAIN\r\n.\r\n", "", sent),
            errc::starttls_not_offered);
  EXPECT_EQ(sent, std::vector<std::string>{"CAPA"});
  // A server without CAPA at all offers no STLS either.
  EXPECT_EQ(open_against("+OK hi\r\n", "-ERR what?\r\n", "", sent), errc::starttls_not_offered);
  EXPECT_EQ(sent, std::vector<std::string>{"CAPA"});
}

TEST(Pop3Client, ErrToStlsIsStarttlsRefused) {
  std::vector<std::string> sent;
  EXPECT_EQ(open_against("+OK hi\r\n", capa_stls, "-ERR not now\r\n", sent), errc::starttls_refused);
  EXPECT_EQ(sent, (std::vector<std::string>{"CAPA", "STLS"}));
  // Opportunistic: on in plaintext, STLS dropped from the capabilities, and no password sent.
  client_options co;
  co.mode = tls_mode::opportunistic;
  scripted sc;
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick(3s));
    raw_write(s.lower(), "+OK hi\r\n");
    for (int i = 0; i < 5 && sc.next(s); ++i) {
      raw_write(s.lower(), sc.read.back() == "CAPA" ? capa_stls : sc.read.back() == "QUIT" ? "+OK bye\r\n" : "-ERR no\r\n");
    }
  });
  client c(client_to(srv.port()), co);
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  EXPECT_EQ(c.unit().tls_skip_reason(), errc::starttls_refused);
  EXPECT_FALSE(c.unit().supports("STLS"));
  EXPECT_TRUE(c.unit().supports("TOP"));
  EXPECT_EQ(c.login(user, password), errc::usage);
  EXPECT_EQ(c.quit(), std::error_code{});
  srv.join();
  EXPECT_EQ(sc.read, (std::vector<std::string>{"CAPA", "STLS", "QUIT"}));
}

TEST(Pop3Client, BytesInjectedBehindTheOkAreRefused) {
  std::vector<std::string> sent;
  // In the same write as the +OK: a forged response that would otherwise be read inside TLS.
  EXPECT_EQ(open_against("+OK hi\r\n", capa_stls, "+OK Begin TLS\r\n+OK alice's maildrop has 0 messages\r\n", sent),
            errc::plaintext_injection);
  EXPECT_EQ(sent, (std::vector<std::string>{"CAPA", "STLS"}));
  // And the bare prelude, as the ladder runs it, leaves them for start_tls() to refuse.
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick(3s));
    raw_write(s.lower(), "+OK hi\r\n");
    std::string line;
    for (int i = 0; i < 3 && !smtp::read_line(s, line); ++i) {
      raw_write(s.lower(), line == "CAPA" ? capa_stls : "+OK go\r\n-ERR injected\r\n");
    }
  });
  stream s = connect_to(srv.port(), quick(3s));
  uptls::pop3::starttls_dialogue d({});
  ASSERT_EQ(drive(s, [&] { return d.resume(s); }), std::error_code{});
  EXPECT_GT(s.buffered(), 0u);
  EXPECT_EQ(d.capabilities(), (std::vector<std::string>{"TOP", "STLS", "USER"}));
  EXPECT_EQ(s.start_tls(client_ctx(), localhost()), errc::plaintext_injection);
  srv.join();
}

TEST(Pop3Client, MalformedAndUnboundedResponsesAreProtocolErrors) {
  std::vector<std::string> sent;
  EXPECT_EQ(open_against("-ERR go away\r\n", "", "", sent), errc::protocol_error);
  EXPECT_TRUE(sent.empty());
  EXPECT_EQ(open_against("* OK IMAP here\r\n", "", "", sent), errc::protocol_error);
  EXPECT_EQ(open_against("+OKAY\r\n", "", "", sent), errc::protocol_error);
  // Over-long lines: the greeting, a CAPA line, the answer to STLS.
  EXPECT_EQ(open_against("+OK " + std::string(600, 'g') + "\r\n", "", "", sent), errc::protocol_error);
  EXPECT_EQ(open_against("+OK hi\r\n", "+OK\r\nSTLS\r\n" + std::string(600, 'c') + "\r\n.\r\n", "", sent),
            errc::protocol_error);
  EXPECT_EQ(open_against("+OK hi\r\n", capa_stls, "+OK " + std::string(9000, 'x') + "\r\n", sent), errc::protocol_error);
  // A CAPA list past max_capabilities lines, and one the server never ends.
  std::string many = "+OK\r\nSTLS\r\n";
  for (std::size_t i = 0; i < uptls::pop3::max_capabilities + 1; ++i) many += "X-CAP-" + std::to_string(i) + "\r\n";
  EXPECT_EQ(open_against("+OK hi\r\n", many + ".\r\n", "", sent), errc::protocol_error);
  EXPECT_EQ(sent, std::vector<std::string>{"CAPA"});
  // Unterminated: the server closes after the list without its "." line.
  EXPECT_EQ(open_against("+OK hi\r\n", "+OK\r\nSTLS\r\nUSER\r\n", "", sent, {}), errc::eof);
  EXPECT_EQ(sent, std::vector<std::string>{"CAPA"}) << "STLS sent before the list ended";
}

TEST(Pop3Client, PreTlsCapabilitiesAreNeverCarriedOver) {
  scripted sc;
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick(3s));
    raw_write(s.lower(), "+OK hi\r\n");
    for (int i = 0; i < 8 && sc.next(s); ++i) {
      const std::string& l = sc.read.back();
      std::string reply = "-ERR no\r\n";
      if (l == "CAPA") reply = s.is_tls() ? "+OK\r\nUSER\r\nUIDL\r\n.\r\n" : "+OK\r\nSTLS\r\nX-FORGED-BEFORE-TLS\r\nSASL PLAIN\r\n.\r\n";
      if (l == "QUIT") reply = "+OK bye\r\n";
      if (l == "STLS") {
        (void)s.write("+OK go\r\n");
        if (!s.start_tls(server_ctx()).ok()) return;
        continue;
      }
      (void)s.write(reply);
    }
  });
  client c(client_to(srv.port()));
  ASSERT_EQ(c.open(client_ctx()), std::error_code{});
  EXPECT_EQ(c.unit().capabilities(), (std::vector<std::string>{"USER", "UIDL"}));
  EXPECT_FALSE(c.unit().supports("X-FORGED-BEFORE-TLS"));
  EXPECT_FALSE(c.unit().supports("SASL"));
  EXPECT_EQ(c.quit(), std::error_code{});
  srv.join();
  EXPECT_EQ(sc.read, (std::vector<std::string>{"CAPA", "STLS", "CAPA", "QUIT"}));
}

// A TLS server that answers RETR 1 with body (raw, after +OK), for the bounds of retr().
result<> retr_against(const std::string& body, std::string& got, client_options co = {}, bool* went_on = nullptr) {
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick(3s));
    if (!s.start_tls(server_ctx()).ok()) return;
    (void)s.write("+OK hi\r\n");
    std::string line;
    for (int i = 0; i < 6 && !smtp::read_line(s, line); ++i) {
      if (line == "CAPA") (void)s.write("+OK\r\nUSER\r\n.\r\n");
      else if (line == "RETR 1") {
        (void)s.write("+OK\r\n" + body);
        if (!body.ends_with(".\r\n")) return (void)s.close();  // cut short: hang up at once
      }
      else if (line == "STAT") (void)s.write("+OK 1 5\r\n");
      else (void)s.write("+OK bye\r\n");
    }
    (void)s.close();
  });
  under_test conn = client_to(srv.port());
  if (const result<> up = conn.d.run(conn.s, [&] { return conn.s.start_tls(client_ctx(), localhost()); }); !up) return up;
  client c(std::move(conn), co);
  if (const result<> o = c.open_implicit(); !o) return o;
  const result<> r = c.retr(1);
  got = c.unit().retrieved();
  if (went_on != nullptr) *went_on = c.stat().ok() && c.unit().last_stat().count == 1;
  (void)c.quit();
  srv.join();
  return r;
}

TEST(Pop3Client, RetrUnstuffsAndBoundsTheMessage) {
  std::string got;
  EXPECT_EQ(retr_against("a\r\n..b\r\n.\r\n", got), std::error_code{});
  EXPECT_EQ(got, "a\r\n.b\r\n");
  // A line over the stream's limit: reported once the message ended, and the session goes on.
  bool went_on = false;
  EXPECT_EQ(retr_against("a\r\n" + std::string(20000, 'l') + "\r\nz\r\n.\r\n", got, {}, &went_on), errc::line_too_long);
  EXPECT_TRUE(went_on);
  // Over max_message: the session ends.
  client_options small;
  small.max_message = 100;
  std::string big;
  for (int i = 0; i < 20; ++i) big += "0123456789\r\n";
  EXPECT_EQ(retr_against(big + ".\r\n", got, small, &went_on), errc::protocol_error);
  EXPECT_FALSE(went_on);
  // Cut short before the final ".".
  EXPECT_NE(retr_against("a\r\nb\r\n", got).error(), std::error_code{});
}

}  // namespace
}  // namespace uptls::test::pop3
