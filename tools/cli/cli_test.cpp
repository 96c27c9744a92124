// The uptls tool as a user runs it: a child process against uptls SMTP peers on
// loopback, for every compiled-in backend where it matters.
#include <gtest/gtest.h>

#include "harness.hpp"

#ifndef UPTLS_CLI
#error "UPTLS_CLI must name the uptls executable"
#endif

namespace uptls::test::smtp {
namespace {

struct run_result {
  int status = -1;
  std::string out;  // standard output, and standard error too unless run_apart
  std::string err;  // standard error (run_apart only)
};

run_result run(std::vector<std::string> argv, const std::string& input = {}) {
  argv.insert(argv.begin(), UPTLS_CLI);
  auto c = child::spawn(argv);
  c->write_stdin(input);
  c->close_stdin();
  run_result r;
  r.out = c->read_all(20s);
  r.status = c->wait(5s);
  return r;
}

// As run, with standard output and standard error kept apart.
run_result run_apart(std::vector<std::string> argv) {
  argv.insert(argv.begin(), UPTLS_CLI);
  auto c = child::spawn(argv, true);
  c->close_stdin();
  run_result r;
  r.out = c->read_all(20s);
  r.err = c->read_stderr(5s);
  r.status = c->wait(5s);
  return r;
}

std::vector<std::string> smtp_args(std::uint16_t port, const std::string& backend) {
  return {"smtp", "127.0.0.1", std::to_string(port), "--ca", cert("ca.pem"), "--name", "localhost", "--backend",
          backend, "--timeout", "5"};
}

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(Cli, ListsEveryBackend) {
  const run_result r = run({"backends"});
  EXPECT_EQ(r.status, 0) << r.out;
  for (const backend* b : backends()) EXPECT_TRUE(has(r.out, std::string(b->name()) + " ")) << r.out;
  EXPECT_TRUE(has(r.out, "(default)"));
}

TEST(Cli, BadUsageExitsWith2) {
  EXPECT_EQ(run({}).status, 2);
  EXPECT_EQ(run({"frobnicate"}).status, 2);
  EXPECT_EQ(run({"smtp"}).status, 2);
  EXPECT_EQ(run({"smtp", "127.0.0.1", "99999"}).status, 2);
  EXPECT_EQ(run({"smtp", "127.0.0.1", "--profile", "loose"}).status, 2);
  EXPECT_EQ(run({"smtp", "127.0.0.1", "--backend", "no-such-tls"}).status, 2);
  EXPECT_EQ(run({"smtp", "127.0.0.1", "--implicit", "--opportunistic"}).status, 2);
  EXPECT_EQ(run({"smtp-server", "--require-tls"}).status, 2);
  const run_result eof = run_apart({"smtp", "127.0.0.1", "--eof-is-trigger"});
  EXPECT_EQ(eof.status, 2);
  EXPECT_TRUE(has(eof.err, "--eof-is-trigger is a fallback rule; it needs --fallback")) << eof.err;
}

TEST(Cli, ErrorsAndHintsGoToStandardError) {
  server_run srv(uptls::smtp::server_options{});
  const run_result r = run_apart(smtp_args(srv.port(), std::string(backends().front()->name())));
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            starttls_not_offered")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the server did not offer STARTTLS")) << r.err;
  EXPECT_FALSE(has(r.out, "error:")) << r.out;
  EXPECT_FALSE(has(r.out, "hint:")) << r.out;
  EXPECT_TRUE(has(r.out, "C: EHLO localhost")) << r.out;  // the dialogue stays on standard output
  (void)srv.finish();
}

// A server that hangs up on a ClientHello it cannot serve, without an alert
// (Python's asyncio): the hint names the switches that work, and they do.
TEST(Cli, HangUpAfterStarttlsHintSaysWhatWorks) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3_aiosmtpd);
  const backend& b = *backends().front();
  if (!b.caps().rsa_key_exchange) GTEST_SKIP() << b.name() << " has no RSA key exchange, so no legacy rung";
  const std::uint16_t port = free_port();
  auto legacy = child::spawn({"/usr/bin/python3", UPTLS_LEGACY_SMTPD, "--port", std::to_string(port), "--cert",
                              cert("server-rsa.pem"), "--key", cert("server-rsa.key"), "--mode", "legacy"});
  std::string seen;
  ASSERT_TRUE(legacy->wait_for_output("READY", 15s, &seen)) << seen;
  const auto args = smtp_args(port, std::string(b.name()));

  const run_result strict = run_apart(args);
  EXPECT_EQ(strict.status, 1);
  EXPECT_TRUE(has(strict.err, "error:            eof")) << strict.err;
  EXPECT_TRUE(has(strict.err, "--fallback --eof-is-trigger retries once")) << strict.err;

  const run_result fallback = run_apart(args + std::vector<std::string>{"--fallback"});
  EXPECT_EQ(fallback.status, 1);
  EXPECT_TRUE(has(fallback.err, "error:            eof")) << fallback.err;
  EXPECT_TRUE(has(fallback.err, "add --eof-is-trigger")) << fallback.err;

  const run_result both = run_apart(args + std::vector<std::string>{"--fallback", "--eof-is-trigger"});
  EXPECT_EQ(both.status, 0) << both.out << both.err;
  EXPECT_TRUE(has(both.out, "TLS_RSA_WITH_AES_128_GCM_SHA256")) << both.out;
  EXPECT_TRUE(has(both.out, "won after a fallback")) << both.out;
}

TEST(Cli, StarttlsAndSendWithEveryBackend) {
  for (const backend* b : backends()) {
    const std::string name(b->name());
    server_run srv(with_tls());
    const run_result r = run(smtp_args(srv.port(), name) + std::vector<std::string>{"--send", "cli@example.org",
                                                                                   "rcpt@example.org"},
                             "Subject: cli\r\n\r\nfrom the tool\n.dot\n");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(has(r.out, "C: STARTTLS")) << r.out;
    EXPECT_TRUE(has(r.out, "*: TLS established")) << r.out;
    EXPECT_TRUE(has(r.out, "backend:          " + name)) << r.out;
    EXPECT_TRUE(has(r.out, "verified:         yes")) << r.out;
    EXPECT_TRUE(has(r.out, "message accepted")) << r.out;
    EXPECT_EQ(srv.finish(), std::error_code{});
    const auto got = srv.messages();
    ASSERT_EQ(got.size(), 1u) << name;
    EXPECT_TRUE(got[0].over_tls);
    EXPECT_EQ(got[0].from, "cli@example.org");
    EXPECT_EQ(got[0].data, "Subject: cli\r\n\r\nfrom the tool\r\n.dot\r\n");
  }
}

TEST(Cli, StarttlsNotOfferedStopsAndSaysWhy) {
  server_run srv(uptls::smtp::server_options{});
  const run_result r = run(smtp_args(srv.port(), std::string(backends().front()->name())));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "error:            starttls_not_offered")) << r.out;
  EXPECT_TRUE(has(r.out, "hint: the server did not offer STARTTLS")) << r.out;
  (void)srv.finish();
  EXPECT_EQ(srv.received(), std::vector<std::string>{"EHLO localhost"});
}

TEST(Cli, OpportunisticSaysItWentOnWithoutTls) {
  server_run srv(uptls::smtp::server_options{});
  const run_result r =
      run(smtp_args(srv.port(), std::string(backends().front()->name())) + std::vector<std::string>{"--opportunistic"});
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "WITHOUT TLS")) << r.out;
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(Cli, UntrustedCertificateIsNamed) {
  server_run srv(with_tls("untrusted"));
  const run_result r = run(smtp_args(srv.port(), std::string(backends().front()->name())));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "error:            cert_untrusted")) << r.out;
  EXPECT_TRUE(has(r.out, "hint: the certificate does not lead to a CA you trust")) << r.out;
}

TEST(Cli, ImplicitAgainstAStarttlsPortSaysDropImplicit) {
  server_run srv(with_tls());
  const run_result r =
      run(smtp_args(srv.port(), std::string(backends().front()->name())) + std::vector<std::string>{"--implicit"});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "error:            not_tls")) << r.out;
  EXPECT_TRUE(has(r.out, "drop --implicit")) << r.out;
}

// A port-465 style server: TLS from the first byte, then the SMTP dialogue.
struct implicit_server {
  std::vector<uptls::smtp::message> got;
  void operator()(std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), uptls::smtp::line_limits());
    if (s.start_tls(server_ctx())) return;
    (void)uptls::smtp::serve(std::move(s), uptls::smtp::server_options{},
                             [this](const uptls::smtp::message& m) { got.push_back(m); });
  }
};

TEST(Cli, StarttlsAgainstAnImplicitPortSaysTryImplicit) {
  implicit_server script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  auto argv = smtp_args(srv.port(), std::string(backends().front()->name()));
  argv[argv.size() - 1] = "1";  // --timeout 1
  const run_result r = run(argv);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(has(r.out, "error:            timeout")) << r.out;
  EXPECT_TRUE(has(r.out, "try --implicit")) << r.out;
}

TEST(Cli, ImplicitTls) {
  implicit_server script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  const run_result r =
      run(smtp_args(srv.port(), std::string(backends().front()->name())) +
              std::vector<std::string>{"--implicit", "--send", "a@example.org", "b@example.org"},
          "implicit\r\n");
  EXPECT_EQ(r.status, 0) << r.out;
  srv.join();
  ASSERT_EQ(script.got.size(), 1u);
  EXPECT_TRUE(script.got[0].over_tls);
}

TEST(Cli, FallbackReportsTheAttempts) {
  server_run srv(with_tls());
  auto argv = smtp_args(srv.port(), std::string(backends().front()->name())) + std::vector<std::string>{"--fallback"};
  const run_result r = run(argv);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "attempt 1/")) << r.out;
  EXPECT_TRUE(has(r.out, "outcome")) << r.out;
  EXPECT_TRUE(has(r.out, "C: STARTTLS")) << r.out;
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(Cli, ServerPrintsWhatItReceived) {
  for (const backend* b : backends()) {
    auto server = child::spawn({UPTLS_CLI, "smtp-server", "--cert", cert("server-rsa.pem"), "--key",
                                cert("server-rsa.key"), "--backend", std::string(b->name()), "--once",
                                "--require-tls", "--timeout", "5"});
    std::string seen;
    ASSERT_TRUE(server->wait_for_output("listening on 127.0.0.1 port ", 10s, &seen)) << seen;
    const std::string marker = "port ";
    const auto at = seen.rfind(marker) + marker.size();
    const auto port = static_cast<std::uint16_t>(std::stoi(seen.substr(at)));
    uptls::smtp::client c(connect_to(port), uptls::smtp::client_options{});
    ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
    ASSERT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "printed body\r\n"), std::error_code{});
    EXPECT_EQ(c.quit(), std::error_code{});
    EXPECT_TRUE(server->wait_for_output("| printed body", 10s, &seen)) << seen;
    EXPECT_EQ(server->wait(10s), 0);
    EXPECT_TRUE(has(seen, "over TLS: yes")) << seen;
    EXPECT_TRUE(has(seen, "C: STARTTLS")) << seen;
  }
}

}  // namespace
}  // namespace uptls::test::smtp
