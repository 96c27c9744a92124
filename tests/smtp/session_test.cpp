// uptls SMTP client against uptls SMTP server over real sockets, and hostile
// peers around the upgrade.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "uptls/fallback.hpp"

namespace uptls::test::smtp {
namespace {

using uptls::smtp::client_options;
using uptls::smtp::server_options;
using uptls::smtp::tls_mode;

TEST(SmtpSession, DeliversAMessageOverTls) {
  server_run srv(with_tls());
  std::vector<std::string> log;
  client c(client_to(srv.port()),
           client_options{"client.example", tls_mode::required,
                          [&](std::string_view d, std::string_view l) { log.push_back(std::string(d) + ": " + std::string(l)); }});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  ASSERT_TRUE(c.connection().is_tls());
  const session_info* info = c.connection().session();
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->backend, backend_under_test().name());
  EXPECT_TRUE(info->verified);
  EXPECT_FALSE(c.supports("STARTTLS"));  // post-TLS keywords only
  EXPECT_TRUE(c.supports("SIZE"));

  const std::string body =
      "Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nbare LF line\nlast line without end";
  ASSERT_EQ(c.send_mail("alice@example.org", {"bob@example.org", "carol@example.org"}, body), std::error_code{});
  EXPECT_EQ(c.last_reply().code, 250);
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});

  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].from, "alice@example.org");
  EXPECT_EQ(got[0].to, (std::vector<std::string>{"bob@example.org", "carol@example.org"}));
  EXPECT_EQ(got[0].helo, "client.example");
  EXPECT_EQ(got[0].data,
            "Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nbare LF line\r\nlast line without end\r\n");
  EXPECT_EQ(got[0].session.version, info->version);
  EXPECT_EQ(got[0].session.suite.name, info->suite.name);
  // The client's trace shows the stuffed lines it sent.
  EXPECT_NE(std::find(log.begin(), log.end(), "C: ...two dots"), log.end());
  EXPECT_NE(std::find(log.begin(), log.end(), "C: .."), log.end());
}

TEST(SmtpSession, SeveralMessagesInOneSession) {
  server_run srv(with_tls());
  client c(client_to(srv.port()), client_options{});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "n=" + std::to_string(i) + "\r\n"), std::error_code{});
  }
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].data, "n=2\r\n");
}

TEST(SmtpSession, SecondStarttlsIsRefused) {
  server_run srv(with_tls());
  client c(client_to(srv.port()), client_options{});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(code_of(c.ask("STARTTLS")), 503);
  // The refusal is not fatal: mail still goes through the same TLS session.
  EXPECT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "still fine\r\n"), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.messages().size(), 1u);
}

TEST(SmtpSession, RefusedRecipientIsAReplyError) {
  server_options o = with_tls();
  o.max_recipients = 1;
  server_run srv(o);
  client c(client_to(srv.port()), client_options{});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  const std::error_code ec = c.send_mail("a@example.org", {"b@example.org", "c@example.org"}, "x\r\n").error();
  EXPECT_EQ(ec, uptls::smtp::make_reply_error(452));
  EXPECT_EQ(ec.category().name(), std::string("smtp"));
  // After the client's RSET, the next transaction works.
  EXPECT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "x\r\n"), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.messages().size(), 1u);
}

TEST(SmtpSession, ClientRefusesBadInputBeforeSendingAnything) {
  server_run srv(with_tls());
  client c(client_to(srv.port()), client_options{});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.send_mail("a@example.org>\r\nRCPT TO:<evil@example.org", {"b@example.org"}, "x"),
            make_error_code(errc::usage));
  EXPECT_EQ(c.send_mail("a@example.org", {"b@example.org>"}, "x"), make_error_code(errc::usage));
  EXPECT_EQ(c.send_mail("a@example.org", {}, "x"), make_error_code(errc::usage));
  EXPECT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "ok\r\n" + std::string(999, 'x') + "\r\n"),
            make_error_code(errc::line_too_long));
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.received(), (std::vector<std::string>{"EHLO localhost", "STARTTLS", "EHLO localhost", "QUIT"}));
}

TEST(SmtpSession, ExpiredServerCertificateStopsTheClient) {
  server_options o;
  o.tls = server_ctx("expired");
  server_run srv(o);
  client c(client_to(srv.port()), client_options{});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::cert_expired));
  // The client's alert (certificate_expired) is what ended the server's handshake.
  EXPECT_EQ(srv.finish(), make_error_code(errc::cert_rejected_by_peer));
  EXPECT_EQ(srv.received(), (std::vector<std::string>{"EHLO localhost", "STARTTLS"}));
  EXPECT_TRUE(srv.messages().empty());
}

TEST(SmtpSession, WrongNameStopsTheClient) {
  server_run srv(with_tls());
  client c(client_to(srv.port()), client_options{});
  EXPECT_EQ(c.open(client_ctx(), peer_options{"mail.example.org"}), make_error_code(errc::cert_name_mismatch));
  (void)srv.finish();
  EXPECT_EQ(srv.received(), (std::vector<std::string>{"EHLO localhost", "STARTTLS"}));
}

TEST(SmtpSession, RequiredClientAgainstServerWithoutTls) {
  server_run srv(server_options{});
  client c(client_to(srv.port()), client_options{});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::starttls_not_offered));
  EXPECT_EQ(srv.finish(), make_error_code(errc::eof));
  EXPECT_EQ(srv.received(), std::vector<std::string>{"EHLO localhost"});
}

TEST(SmtpSession, ImplicitTls) {
  // Port-465 style: the server's stream is TLS from its first byte.
  const auto sctx = server_ctx();
  uptls::smtp::server_options o;
  std::vector<uptls::smtp::message> got;
  result<> ended = errc::internal;
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    if (!s.start_tls(sctx)) return;
    ended = uptls::smtp::serve(std::move(s), o, [&](const uptls::smtp::message& m) { got.push_back(m); });
  });
  under_test u = client_to(srv.port());
  ASSERT_EQ(u.d.run(u.s, [&] { return u.s.start_tls(client_ctx(), localhost()); }), std::error_code{});
  client c(std::move(u), client_options{});
  ASSERT_EQ(c.open_implicit(), std::error_code{});
  EXPECT_FALSE(c.supports("STARTTLS"));
  ASSERT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "implicit\r\n"), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  srv.join();
  EXPECT_EQ(ended, std::error_code{});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].data, "implicit\r\n");
}

TEST(SmtpSession, LadderThenOpenUpgraded) {
  // The fallback ladder runs starttls_prelude and the handshake; the client takes
  // the upgraded stream and only says EHLO again.
  server_run srv(with_tls());
  fallback_request req;
  req.host = "127.0.0.1";
  req.port = srv.port();
  req.stream_opts = quick();
  req.stream_opts.mode = mode() == drive_mode::blocking ? io_mode::blocking : io_mode::non_blocking;
  req.peer = localhost();
  req.base = client_config();
  req.ladder = {{&backend_under_test(), profile::strict}};
  uptls::smtp::client_options opts;
  opts.ehlo_name = "ladder.example";
  req.before_tls = uptls::smtp::starttls_prelude(opts);
  fallback_result res = connect_with_fallback(req);
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  client c(std::move(*res.connection), opts);
  ASSERT_EQ(c.open_upgraded(), std::error_code{});
  EXPECT_FALSE(c.supports("STARTTLS"));
  EXPECT_EQ(c.open_upgraded(), make_error_code(errc::usage));
  ASSERT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "via the ladder\r\n"), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].helo, "ladder.example");
  EXPECT_EQ(srv.received().front(), "EHLO ladder.example");
}

TEST(SmtpSession, OpenUpgradedOnPlaintextIsUsage) {
  server_run srv(with_tls());
  client c(client_to(srv.port()), client_options{});
  EXPECT_EQ(c.open_upgraded(), make_error_code(errc::usage));
  (void)c.connection().close();
  (void)srv.finish();
  EXPECT_TRUE(srv.received().empty());
}

// A hostile server that injects a reply behind the go-ahead, in the same write,
// then records whatever the client sends until it closes.
TEST(SmtpSession, InjectedReplyAfterGoAheadIsRefused) {
  std::string received;
  bool closed_by_client = false;
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    std::string line;
    (void)s.write("220 hostile ESMTP\r\n");
    (void)read_line(s, line);
    received += line + "\r\n";
    (void)s.write("250-hostile\r\n250 STARTTLS\r\n");
    (void)read_line(s, line);
    received += line + "\r\n";
    (void)s.write("220 go ahead\r\n250 injected\r\n");
    received += drain(s.lower(), &closed_by_client);
  });
  client c(client_to(srv.port()), client_options{});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::plaintext_injection));
  EXPECT_FALSE(c.connection().is_tls());
  EXPECT_EQ(c.connection().error(), make_error_code(errc::plaintext_injection));
  // The failure is sticky: later calls report it and send nothing.
  EXPECT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "x\r\n"), make_error_code(errc::plaintext_injection));
  srv.join();
  EXPECT_TRUE(closed_by_client);  // open() closed it, before quit() or the destructor
  EXPECT_EQ(c.quit(), make_error_code(errc::plaintext_injection));
  // Not even a ClientHello went out after STARTTLS.
  EXPECT_EQ(received, "EHLO localhost\r\nSTARTTLS\r\n");
}

TEST(SmtpSession, InjectedBytesAfterGoAheadFailTheBarePrelude) {
  peer_thread srv([&](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    std::string line;
    (void)s.write("220-hostile\r\n220 ESMTP\r\n");
    (void)read_line(s, line);
    (void)s.write("250-hostile\r\n250 STARTTLS\r\n");
    (void)read_line(s, line);
    (void)s.write("220 go ahead\r\nX");  // a single stray byte is enough
    (void)drain(s.lower());
  });
  stream s = connect_to(srv.port());
  ASSERT_EQ(run_prelude(s, client_options{}), std::error_code{});
  EXPECT_EQ(s.buffered(), 1u);  // the prelude stopped at the 220 line
  EXPECT_EQ(s.start_tls(client_ctx(), localhost()), make_error_code(errc::plaintext_injection));
}

}  // namespace
}  // namespace uptls::test::smtp
