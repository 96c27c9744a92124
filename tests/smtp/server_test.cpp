// The SMTP server against hand-driven clients: every command, every refusal,
// line limits, state reset after STARTTLS, and bounded sessions.
#include <gtest/gtest.h>

#include <future>

#include "harness.hpp"

namespace uptls::test::smtp {
namespace {

using uptls::smtp::server_options;

TEST(SmtpServer, GreetsAndAnswersEveryCommand) {
  server_options o = with_tls();
  o.hostname = "mx.test";
  server_run srv(o);
  stream s = connect_to(srv.port());
  EXPECT_EQ(read_reply(s), "220 mx.test ESMTP uptls");
  const std::string ehlo = ask(s, "EHLO client.example");
  EXPECT_EQ(ehlo,
            "250-mx.test greets client.example\n250-SIZE 10485760\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n"
            "250-PIPELINING\n250-STARTTLS\n250 HELP");
  EXPECT_EQ(code_of(ask(s, "HELO client.example")), 250);
  EXPECT_EQ(code_of(ask(s, "NOOP")), 250);
  EXPECT_EQ(code_of(ask(s, "noop")), 250);  // verbs are case-insensitive
  EXPECT_EQ(code_of(ask(s, "RSET")), 250);
  EXPECT_EQ(code_of(ask(s, "VRFY postmaster")), 252);
  EXPECT_EQ(code_of(ask(s, "HELP")), 214);
  EXPECT_EQ(code_of(ask(s, "EXPN list")), 500);
  EXPECT_EQ(code_of(ask(s, "FROB")), 500);
  EXPECT_EQ(code_of(ask(s, "EHLO")), 501);
  EXPECT_EQ(code_of(ask(s, "EHLO a\rb")), 501);  // a bare CR must not reach our reply
  EXPECT_EQ(code_of(ask(s, "EHLO two words")), 501);
  EXPECT_EQ(code_of(ask(s, "VRFY")), 501);
  EXPECT_EQ(code_of(ask(s, "RSET now")), 501);
  EXPECT_EQ(code_of(ask(s, "STARTTLS please")), 501);
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(read_reply(s).rfind("ERR", 0), 0u);  // and the server closed
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(SmtpServer, TransactionOrderAndSyntax) {
  server_options o;
  o.max_errors = 100;  // this test makes many on purpose
  server_run srv(o);
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org>")), 503);  // no EHLO yet
  EXPECT_EQ(code_of(ask(s, "EHLO c")), 250);
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<b@example.org>")), 503);  // no MAIL
  EXPECT_EQ(code_of(ask(s, "DATA")), 503);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:a@example.org")), 501);  // no brackets
  EXPECT_EQ(code_of(ask(s, "MAIL TO:<a@example.org>")), 501);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@exa<mple.org>")), 501);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@exa\rmple.org>")), 501);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org> FROB=1")), 555);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org> SIZE=abc")), 501);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org> SIZE=99999999999")), 552);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<> BODY=8BITMIME")), 250);  // null sender
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org>")), 503);  // nested
  EXPECT_EQ(code_of(ask(s, "DATA")), 554);                       // no recipients
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<>")), 501);
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<b@example.org> NOTIFY=NEVER")), 555);
  EXPECT_EQ(code_of(ask(s, "rcpt to: <b@example.org>")), 250);
  EXPECT_EQ(code_of(ask(s, "DATA now")), 501);
  EXPECT_EQ(code_of(ask(s, "DATA")), 354);
  ASSERT_EQ(s.write("Subject: t\r\n\r\n..leading dot\r\n.\r\n"), std::error_code{});
  EXPECT_EQ(code_of(read_reply(s)), 250);
  EXPECT_EQ(code_of(ask(s, "STARTTLS")), 502);  // no TLS context
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].from, "");
  EXPECT_EQ(got[0].to, std::vector<std::string>{"b@example.org"});
  EXPECT_EQ(got[0].data, "Subject: t\r\n\r\n.leading dot\r\n");
  EXPECT_EQ(got[0].helo, "c");
  EXPECT_FALSE(got[0].over_tls);
}

TEST(SmtpServer, RsetForgetsTheEnvelope) {
  server_run srv(server_options{});
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  (void)ask(s, "EHLO c");
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org>")), 250);
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<b@example.org>")), 250);
  EXPECT_EQ(code_of(ask(s, "RSET")), 250);
  EXPECT_EQ(code_of(ask(s, "DATA")), 503);
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_TRUE(srv.messages().empty());
}

// Reads replies while they are the line-too-long refusal; returns the first other one.
// A very long line may be refused more than once (the stream discards it in bounded
// slices), but never does any part of it run as a command.
std::string after_refusals(stream& s, int& refusals) {
  refusals = 0;
  for (int i = 0; i < 50; ++i) {
    std::string r = read_reply(s);
    if (r != "500 5.5.2 line too long") return r;
    ++refusals;
  }
  return "ERR endless refusals";
}

TEST(SmtpServer, LineOverTheLimitIsRefusedAndTheSessionGoesOn) {
  // Once with the SMTP stream limit (the stream discards the line) and once with
  // a roomier stream (the server's own check catches 1001..4096 octets).
  for (const stream_options& lines : {uptls::smtp::line_limits(), stream_options{}}) {
    stream_options timed = lines;
    timed.io_timeout = 5s;
    server_run srv(server_options{}, timed);
    stream s = connect_to(srv.port());
    (void)read_reply(s);
    EXPECT_EQ(ask(s, "NOOP " + std::string(1100, 'x')), "500 5.5.2 line too long");
    EXPECT_EQ(ask(s, "NOOP " + std::string(995, 'z')), "500 5.5.2 line too long");  // 1002 with CRLF
    EXPECT_EQ(code_of(ask(s, "NOOP " + std::string(993, 'z'))), 250);            // 1000 with CRLF
    int refusals = 0;
    ASSERT_EQ(s.write("NOOP " + std::string(50000, 'y') + "\r\nNOOP\r\n"), std::error_code{});
    EXPECT_EQ(after_refusals(s, refusals), "250 2.0.0 OK");
    EXPECT_GE(refusals, 1);
    EXPECT_EQ(code_of(ask(s, "EHLO c")), 250);
    EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
    EXPECT_EQ(srv.finish(), std::error_code{});
  }
}

TEST(SmtpServer, TailOfAnOverlongLineNeverRunsAsACommand) {
  server_options o;
  o.max_errors = 100;
  server_run srv(o);
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  (void)ask(s, "EHLO c");
  // The tail of a line that crosses the stream's discard bound must be discarded
  // with the rest of the line, not read as a line of its own.
  for (const std::size_t pad : {16384u, 16000u, 17000u, 32768u, 65536u}) {
    int refusals = 0;
    ASSERT_EQ(s.write("NOOP " + std::string(pad - 5, 'p') + "MAIL FROM:<smuggled@evil.example>\r\nRSET\r\n"),
              std::error_code{});
    EXPECT_EQ(after_refusals(s, refusals), "250 2.0.0 OK") << pad;  // RSET's reply, never MAIL's 2.1.0
    EXPECT_GE(refusals, 1);
  }
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(srv.finish(), std::error_code{});
  for (const auto& line : srv.received()) EXPECT_EQ(line.find("smuggled"), std::string::npos) << line;
}

TEST(SmtpServer, LongLineInsideDataRefusesTheMessage) {
  server_run srv(server_options{});
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  (void)ask(s, "EHLO c");
  (void)ask(s, "MAIL FROM:<a@example.org>");
  (void)ask(s, "RCPT TO:<b@example.org>");
  EXPECT_EQ(code_of(ask(s, "DATA")), 354);
  ASSERT_EQ(s.write("ok line\r\n" + std::string(5000, 'l') + "\r\nafter\r\n.\r\n"), std::error_code{});
  EXPECT_EQ(read_reply(s), "500 5.5.2 line too long");
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_TRUE(srv.messages().empty());
}

TEST(SmtpServer, BareLfInsideDataEndsTheSession) {
  // Each ends with what a lenient server would read as the end of the message and a
  // smuggled second transaction behind it.
  const std::vector<std::string> tricks = {
      "first\r\n\n.\nMAIL FROM:<smuggled@evil.example>\r\n",
      "first\r\n.\nMAIL FROM:<smuggled@evil.example>\r\n",
      "first\n.\r\nMAIL FROM:<smuggled@evil.example>\r\n",
  };
  for (const auto& trick : tricks) {
    server_run srv(server_options{});
    stream s = connect_to(srv.port());
    (void)read_reply(s);
    (void)ask(s, "EHLO c");
    (void)ask(s, "MAIL FROM:<a@example.org>");
    (void)ask(s, "RCPT TO:<b@example.org>");
    EXPECT_EQ(code_of(ask(s, "DATA")), 354);
    ASSERT_EQ(s.write(trick), std::error_code{});
    EXPECT_EQ(code_of(read_reply(s)), 521) << trick;
    EXPECT_EQ(read_reply(s).rfind("ERR", 0), 0u);  // closed
    EXPECT_EQ(srv.finish(), make_error_code(errc::protocol_error));
    EXPECT_TRUE(srv.messages().empty());
    for (const auto& line : srv.received()) EXPECT_EQ(line.find("smuggled"), std::string::npos) << line;
    const auto trace = srv.trace();
    EXPECT_EQ(std::count(trace.begin(), trace.end(), "S: 250 2.1.0 OK"), 1);  // only the real MAIL
  }
}

// Found by fuzzing the server (fuzz/corpus/smtp-server/regression-bare-cr-in-data):
// a CR without LF inside message data was delivered as is, so a next hop that
// ends lines at a bare CR could read "<CR>.<CR>" as the end of the message.
TEST(SmtpServer, BareCrInsideDataEndsTheSession) {
  const std::vector<std::string> tricks = {
      "first\r\n\r.\rMAIL FROM:<smuggled@evil.example>\r\n.\r\n",
      "first\r\n.\rRCPT TO:<smuggled@evil.example>\r\n.\r\n",
      "first\rsecond\r\n.\r\n",
  };
  for (const auto& trick : tricks) {
    server_run srv(server_options{});
    stream s = connect_to(srv.port());
    (void)read_reply(s);
    (void)ask(s, "EHLO c");
    (void)ask(s, "MAIL FROM:<a@example.org>");
    (void)ask(s, "RCPT TO:<b@example.org>");
    EXPECT_EQ(code_of(ask(s, "DATA")), 354);
    ASSERT_EQ(s.write(trick), std::error_code{});
    EXPECT_EQ(read_reply(s), "521 5.5.2 localhost bare <CR> received in message data, closing") << trick;
    EXPECT_EQ(read_reply(s).rfind("ERR", 0), 0u);  // closed
    EXPECT_EQ(srv.finish(), make_error_code(errc::protocol_error));
    EXPECT_TRUE(srv.messages().empty());
    const auto trace = srv.trace();
    EXPECT_EQ(std::count(trace.begin(), trace.end(), "S: 250 2.1.0 OK"), 1);  // only the real MAIL
  }
}

TEST(SmtpServer, BareLfInCommandsIsTolerated) {
  server_run srv(server_options{});
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  // Bare LF ends a command line (sloppy clients exist); only message data is strict.
  ASSERT_EQ(s.write("EHLO c\nNOOP\n"), std::error_code{});
  EXPECT_EQ(code_of(read_reply(s)), 250);
  EXPECT_EQ(read_reply(s), "250 2.0.0 OK");
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(SmtpServer, MessageOverTheSizeLimitIsRefused) {
  server_options o;
  o.max_message = 100;
  server_run srv(o);
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  EXPECT_NE(ask(s, "EHLO c").find("250-SIZE 100\n"), std::string::npos);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org> SIZE=101")), 552);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org> SIZE=100")), 250);
  (void)ask(s, "RCPT TO:<b@example.org>");
  EXPECT_EQ(code_of(ask(s, "DATA")), 354);
  std::string big;
  for (int i = 0; i < 20; ++i) big += "0123456789\r\n";
  ASSERT_EQ(s.write(big + ".\r\n"), std::error_code{});
  EXPECT_EQ(code_of(read_reply(s)), 552);
  // The next transaction in the same session still works.
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org>")), 250);
  (void)ask(s, "RCPT TO:<b@example.org>");
  (void)ask(s, "DATA");
  ASSERT_EQ(s.write("small\r\n.\r\n"), std::error_code{});
  EXPECT_EQ(code_of(read_reply(s)), 250);
  (void)ask(s, "QUIT");
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data, "small\r\n");
}

TEST(SmtpServer, TooManyRecipients) {
  server_options o;
  o.max_recipients = 2;
  server_run srv(o);
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  (void)ask(s, "EHLO c");
  (void)ask(s, "MAIL FROM:<a@example.org>");
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<b1@example.org>")), 250);
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<b2@example.org>")), 250);
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<b3@example.org>")), 452);
  (void)ask(s, "QUIT");
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(SmtpServer, TooManyErrorsEndsWith421) {
  server_options o;
  o.max_errors = 3;
  server_run srv(o);
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  EXPECT_EQ(code_of(ask(s, "BAD1")), 500);
  EXPECT_EQ(code_of(ask(s, "BAD2")), 500);
  EXPECT_EQ(code_of(ask(s, "BAD3")), 421);
  EXPECT_EQ(read_reply(s).rfind("ERR", 0), 0u);  // closed
  EXPECT_EQ(srv.finish(), make_error_code(errc::protocol_error));
}

TEST(SmtpServer, RequireTlsRefusesMailBeforeStarttls) {
  server_options o = with_tls();
  o.require_tls = true;
  server_run srv(o);
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  (void)ask(s, "EHLO c");
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org>")), 530);
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<b@example.org>")), 530);
  EXPECT_EQ(code_of(ask(s, "DATA")), 530);
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_TRUE(srv.messages().empty());
}

TEST(SmtpServer, StarttlsResetsStateAndIsNotOfferedTwice) {
  server_options o = with_tls();
  o.require_tls = true;
  server_run srv(o);
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  EXPECT_NE(ask(s, "EHLO before.example").find("250-STARTTLS"), std::string::npos);
  EXPECT_EQ(ask(s, "STARTTLS"), "220 2.0.0 Ready to start TLS");
  ASSERT_EQ(s.start_tls(client_ctx(), peer_options{"localhost"}), std::error_code{});
  // The EHLO name from before TLS is forgotten: MAIL needs a new EHLO.
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org>")), 503);
  const std::string ehlo = ask(s, "EHLO after.example");
  EXPECT_EQ(code_of(ehlo), 250);
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(code_of(ask(s, "STARTTLS")), 503);
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<a@example.org>")), 250);
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<b@example.org>")), 250);
  EXPECT_EQ(code_of(ask(s, "DATA")), 354);
  ASSERT_EQ(s.write("over tls\r\n.\r\n"), std::error_code{});
  EXPECT_EQ(code_of(read_reply(s)), 250);
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].helo, "after.example");
  EXPECT_EQ(got[0].session.backend, backend_under_test().name());
}

TEST(SmtpServer, MailStartedBeforeStarttlsIsForgotten) {
  server_run srv(with_tls());
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  (void)ask(s, "EHLO c");
  EXPECT_EQ(code_of(ask(s, "MAIL FROM:<plain@example.org>")), 250);
  EXPECT_EQ(code_of(ask(s, "RCPT TO:<b@example.org>")), 250);
  EXPECT_EQ(code_of(ask(s, "STARTTLS")), 220);
  ASSERT_EQ(s.start_tls(client_ctx(), peer_options{"localhost"}), std::error_code{});
  (void)ask(s, "EHLO c");
  EXPECT_EQ(code_of(ask(s, "DATA")), 503);  // the plaintext envelope is gone
  (void)ask(s, "QUIT");
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_TRUE(srv.messages().empty());
}

TEST(SmtpServer, PipelinedCommandsBehindStarttlsAreNeverExecuted) {
  server_run srv(with_tls());
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  (void)ask(s, "EHLO c");
  // One write: STARTTLS and a command behind it, as an attacker in the middle would send.
  ASSERT_EQ(s.write("STARTTLS\r\nMAIL FROM:<x@evil.example>\r\n"), std::error_code{});
  EXPECT_EQ(code_of(read_reply(s)), 554);
  EXPECT_EQ(read_reply(s).rfind("ERR", 0), 0u);  // and it closed
  EXPECT_EQ(srv.finish(), make_error_code(errc::plaintext_injection));
  EXPECT_TRUE(srv.messages().empty());
  for (const auto& line : srv.trace()) {
    EXPECT_EQ(line.find("2.1.0"), std::string::npos) << "MAIL was executed: " << line;
    EXPECT_EQ(line.find("Ready to start TLS"), std::string::npos) << line;
  }
}

TEST(SmtpServer, PipeliningBeforeStarttlsIsFine) {
  // RFC 2920: STARTTLS may end a pipelined group; EHLO in front of it is allowed.
  server_run srv(with_tls());
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  ASSERT_EQ(s.write("EHLO c\r\nSTARTTLS\r\n"), std::error_code{});
  EXPECT_EQ(code_of(read_reply(s)), 250);
  EXPECT_EQ(code_of(read_reply(s)), 220);
  ASSERT_EQ(s.start_tls(client_ctx(), peer_options{"localhost"}), std::error_code{});
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(srv.finish(), std::error_code{});
}

// Plaintext where the client's hello was due, after the go-ahead: commands sent
// behind STARTTLS that arrived too late for the pipelining check. They are
// never run, and the session ends naming them an injection.
TEST(SmtpServer, PlaintextAfterGoAheadEndsTheSessionAsAnInjection) {
  server_run srv(with_tls());
  stream s = connect_to(srv.port());
  (void)read_reply(s);
  (void)ask(s, "EHLO c");
  EXPECT_EQ(code_of(ask(s, "STARTTLS")), 220);
  ASSERT_EQ(s.write("MAIL FROM:<x@evil.example>\r\nRCPT TO:<y@example.org>\r\n"), std::error_code{});
  const std::error_code ended = srv.finish().error();
  EXPECT_EQ(ended, make_error_code(errc::plaintext_injection));
  EXPECT_TRUE(srv.messages().empty());
  EXPECT_EQ(srv.received(), (std::vector<std::string>{"EHLO c", "STARTTLS"}));
}

TEST(SmtpServer, SilentClientTimesOut) {
  server_run srv(server_options{}, quick(300ms));
  stream s = connect_to(srv.port());
  EXPECT_EQ(code_of(read_reply(s)), 220);
  EXPECT_EQ(srv.finish(), make_error_code(errc::timeout));
  EXPECT_EQ(code_of(read_reply(s)), 421);
}

TEST(SmtpServer, ClientLeavingMidDataDeliversNothing) {
  server_run srv(server_options{});
  {
    stream s = connect_to(srv.port());
    (void)read_reply(s);
    (void)ask(s, "EHLO c");
    (void)ask(s, "MAIL FROM:<a@example.org>");
    (void)ask(s, "RCPT TO:<b@example.org>");
    (void)ask(s, "DATA");
    ASSERT_EQ(s.write("half a message\r\n"), std::error_code{});
  }
  EXPECT_EQ(srv.finish(), make_error_code(errc::eof));
  EXPECT_TRUE(srv.messages().empty());
}

}  // namespace
}  // namespace uptls::test::smtp

namespace uptls::test::smtp {
namespace {

// Every reply leaves in one write: one send() in plaintext, one TLS record inside TLS.
TEST(SmtpServer, EachReplyIsOneWriteInPlaintextAndInTls) {
  std::shared_ptr<std::atomic<int>> writes;
  std::promise<std::shared_ptr<std::atomic<int>>> counter_ready;
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    auto counted = std::make_unique<counting_transport>(std::move(conn));
    counter_ready.set_value(counted->counter());
    // The server in the program's mode, over the counting transport.
    auto [io, d] = driver::make(mode(), std::move(counted), quick());
    uptls::smtp::server_session session(std::move(io), std::make_shared<const server_options>(with_tls()), {});
    (void)d.run(session.connection(), [&] { return session.resume(); });
    d.pump_out(session.connection());
  });
  stream s = connect_to(srv.port());
  writes = counter_ready.get_future().get();
  EXPECT_EQ(code_of(read_reply(s)), 220);
  const int before_ehlo = writes->load();
  EXPECT_EQ(code_of(ask(s, "EHLO scanner.example")), 250);
  EXPECT_EQ(writes->load() - before_ehlo, 1) << "the multi-line EHLO reply took several writes";
  EXPECT_EQ(code_of(ask(s, "STARTTLS")), 220);
  ASSERT_EQ(s.start_tls(client_ctx(), localhost()), std::error_code{});
  // NOOP first: whatever the server still writes after its handshake (TLS 1.3
  // tickets) is out before the 250 arrives.
  EXPECT_EQ(code_of(ask(s, "NOOP")), 250);
  const int before_tls_ehlo = writes->load();
  EXPECT_EQ(code_of(ask(s, "EHLO scanner.example")), 250);
  EXPECT_EQ(writes->load() - before_tls_ehlo, 1) << "the EHLO reply inside TLS took several records";
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  srv.join();
}

}  // namespace
}  // namespace uptls::test::smtp
