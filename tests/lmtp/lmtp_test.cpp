// LMTP (RFC 2033) with STARTTLS, through the SMTP machinery's LMTP dialect, in
// the program's mode: the uptls client against Dovecot's LMTP over TCP, the
// uptls server against Python's smtplib.LMTP and swaks --protocol LMTP, uptls
// against itself, and the attacks: LHLO answered by an SMTP-only server,
// per-recipient replies missing, bytes injected behind the 220 go-ahead, and
// commands pipelined behind STARTTLS.
#include <gtest/gtest.h>

#include "dovecot.hpp"
#include "harness.hpp"

namespace uptls::test::smtp {
namespace {

using uptls::smtp::client_options;
using uptls::smtp::dialect;
using uptls::smtp::tls_mode;

constexpr auto step = 10s;
const std::string python = "/usr/bin/python3";

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

client_options lmtp_client(tls_mode m = tls_mode::required) {
  client_options o;
  o.mode = m;
  o.proto = dialect::lmtp;
  return o;
}

uptls::smtp::server_options lmtp_server(const std::string& leaf = "server-rsa") {
  uptls::smtp::server_options o = with_tls(leaf);
  o.proto = dialect::lmtp;
  return o;
}

under_test client_at(const std::string& host, std::uint16_t port, stream_options opts = quick()) {
  auto t = tcp_connect(host, port, {2s});
  if (!t) throw std::runtime_error("connect failed: " + to_string(t));
  auto [s, d] = driver::make(mode(), std::move(t).value(), opts);
  return {std::move(s), std::move(d)};
}

// ---- uptls client, Dovecot LMTP ----------------------------------------------

class LmtpDovecot : public testing::Test {
 protected:
  static dovecot* shared() {
    if (!d_) {
      dovecot::options o;
      o.address = "127.0.0.2";  // the client (from 127.0.0.1) is remote: no secured shortcut
      d_ = std::make_unique<dovecot>(o);
      d_->start();
    }
    return d_.get();
  }
  static void TearDownTestSuite() { d_.reset(); }
  static inline std::unique_ptr<dovecot> d_;
};

#define UPTLS_LMTP_DOVECOT(var)                      \
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::dovecot); \
  dovecot* var = nullptr;                            \
  try {                                              \
    var = shared();                                  \
  } catch (const std::exception& e) {                \
    FAIL() << e.what();                              \
  }

TEST_F(LmtpDovecot, StarttlsThenDeliveryIntoTheMaildir) {
  UPTLS_LMTP_DOVECOT(d);
  const std::size_t before = d->delivered().size();
  client c(client_at(d->address(), d->ports().lmtp, quick(10s)), lmtp_client());
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.connection().is_tls());
  EXPECT_FALSE(c.supports("STARTTLS"));  // the post-TLS LHLO reply only
  const std::string marker = "uptls-lmtp-" + to_string(mode()) + "-" + std::string(backend_under_test().name());
  ASSERT_EQ(c.send_mail("sender@example.org", {d->mail_address()}, "Subject: " + marker + "\r\n\r\nbody\r\n"),
            std::error_code{});
  EXPECT_EQ(c.recipient_replies(), std::vector<int>{250});
  EXPECT_EQ(c.quit(), std::error_code{});
  const auto got = d->wait_for_delivered(before + 1, 10s);
  ASSERT_EQ(got.size(), before + 1) << d->log();
  bool found = false;
  for (const auto& m : got) found = found || has(m.text, "Subject: " + marker);
  EXPECT_TRUE(found);
}

TEST_F(LmtpDovecot, OneAcceptedOneUnknownRecipientEachWithItsOwnReply) {
  UPTLS_LMTP_DOVECOT(d);
  const std::size_t before = d->delivered().size();
  client c(client_at(d->address(), d->ports().lmtp, quick(10s)), lmtp_client());
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  const std::string marker = "uptls-lmtp-two-" + to_string(mode()) + "-" + std::string(backend_under_test().name());
  const result<> r = c.send_mail("sender@example.org", {d->mail_address(), "nobody-here@localhost"},
                                 "Subject: " + marker + "\r\n\r\nbody\r\n");
  // The unknown recipient's refusal is the result, and the known one still got it.
  EXPECT_EQ(r, uptls::smtp::make_reply_error(550)) << to_string(r);
  EXPECT_EQ(c.recipient_replies(), (std::vector<int>{250, 550}));
  EXPECT_EQ(c.quit(), std::error_code{});
  const auto got = d->wait_for_delivered(before + 1, 10s);
  ASSERT_EQ(got.size(), before + 1) << d->log();
  EXPECT_TRUE(has(got.back().text, marker) || has(got.front().text, marker));
}

// ---- uptls server, real LMTP clients -------------------------------------------

TEST(LmtpServerPeers, PythonSmtplibLmtpWithStarttlsGetsOneReplyPerRecipient) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3);
  server_run srv(lmtp_server(), quick(15s));
  const std::string code = R"(
import smtplib, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
s = smtplib.LMTP("127.0.0.1", port, timeout=10)
print("LHLO", s.ehlo("peer.example")[0])
print("STARTTLS", s.starttls(context=ssl.create_default_context(cafile=ca))[0])
code, caps = s.ehlo("peer.example")
print("LHLO-TLS", code, "STARTTLS" in caps.decode())
print("MAIL", s.mail("py@example.org")[0])
print("RCPT1", s.rcpt("one@example.org")[0])
print("RCPT2", s.rcpt("two@example.org")[0])
# smtplib reads the first reply after DATA; LMTP sends one per recipient.
code, text = s.data(b"Subject: via smtplib.LMTP\r\n\r\nbody\r\n")
print("DATA1", code, text.decode())
code, text = s.getreply()
print("DATA2", code, text.decode())
print("QUIT", s.quit()[0])
)";
  auto peer = child::spawn({python, "-c", code, std::to_string(srv.port()), cert("ca.pem")});
  const int status = peer->wait(20s);
  const std::string out = peer->read_all(1s);
  EXPECT_EQ(status, 0) << out;
  EXPECT_TRUE(has(out, "STARTTLS 220")) << out;
  EXPECT_TRUE(has(out, "LHLO-TLS 250 False")) << out;  // no STARTTLS offered inside TLS
  EXPECT_TRUE(has(out, "DATA1 250 2.0.0 <one@example.org> delivered")) << out;
  EXPECT_TRUE(has(out, "DATA2 250 2.0.0 <two@example.org> delivered")) << out;
  EXPECT_TRUE(has(out, "QUIT 221")) << out;
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].helo, "peer.example");
  EXPECT_EQ(got[0].to, (std::vector<std::string>{"one@example.org", "two@example.org"}));
  EXPECT_EQ(got[0].data, "Subject: via smtplib.LMTP\r\n\r\nbody\r\n");
}

TEST(LmtpServerPeers, SwaksProtocolLmtpWithStarttls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::swaks_tls);
  server_run srv(lmtp_server(), quick(15s));
  auto peer = child::spawn({"swaks", "--server", "127.0.0.1", "--port", std::to_string(srv.port()), "--protocol",
                            "LMTP", "--tls", "--tls-verify", "--tls-ca-path", cert("ca.pem"), "--ehlo",
                            "peer.example", "--from", "swaks@example.org", "--to", "a@example.org,b@example.org",
                            "--header", "Subject: via swaks LMTP", "--body", "body from swaks", "--timeout", "10"});
  const int status = peer->wait(20s);
  const std::string out = peer->read_all(1s);
  EXPECT_EQ(status, 0) << out;
  EXPECT_TRUE(has(out, "-> LHLO peer.example")) << out;
  EXPECT_FALSE(has(out, "EHLO")) << out;
  // swaks prints each of the two replies after the message.
  EXPECT_TRUE(has(out, "250 2.0.0 <a@example.org> delivered")) << out;
  EXPECT_TRUE(has(out, "250 2.0.0 <b@example.org> delivered")) << out;
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u) << out;
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].to, (std::vector<std::string>{"a@example.org", "b@example.org"}));
}

// ---- uptls client, uptls server -----------------------------------------------

TEST(LmtpSession, ThreeRecipientsThreeReplies) {
  server_run srv(lmtp_server());
  client c(client_to(srv.port()), lmtp_client());
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  ASSERT_EQ(c.send_mail("a@example.org", {"x@example.org", "y@example.org", "z@example.org"}, "hello\r\n"),
            std::error_code{});
  EXPECT_EQ(c.recipient_replies(), (std::vector<int>{250, 250, 250}));
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  ASSERT_EQ(srv.messages().size(), 1u);
  EXPECT_EQ(srv.messages()[0].to.size(), 3u);
  EXPECT_TRUE(srv.messages()[0].over_tls);
  EXPECT_EQ(srv.received(), (std::vector<std::string>{"LHLO localhost", "STARTTLS", "LHLO localhost",
                                                      "MAIL FROM:<a@example.org> SIZE=10", "RCPT TO:<x@example.org>",
                                                      "RCPT TO:<y@example.org>", "RCPT TO:<z@example.org>", "DATA",
                                                      "hello", ".", "QUIT"}));
}

TEST(LmtpSession, RequiredTlsServerRefusesMailBeforeStarttls) {
  auto o = lmtp_server();
  o.require_tls = true;
  server_run srv(o);
  stream s = connect_to(srv.port());
  EXPECT_EQ(code_of(read_reply(s)), 220);
  EXPECT_EQ(code_of(ask(s, "LHLO peer.example")), 250);
  EXPECT_EQ(ask(s, "MAIL FROM:<a@example.org>"), "530 5.7.0 Must issue a STARTTLS command first");
  EXPECT_EQ(code_of(ask(s, "EHLO peer.example")), 500);  // LMTP knows no EHLO
  EXPECT_EQ(code_of(ask(s, "QUIT")), 221);
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_TRUE(srv.messages().empty());
}

// ---- attacks -------------------------------------------------------------------

TEST(LmtpAttack, LhloAnsweredByAnSmtpOnlyServer) {
  // A real SMTP server (the uptls one in its SMTP dialect) does not know LHLO.
  server_run srv(with_tls());
  client c(client_to(srv.port()), lmtp_client());
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::starttls_not_offered);
  EXPECT_EQ(c.last_reply().code, 500);
  EXPECT_EQ(srv.finish(), errc::eof);
  EXPECT_EQ(srv.received(), std::vector<std::string>{"LHLO localhost"});  // no HELO, nothing else
}

TEST(LmtpAttack, LhloAnsweredByAnSmtpOnlyServerOpportunisticStillStops) {
  server_run srv(with_tls());
  client c(client_to(srv.port()), lmtp_client(tls_mode::opportunistic));
  // LMTP has no HELO to fall back on (RFC 2033 4.1): not a session to go on with.
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::protocol_error);
  EXPECT_EQ(srv.finish(), errc::eof);
  EXPECT_EQ(srv.received(), std::vector<std::string>{"LHLO localhost"});
}

// A scripted LMTP server: real STARTTLS, then the transaction with `after_data`
// in place of the per-recipient replies, then it closes (close_notify).
struct lmtp_script {
  std::string starttls_reply = "220 go ahead\r\n";
  std::string after_data;
  bool close_after = true;
  std::vector<std::string> tls_lines;

  void operator()(std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    std::string line;
    raw_write(s.lower(), "220 scripted LMTP\r\n");
    if (read_line(s, line)) return;
    raw_write(s.lower(), "250-scripted\r\n250 STARTTLS\r\n");
    if (read_line(s, line)) return;
    raw_write(s.lower(), starttls_reply);
    if (s.start_tls(server_ctx()).failed()) return;
    for (int i = 0; i < 12 && !read_line(s, line); ++i) {
      tls_lines.push_back(line);
      if (line.rfind("LHLO", 0) == 0) (void)s.write("250-scripted\r\n250 PIPELINING\r\n");
      if (line.rfind("MAIL", 0) == 0 || line.rfind("RCPT", 0) == 0) (void)s.write("250 ok\r\n");
      if (line == "DATA") (void)s.write("354 go\r\n");
      if (line == ".") {
        (void)s.write(after_data);
        if (close_after) break;
        std::this_thread::sleep_for(1500ms);  // silent: the client's own timeout must end it
        break;
      }
    }
    (void)s.close();
  }
};

TEST(LmtpAttack, MissingPerRecipientReplyThenCloseIsAnError) {
  lmtp_script sc;
  sc.after_data = "250 2.0.0 <one@example.org> delivered\r\n";  // and none for two@
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), lmtp_client());
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.send_mail("a@example.org", {"one@example.org", "two@example.org"}, "x\r\n"), errc::eof);
  EXPECT_EQ(c.recipient_replies(), (std::vector<int>{250, 0}))
      << "no reply came for the second recipient: it shows no delivery";
  srv.join();
}

TEST(LmtpAttack, MissingPerRecipientReplyFromASilentServerTimesOut) {
  lmtp_script sc;
  sc.after_data = "250 2.0.0 <one@example.org> delivered\r\n";
  sc.close_after = false;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port(), quick(500ms)), lmtp_client());
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.send_mail("a@example.org", {"one@example.org", "two@example.org"}, "x\r\n"), errc::timeout);
  srv.join();
}

TEST(LmtpAttack, ReplyInjectedBehindThe220IsRefused) {
  lmtp_script sc;
  sc.starttls_reply = "220 go ahead\r\n250-forged\r\n250 AUTH PLAIN\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), lmtp_client());
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::plaintext_injection);
  EXPECT_FALSE(c.connection().is_tls());
  srv.join();
  EXPECT_TRUE(sc.tls_lines.empty());
}

TEST(LmtpAttack, CommandPipelinedBehindStarttlsIsRefusedByTheServer) {
  server_run srv(lmtp_server());
  stream s = connect_to(srv.port());
  EXPECT_EQ(code_of(read_reply(s)), 220);
  EXPECT_EQ(code_of(ask(s, "LHLO peer.example")), 250);
  raw_write(s.lower(), "STARTTLS\r\nMAIL FROM:<a@example.org>\r\n");
  bool closed = false;
  EXPECT_EQ(drain(s.lower(), &closed), "554 5.5.1 no commands may follow STARTTLS before the TLS handshake\r\n");
  EXPECT_TRUE(closed);
  EXPECT_EQ(srv.finish(), errc::plaintext_injection);
  EXPECT_TRUE(srv.messages().empty());
}

}  // namespace
}  // namespace uptls::test::smtp
