// The SMTP client against scripted servers: what it accepts, what it refuses,
// and what it sends (asserted on the bytes the server received).
#include <gtest/gtest.h>

#include "harness.hpp"

namespace uptls::test::smtp {
namespace {

using uptls::smtp::client_options;
using uptls::smtp::tls_mode;

// Records the client's trace as "C: ..." lines.
struct trace_log {
  std::vector<std::string> lines;
  uptls::smtp::trace_fn fn() {
    return [this](std::string_view d, std::string_view l) { lines.push_back(std::string(d) + ": " + std::string(l)); };
  }
  bool has(const std::string& line) const { return std::find(lines.begin(), lines.end(), line) != lines.end(); }
};

// A scripted server: plaintext greeting and EHLO reply as given, then 220 and a
// real TLS handshake, then the post-TLS EHLO reply and QUIT. Records every
// plaintext line it read.
struct tls_script {
  std::string greeting = "220 scripted ESMTP\r\n";
  std::string ehlo_plain = "250-scripted\r\n250-PRETLS-ONLY\r\n250-SIZE 100\r\n250 STARTTLS\r\n";
  std::string ehlo_tls = "250-scripted\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 200\r\n";
  std::shared_ptr<const context> tls = server_ctx();
  std::vector<std::string> plain_lines;
  std::vector<std::string> tls_lines;
  std::error_code handshake;

  void operator()(std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    std::string line;
    (void)s.write(greeting);
    if (read_line(s, line)) return;
    plain_lines.push_back(line);
    (void)s.write(ehlo_plain);
    if (read_line(s, line)) return;
    plain_lines.push_back(line);
    (void)s.write("220 go ahead\r\n");
    handshake = s.start_tls(tls).error();
    if (handshake) return;
    for (int i = 0; i < 10 && !read_line(s, line); ++i) {
      tls_lines.push_back(line);
      if (line.rfind("EHLO", 0) == 0) (void)s.write(ehlo_tls);
      if (line == "QUIT") {
        (void)s.write("221 bye\r\n");
        break;
      }
    }
    (void)s.close();
  }
};

TEST(SmtpClient, MultiLineGreetingAndEhloKeywords) {
  tls_script script;
  script.greeting = "220-scripted ESMTP\r\n220-second line\r\n220 third line\r\n";
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  trace_log log;
  client c(client_to(srv.port()), client_options{"client.example", tls_mode::required, log.fn()});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(log.has("S: 220-second line"));
  EXPECT_TRUE(log.has("S: 220 third line"));
  EXPECT_EQ(c.capabilities(), (std::vector<std::string>{"AUTH PLAIN LOGIN", "SIZE 200"}));
  EXPECT_TRUE(c.supports("auth"));
  EXPECT_TRUE(c.supports("SIZE"));
  EXPECT_FALSE(c.supports("PLAIN"));  // a parameter, not a keyword
  EXPECT_EQ(c.last_reply().code, 250);
  EXPECT_EQ(c.last_reply().lines.front(), "scripted");
  EXPECT_EQ(c.quit(), std::error_code{});
  srv.join();
  EXPECT_EQ(script.plain_lines, (std::vector<std::string>{"EHLO client.example", "STARTTLS"}));
  EXPECT_EQ(script.tls_lines, (std::vector<std::string>{"EHLO client.example", "QUIT"}));
}

TEST(SmtpClient, ForgetsPreTlsCapabilities) {
  tls_script script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  client c(client_to(srv.port()), client_options{});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_FALSE(c.supports("PRETLS-ONLY"));
  EXPECT_FALSE(c.supports("STARTTLS"));
  EXPECT_TRUE(c.supports("AUTH"));
  EXPECT_EQ(c.capabilities(), (std::vector<std::string>{"AUTH PLAIN LOGIN", "SIZE 200"}));
  EXPECT_TRUE(c.connection().is_tls());
  EXPECT_FALSE(c.tls_skipped());
  (void)c.quit();
}

TEST(SmtpClient, PreludeReportsPreTlsCapabilities) {
  tls_script script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  stream s = connect_to(srv.port());
  std::vector<std::string> caps;
  ASSERT_EQ(run_prelude(s, client_options{}, &caps), std::error_code{});
  EXPECT_EQ(caps, (std::vector<std::string>{"PRETLS-ONLY", "SIZE 100", "STARTTLS"}));
  EXPECT_EQ(s.buffered(), 0u);
  ASSERT_EQ(s.start_tls(client_ctx(), localhost()), std::error_code{});
  (void)s.close();
}

// A server that answers EHLO without STARTTLS, then records all it gets until EOF.
struct no_starttls_server {
  std::string received;
  bool closed_by_client = false;
  void operator()(std::unique_ptr<socket_transport> conn) {
    raw_write(*conn, "220 plain ESMTP\r\n");
    std::byte buf[512];
    std::string got;
    for (int i = 0; i < 100 && got.find('\n') == std::string::npos; ++i) {
      const result<std::size_t> r = read_some_within(*conn, buf);
      if (!r.ok() || *r == 0) return;
      got.append(reinterpret_cast<const char*>(buf), *r);
    }
    raw_write(*conn, "250-plain\r\n250-SIZE 100\r\n250 8BITMIME\r\n");
    received = got + drain(*conn, &closed_by_client);
  }
};

TEST(SmtpClient, RequiredStopsWhenStarttlsIsNotOffered) {
  no_starttls_server script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  trace_log log;
  client c(client_to(srv.port()), client_options{"localhost", tls_mode::required, log.fn()});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::starttls_not_offered));
  EXPECT_FALSE(c.tls_skipped());
  EXPECT_FALSE(c.connection().is_tls());
  // The client is finished: nothing more goes out, not even QUIT.
  EXPECT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "secret\r\n"), make_error_code(errc::starttls_not_offered));
  srv.join();
  EXPECT_EQ(script.received, "EHLO localhost\r\n");
  EXPECT_TRUE(script.closed_by_client);
}

TEST(SmtpClient, OpportunisticGoesOnInPlaintextAndSaysSo) {
  server_run srv(uptls::smtp::server_options{});  // no TLS context: STARTTLS not offered
  trace_log log;
  client c(client_to(srv.port()), client_options{"localhost", tls_mode::opportunistic, log.fn()});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.tls_skipped());
  EXPECT_FALSE(c.connection().is_tls());
  EXPECT_TRUE(std::any_of(log.lines.begin(), log.lines.end(),
                          [](const std::string& l) { return l.rfind("*: STARTTLS not offered", 0) == 0; }));
  EXPECT_TRUE(c.supports("SIZE"));
  ASSERT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "hello\r\n"), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].over_tls);
}

TEST(SmtpClient, OpportunisticFallsBackToHeloWhenEhloIsRefused) {
  std::string received;
  peer_thread srv([&](auto conn) {
    stream s(std::move(conn), quick());
    std::string line;
    (void)s.write("220 old server\r\n");
    (void)read_line(s, line);
    received += line + "|";
    (void)s.write("502 what?\r\n");
    (void)read_line(s, line);
    received += line + "|";
    (void)s.write("250 old server\r\n");
    (void)read_line(s, line);
    received += line + "|";
    (void)s.write("221 bye\r\n");
  });
  client c(client_to(srv.port()), client_options{"localhost", tls_mode::opportunistic, {}});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.tls_skipped());
  EXPECT_EQ(c.quit(), std::error_code{});
  srv.join();
  EXPECT_EQ(received, "EHLO localhost|HELO localhost|QUIT|");
}

// A server that refuses STARTTLS with `refusal`, then records all it gets until EOF.
struct refusing_server {
  std::string refusal = "454 4.7.0 TLS not available due to temporary reason\r\n";
  std::string received;
  void operator()(std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    std::string line;
    (void)s.write("220 refusing ESMTP\r\n");
    if (read_line(s, line)) return;
    received += line + "\r\n";
    (void)s.write("250-refusing\r\n250 STARTTLS\r\n");
    if (read_line(s, line)) return;
    received += line + "\r\n";
    (void)s.write(refusal);
    std::byte buf[512];
    for (int i = 0; i < 100; ++i) {
      auto n = s.read_some(buf);
      if (!n || *n == 0) break;
      received.append(reinterpret_cast<const char*>(buf), *n);
    }
  }
};

TEST(SmtpClient, RefusedStarttlsStopsARequiredClient) {
  refusing_server script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  client c(client_to(srv.port()), client_options{"localhost", tls_mode::required, {}});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::starttls_refused));
  EXPECT_EQ(c.last_reply().code, 454);
  EXPECT_FALSE(c.tls_skipped());
  EXPECT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "secret\r\n"), make_error_code(errc::starttls_refused));
  srv.join();
  // Nothing after STARTTLS, not even QUIT: the client hung up.
  EXPECT_EQ(script.received, "EHLO localhost\r\nSTARTTLS\r\n");
}

// A server that answers STARTTLS with 454 and then goes on in plaintext, as RFC
// 3207 lets it; it records every line it read.
struct refuse_then_serve {
  std::vector<std::string> lines;
  void operator()(std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    std::string line;
    (void)s.write("220 busy ESMTP\r\n");
    bool in_data = false;
    for (int i = 0; i < 50 && !read_line(s, line); ++i) {
      lines.push_back(line);
      if (in_data) {
        if (line == ".") {
          in_data = false;
          (void)s.write("250 queued\r\n");
        }
        continue;
      }
      if (line.rfind("EHLO", 0) == 0) (void)s.write("250-busy\r\n250-SIZE 1000\r\n250 STARTTLS\r\n");
      else if (line == "STARTTLS") (void)s.write("454 4.7.0 TLS not available due to temporary reason\r\n");
      else if (line == "DATA") {
        in_data = true;
        (void)s.write("354 go\r\n");
      } else if (line == "QUIT") {
        (void)s.write("221 bye\r\n");
        break;
      } else (void)s.write("250 ok\r\n");
    }
  }
};

// "TLS if available" (an MTA's "may" level): a refused STARTTLS is like one not
// offered, so the session goes on in plaintext, and says so.
TEST(SmtpClient, RefusedStarttlsGoesOnInPlaintextWhenOpportunisticAndSaysSo) {
  refuse_then_serve script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  trace_log log;
  client c(client_to(srv.port()), client_options{"localhost", tls_mode::opportunistic, log.fn()});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.tls_skipped());
  EXPECT_EQ(c.tls_skip_reason(), make_error_code(errc::starttls_refused));
  EXPECT_FALSE(c.connection().is_tls());
  EXPECT_TRUE(log.has("*: STARTTLS refused (454): continuing WITHOUT TLS (opportunistic mode)")) << ::testing::PrintToString(log.lines);
  // The pre-TLS capabilities are all there is; STARTTLS is not one to use again.
  EXPECT_TRUE(c.supports("SIZE"));
  EXPECT_FALSE(c.supports("STARTTLS"));
  ASSERT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "plain\r\n"), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  srv.join();
  EXPECT_EQ(script.lines, (std::vector<std::string>{"EHLO localhost", "STARTTLS", "MAIL FROM:<a@example.org> SIZE=10",
                                                     "RCPT TO:<b@example.org>", "DATA", "plain", ".", "QUIT"}));
}

// 421 or 221 to EHLO: the server is closing the session (RFC 5321 3.8). The
// client stops there in every mode: no HELO, no QUIT, nothing more.
TEST(SmtpClient, ServerClosingAtEhloEndsTheSessionInEveryMode) {
  for (const int code : {421, 221}) {
    for (const tls_mode mode : {tls_mode::required, tls_mode::opportunistic}) {
      SCOPED_TRACE(std::to_string(code) + (mode == tls_mode::required ? " required" : " opportunistic"));
      std::string received;
      bool closed_by_client = false;
      peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
        stream s(std::move(conn), quick());
        std::string line;
        (void)s.write("220 closing ESMTP\r\n");
        if (read_line(s, line)) return;
        received += line + "\r\n";
        (void)s.write(std::to_string(code) + " 4.3.2 shutting down\r\n");
        received += drain(s.lower(), &closed_by_client);
      });
      client c(client_to(srv.port()), client_options{"localhost", mode, {}});
      EXPECT_EQ(c.open(client_ctx(), localhost()), uptls::smtp::make_reply_error(code));
      EXPECT_FALSE(c.tls_skipped());
      EXPECT_EQ(c.quit(), uptls::smtp::make_reply_error(code));
      srv.join();
      EXPECT_EQ(received, "EHLO localhost\r\n");
      EXPECT_TRUE(closed_by_client);
    }
  }
}

TEST(SmtpClient, HandshakeFailureAfterGoAheadSendsNothingMore) {
  tls_script script;
  script.tls = server_ctx("expired");
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  trace_log log;
  client c(client_to(srv.port()), client_options{"localhost", tls_mode::required, log.fn()});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::cert_expired));
  EXPECT_EQ(c.connection().error(), make_error_code(errc::cert_expired));
  EXPECT_FALSE(c.connection().is_tls());
  EXPECT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "x\r\n"), make_error_code(errc::cert_expired));
  EXPECT_EQ(c.quit(), make_error_code(errc::cert_expired));
  srv.join();
  // The server learnt why from the client's alert.
  EXPECT_EQ(script.handshake, make_error_code(errc::cert_rejected_by_peer));
  EXPECT_EQ(script.plain_lines, (std::vector<std::string>{"EHLO localhost", "STARTTLS"}));
  EXPECT_TRUE(script.tls_lines.empty());
  // The last client line in the dialogue is STARTTLS.
  std::vector<std::string> sent;
  for (const auto& l : log.lines) if (l.rfind("C: ", 0) == 0) sent.push_back(l);
  EXPECT_EQ(sent.back(), "C: STARTTLS");
}

TEST(SmtpClient, RejectsMalformedReplies) {
  const std::vector<std::pair<std::string, std::error_code>> cases = {
      {"hello there\r\n", make_error_code(errc::protocol_error)},                // no code
      {"554 5.3.2 no service\r\n", make_error_code(errc::protocol_error)},       // not 220
      {"220-first\r\n221 second\r\n", make_error_code(errc::protocol_error)},     // code changes
      {"22 short\r\n", make_error_code(errc::protocol_error)},
      {"220x bad separator\r\n", make_error_code(errc::protocol_error)},
      {"120 wait\r\n", make_error_code(errc::protocol_error)},                   // 1yz is not SMTP
      {"220-partial", make_error_code(errc::incomplete_line)},                  // closed mid-line
      {"", make_error_code(errc::eof)},
  };
  for (const auto& [greeting, want] : cases) {
    peer_thread srv([&](auto conn) {
      raw_write(*conn, greeting);
      conn->shutdown_write();
      (void)drain(*conn);
    });
    stream s = connect_to(srv.port());
    EXPECT_EQ(run_prelude(s, client_options{}), want) << greeting;
    (void)s.close();
  }
}

TEST(SmtpClient, ReplyWithTooManyLinesIsRefused) {
  peer_thread srv([&](auto conn) {
    std::string flood;
    for (int i = 0; i < 600; ++i) flood += "220-again\r\n";
    raw_write(*conn, flood);
    (void)drain(*conn);
  });
  stream s = connect_to(srv.port());
  EXPECT_EQ(run_prelude(s, client_options{}), make_error_code(errc::protocol_error));
  (void)s.close();
}

TEST(SmtpClient, SilentServerTimesOut) {
  peer_thread srv([&](auto conn) { (void)drain(*conn); });  // says nothing, waits for EOF
  client c(client_to(srv.port(), quick(300ms)), client_options{});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::timeout));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(SmtpClient, SilentAfterStarttlsTimesOut) {
  peer_thread srv([&](auto conn) {
    stream s(std::move(conn), quick());
    std::string line;
    (void)s.write("220 hi\r\n");
    (void)read_line(s, line);
    (void)s.write("250-hi\r\n250 STARTTLS\r\n");
    (void)read_line(s, line);
    (void)drain(s.lower());  // never answers STARTTLS
  });
  client c(client_to(srv.port(), quick(300ms)), client_options{});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::timeout));
}

TEST(SmtpClient, OpenTwiceIsUsage) {
  server_run srv(with_tls());
  client c(client_to(srv.port()), client_options{});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::usage));
  EXPECT_EQ(c.open_implicit(), make_error_code(errc::usage));
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(SmtpClient, SendBeforeOpenIsUsage) {
  server_run srv(with_tls());
  client c(client_to(srv.port()), client_options{});
  EXPECT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "x"), make_error_code(errc::usage));
  EXPECT_EQ(c.quit(), make_error_code(errc::usage));
  (void)c.connection().close();
  (void)srv.finish();
  EXPECT_TRUE(srv.received().empty());
}

TEST(SmtpClient, EhloNameThatCouldInjectIsRefusedBeforeAnythingIsSent) {
  const std::vector<std::string> names = {"bad\r\nMAIL FROM:<x@evil.example>", "two words", "",
                                         std::string(256, 'a'), std::string("nul\0", 4)};
  for (const std::string& name : names) {
    server_run srv(with_tls());
    client c(client_to(srv.port()), client_options{name, tls_mode::opportunistic, {}});
    EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::usage));
    (void)c.connection().close();
    (void)srv.finish();
    EXPECT_TRUE(srv.received().empty());
  }
}

TEST(SmtpClient, ImplicitOnPlaintextStreamIsUsage) {
  server_run srv(uptls::smtp::server_options{});
  client c(client_to(srv.port()), client_options{});
  EXPECT_EQ(c.open_implicit(), make_error_code(errc::usage));
  (void)c.connection().close();
  (void)srv.finish();
  EXPECT_TRUE(srv.received().empty());
}

}  // namespace
}  // namespace uptls::test::smtp

namespace uptls::test::smtp {
namespace {

// A malformed reply inside TLS is a protocol error that does not claim it came in plaintext.
TEST(SmtpClient, MalformedReplyInsideTlsIsAProtocolErrorOfTheDialogue) {
  tls_script script;
  script.ehlo_tls = "this is not an SMTP reply\r\n";
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  client c(client_to(srv.port()), uptls::smtp::client_options{});
  const std::error_code ec = c.open(client_ctx(), localhost()).error();
  EXPECT_EQ(ec, make_error_code(errc::protocol_error));
  EXPECT_EQ(ec.message().find("plaintext"), std::string::npos) << ec.message();
  EXPECT_NE(ec.message().find("dialogue"), std::string::npos) << ec.message();
  srv.join();
}

}  // namespace
}  // namespace uptls::test::smtp
