// uptls SMTP against real programs nobody here wrote: openssl s_client,
// gnutls-cli, swaks, curl and Python's smtplib as clients of the uptls server;
// aiosmtpd (STARTTLS required) and openssl s_server (implicit TLS) as servers
// of the uptls client. Each program is skipped with a message when missing.
#include <gtest/gtest.h>

#include <future>

#include "harness.hpp"

#ifndef UPTLS_PEERS_DIR
#error "UPTLS_PEERS_DIR must name tests/peers (the Python peer scripts)"
#endif

namespace uptls::test::smtp {
namespace {

constexpr auto step = 10s;  // the longest wait for one reply from a peer

const std::string python = "/usr/bin/python3";

std::string script(const std::string& name) { return std::string(UPTLS_PEERS_DIR) + "/" + name; }


// Feeds one line at a time to a line-oriented client and waits for the uptls
// server's answer in its output.
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

// The post-TLS dialogue a line-driven client runs (the STARTTLS part is its own).
std::vector<step_t> mail_steps(const std::string& tag) {
  return {
      {"EHLO peer.example\r\n", "250 HELP"},
      {"MAIL FROM:<" + tag + "@example.org>\r\n", "250 2.1.0"},
      {"RCPT TO:<rcpt@example.org>\r\n", "250 2.1.5"},
      {"DATA\r\n", "354"},
      {"Subject: via " + tag + "\r\n\r\nbody from " + tag + "\r\n..dot-stuffed line\r\n.\r\n", "250 2.0.0"},
      {"QUIT\r\n", "221"},
  };
}

void expect_delivered(server_run& srv, const std::string& tag) {
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].from, tag + "@example.org");
  EXPECT_EQ(got[0].to, std::vector<std::string>{"rcpt@example.org"});
  EXPECT_EQ(got[0].helo, "peer.example");
  EXPECT_EQ(got[0].data, "Subject: via " + tag + "\r\n\r\nbody from " + tag + "\r\n.dot-stuffed line\r\n");
  EXPECT_EQ(got[0].session.backend, backend_under_test().name());
}

// ---- uptls server, real clients -------------------------------------------------

TEST(PeersServer, OpensslSClientStarttls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  server_run srv(with_tls(), quick(15s));
  auto peer = child::spawn({"openssl", "s_client", "-starttls", "smtp", "-connect",
                            "127.0.0.1:" + std::to_string(srv.port()), "-CAfile", cert("ca.pem"),
                            "-verify_return_error", "-verify_hostname", "localhost", "-nocommands", "-ign_eof"});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("Verify return code: 0 (ok)", step, &seen)) << seen;
  drive(*peer, mail_steps("s_client"), seen);
  EXPECT_EQ(peer->wait(step), 0) << seen;
  expect_delivered(srv, "s_client");
  // s_client's own pre-TLS EHLO came first, then STARTTLS, then ours.
  const auto lines = srv.received();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0].rfind("EHLO ", 0), 0u);
  EXPECT_EQ(lines[1], "STARTTLS");
  EXPECT_EQ(lines[2], "EHLO peer.example");
}

TEST(PeersServer, OpensslSClientRefusesAnUntrustedServer) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  server_run srv(with_tls("untrusted"), quick(15s));
  auto peer = child::spawn({"openssl", "s_client", "-starttls", "smtp", "-connect",
                            "127.0.0.1:" + std::to_string(srv.port()), "-CAfile", cert("ca.pem"),
                            "-verify_return_error", "-verify_hostname", "localhost", "-nocommands"});
  peer->write_stdin("EHLO peer.example\r\nMAIL FROM:<x@example.org>\r\n");
  const int status = peer->wait(step);
  const std::string out = peer->read_all(1s);
  EXPECT_NE(status, 0) << out;
  // s_client's own reason: the chain does not lead to the CA it was given.
  EXPECT_NE(out.find("verify error:num=20:unable to get local issuer certificate"), std::string::npos) << out;
  // ... and the uptls server heard it as the client's refusal of its certificate.
  EXPECT_EQ(srv.finish(), errc::cert_rejected_by_peer) << out;
  EXPECT_TRUE(srv.messages().empty());
}

TEST(PeersServer, GnutlsCliStarttls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::gnutls_cli);
  server_run srv(with_tls(), quick(15s));
  auto peer = child::spawn({"gnutls-cli", "--starttls-proto=smtp", "--x509cafile", cert("ca.pem"),
                            "--verify-hostname=localhost", "-p", std::to_string(srv.port()), "127.0.0.1"});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("Handshake was completed", step, &seen)) << seen;
  drive(*peer, mail_steps("gnutls-cli"), seen);
  peer->close_stdin();
  (void)peer->wait(step);
  expect_delivered(srv, "gnutls-cli");
  EXPECT_NE(seen.find("Status: The certificate is trusted."), std::string::npos) << seen;
}

TEST(PeersServer, SwaksStarttlsWithVerification) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::swaks_tls);
  server_run srv(with_tls(), quick(15s));
  auto peer = child::spawn({"swaks", "--server", "127.0.0.1", "--port", std::to_string(srv.port()), "--tls",
                            "--tls-verify", "--tls-ca-path", cert("ca.pem"), "--ehlo", "peer.example", "--from",
                            "swaks@example.org", "--to", "rcpt@example.org", "--header", "Subject: via swaks",
                            "--body", "body from swaks\n.dot-stuffed line", "--timeout", "10"});
  const int status = peer->wait(20s);
  const std::string out = peer->read_all(1s);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u) << out;
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].helo, "peer.example");
  EXPECT_EQ(got[0].from, "swaks@example.org");
  EXPECT_NE(got[0].data.find("Subject: via swaks\r\n"), std::string::npos) << got[0].data;
  EXPECT_NE(got[0].data.find("\r\n\r\nbody from swaks\r\n.dot-stuffed line\r\n"), std::string::npos) << got[0].data;
  // swaks sent STARTTLS, then EHLO again inside TLS.
  const auto lines = srv.received();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[1], "STARTTLS");
  EXPECT_EQ(lines[2], "EHLO peer.example");
}

TEST(PeersServer, SwaksRefusesAnUntrustedServer) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::swaks_tls);
  server_run srv(with_tls("untrusted"), quick(15s));
  auto peer = child::spawn({"swaks", "--server", "127.0.0.1", "--port", std::to_string(srv.port()), "--tls",
                            "--tls-verify", "--tls-ca-path", cert("ca.pem"), "--from", "swaks@example.org", "--to",
                            "rcpt@example.org", "--timeout", "10"});
  const int status = peer->wait(20s);
  const std::string out = peer->read_all(1s);
  EXPECT_NE(status, 0) << out;
  // swaks got as far as the handshake and refused the certificate itself.
  EXPECT_NE(out.find("STARTTLS"), std::string::npos) << out;
  EXPECT_NE(out.find("certificate verify failed"), std::string::npos) << out;
  EXPECT_EQ(srv.finish(), errc::cert_rejected_by_peer) << out;
  EXPECT_TRUE(srv.messages().empty());
}

TEST(PeersServer, PythonSmtplibStarttls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3);
  server_run srv(with_tls(), quick(15s));
  auto peer = child::spawn({python, script("smtplib_send.py"), "127.0.0.1", std::to_string(srv.port()), cert("ca.pem")});
  const int status = peer->wait(20s);
  const std::string out = peer->read_all(1s);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("SENT"), std::string::npos) << out;
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u) << out;
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].helo, "smtplib.example");
  EXPECT_EQ(got[0].from, "py@example.org");
  EXPECT_EQ(got[0].data, "Subject: from smtplib\r\n\r\nhello from python smtplib\r\n.leading dot\r\n");
  // Python reports the version the uptls server negotiated (and, for TLS 1.3, the same suite name).
  const session_info& info = got[0].session;
  EXPECT_NE(out.find("TLS " + std::string(to_string(info.version))), std::string::npos) << out;
  if (info.version == tls_version::tls1_3) {
    EXPECT_NE(out.find(" " + info.suite.name), std::string::npos) << out;
  }
}

TEST(PeersServer, CurlSslReqd) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::curl_smtp_tls);
  server_run srv(with_tls(), quick(15s));
  auto peer = child::spawn({"sh", "-c",
                            "printf 'Subject: via curl\\r\\n\\r\\nbody from curl\\r\\n.dot line\\r\\n' | curl -sS "
                            "--ssl-reqd --cacert \"$1\" --mail-from curl@example.org --mail-rcpt rcpt@example.org "
                            "--upload-file - --max-time 15 \"smtp://127.0.0.1:$2/peer.example\"",
                            "sh", cert("ca.pem"), std::to_string(srv.port())});
  const int status = peer->wait(20s);
  EXPECT_EQ(status, 0) << peer->read_all(1s);
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].over_tls);
  EXPECT_EQ(got[0].helo, "peer.example");
  EXPECT_EQ(got[0].data, "Subject: via curl\r\n\r\nbody from curl\r\n.dot line\r\n");
}

// ---- uptls client, real servers --------------------------------------------------

// aiosmtpd on a free port; nullptr (and why) when it did not start.
std::unique_ptr<child> start_aiosmtpd(std::uint16_t port, bool tls, std::string& why) {
  if (why = peer_problem(peer_program::python3_aiosmtpd); !why.empty()) return nullptr;
  std::vector<std::string> argv = {python, script("aiosmtpd_server.py"), std::to_string(port),
                                   cert("server-rsa.pem"), cert("server-rsa.key")};
  if (!tls) argv.emplace_back("--no-tls");
  auto c = child::spawn(argv);
  std::string seen;
  if (!c->wait_for_output("READY", 15s, &seen)) {
    why = "aiosmtpd did not start: " + seen;
    return nullptr;
  }
  return c;
}

TEST(PeersClient, AiosmtpdRequiringStarttls) {
  const std::uint16_t port = free_port();
  std::string why;
  auto peer = start_aiosmtpd(port, true, why);
  ASSERT_TRUE(peer) << why;
  std::vector<std::string> log;
  client c(client_to(port, quick(10s)),
                        uptls::smtp::client_options{"uptls.example", uptls::smtp::tls_mode::required,
                                                    [&](std::string_view d, std::string_view l) {
                                                      log.push_back(std::string(d) + ": " + std::string(l));
                                                    }});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  ASSERT_TRUE(c.connection().is_tls());
  EXPECT_FALSE(c.supports("STARTTLS"));
  ASSERT_EQ(c.send_mail("uptls@example.org", {"rcpt@example.org"}, "Subject: to aiosmtpd\r\n\r\n.dot\r\nend\r\n"),
            std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("MESSAGE ", step, &seen)) << seen;
  EXPECT_NE(seen.find("\"from\": \"uptls@example.org\""), std::string::npos) << seen;
  EXPECT_NE(seen.find("\"tls\": true"), std::string::npos) << seen;
  EXPECT_NE(seen.find("\"helo\": \"uptls.example\""), std::string::npos) << seen;
  EXPECT_NE(seen.find("\\r\\n.dot\\r\\nend\\r\\n"), std::string::npos) << seen;  // unstuffed by aiosmtpd
  // aiosmtpd saw the version uptls negotiated (and, for TLS 1.3, the same suite name).
  const session_info& info = *c.connection().session();
  EXPECT_NE(seen.find("\"" + std::string(to_string(info.version)) + "\""), std::string::npos) << seen;
  if (info.version == tls_version::tls1_3) {
    EXPECT_NE(seen.find("\"" + info.suite.name + "\""), std::string::npos) << seen;
  }
}

TEST(PeersClient, AiosmtpdWithoutTlsStopsARequiredClient) {
  const std::uint16_t port = free_port();
  std::string why;
  auto peer = start_aiosmtpd(port, false, why);
  ASSERT_TRUE(peer) << why;
  client c(client_to(port, quick(10s)), uptls::smtp::client_options{});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::starttls_not_offered));
  EXPECT_FALSE(peer->wait_for_output("MESSAGE ", 500ms));
}

TEST(PeersClient, AiosmtpdWithoutTlsOpportunistic) {
  const std::uint16_t port = free_port();
  std::string why;
  auto peer = start_aiosmtpd(port, false, why);
  ASSERT_TRUE(peer) << why;
  client c(client_to(port, quick(10s)),
                        uptls::smtp::client_options{"uptls.example", uptls::smtp::tls_mode::opportunistic, {}});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.tls_skipped());
  ASSERT_EQ(c.send_mail("uptls@example.org", {"rcpt@example.org"}, "plain\r\n"), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("MESSAGE ", step, &seen)) << seen;
  EXPECT_NE(seen.find("\"tls\": false"), std::string::npos) << seen;
}

// openssl s_server plays an implicit-TLS (port 465) SMTP server: what the test
// writes to its stdin goes to the client, what the client sends shows on its stdout.
TEST(PeersClient, OpensslSServerImplicitTls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  const std::uint16_t port = free_port();
  auto peer = child::spawn({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-naccept", "1",
                            "-cert", cert("server-rsa.pem"), "-key", cert("server-rsa.key")});
  std::string seen;
  ASSERT_TRUE(peer->wait_for_output("ACCEPT", step, &seen)) << seen;
  peer->write_stdin("220 s_server ESMTP\r\n");  // read by s_server once a client is connected

  auto done = std::async(std::launch::async, [&]() -> std::error_code {
    under_test u = client_to(port, quick(15s));
    if (const auto up = u.d.run(u.s, [&] { return u.s.start_tls(client_ctx(), localhost()); }); !up) return up.error();
    client c(std::move(u), uptls::smtp::client_options{"uptls.example", uptls::smtp::tls_mode::required, {}});
    if (const std::error_code ec = c.open_implicit().error()) return ec;
    if (!c.supports("8BITMIME")) return errc::protocol_error;
    if (const std::error_code ec = c.send_mail("uptls@example.org", {"rcpt@example.org"}, "implicit\r\n.dot\r\nEND\r\n").error())
      return ec;
    return c.quit().error();
  });
  const std::vector<step_t> steps = {
      {"", "EHLO uptls.example"},
      {"250-s_server\r\n250 8BITMIME\r\n", "MAIL FROM:<uptls@example.org>"},
      {"250 ok\r\n", "RCPT TO:<rcpt@example.org>"},
      {"250 ok\r\n", "DATA"},
      {"354 go ahead\r\n", "END"},
      {"", "."},
      {"250 queued\r\n", "QUIT"},
  };
  drive(*peer, steps, seen);
  peer->write_stdin("221 bye\r\n");
  ASSERT_EQ(done.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(done.get(), std::error_code{});
  // The client stuffed the dot line; s_server shows the raw wire.
  EXPECT_NE(seen.find("\n..dot\n"), std::string::npos) << seen;
}

}  // namespace
}  // namespace uptls::test::smtp
