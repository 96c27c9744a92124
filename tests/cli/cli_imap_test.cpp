// The uptls tool with IMAP as a user runs it: `uptls probe imap://` and
// `imaps://` against the uptls IMAP server (and a hostile PREAUTH one), the
// port mix-up hints, --json, and `uptls serve imap` with the uptls client.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

#ifndef UPTLS_CLI
#error "UPTLS_CLI must name the uptls executable"
#endif

namespace uptls::test::imap {
namespace {

using nlohmann::json;

struct run_result {
  int status = -1;
  std::string out;
  std::string err;
};

run_result run(std::vector<std::string> argv) {
  argv.insert(argv.begin(), UPTLS_CLI);
  auto c = child::spawn(argv, true);
  c->close_stdin();
  run_result r;
  r.out = c->read_all(30s);
  r.err = c->read_stderr(5s);
  r.status = c->wait(5s);
  return r;
}

std::string url(const std::string& scheme, std::uint16_t port) {
  return scheme + "://127.0.0.1:" + std::to_string(port);
}

std::vector<std::string> probe(const std::string& scheme, std::uint16_t port, const std::string& timeout = "5") {
  return {"probe", url(scheme, port), "--cafile", cert("ca.pem"), "--servername", "localhost", "--timeout", timeout};
}

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

// A port-993 style server: TLS from the first byte, then the uptls IMAP session.
struct implicit_server {
  result<> served;
  void operator()(std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    if (!s.start_tls(server_ctx()).ok()) return;
    mail_store store;
    served = uptls::imap::serve(std::move(s), uptls::imap::server_options{}, store.handler());
  }
};

TEST(CliImap, ProbeStarttlsShowsTheCapabilitiesReadInsideTls) {
  server_run srv(with_tls(true));
  const run_result r = run(probe("imap", srv.port()));
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, " OK Begin TLS negotiation now")) << r.out;
  EXPECT_TRUE(has(r.out, "IMAP4rev1")) << r.out;
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto lines = srv.received();
  // The greeting's [CAPABILITY ...] spared a plaintext CAPABILITY; inside TLS it was asked again.
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(has(lines[0], " STARTTLS"));
  EXPECT_TRUE(has(lines[1], " CAPABILITY"));
  EXPECT_TRUE(has(lines[2], " LOGOUT"));
}

TEST(CliImap, ProbeImplicitTls) {
  implicit_server script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  const run_result r = run(probe("imaps", srv.port()));
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "IMAP4rev1")) << r.out;
  srv.join();
  EXPECT_EQ(script.served, std::error_code{});
}

TEST(CliImap, JsonHasTheTlsFactsAndThePostTlsCapabilities) {
  server_run srv(with_tls(true));
  std::vector<std::string> args = probe("imap", srv.port());
  args.emplace_back("--json");
  const run_result r = run(args);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  const json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  EXPECT_EQ(doc["ok"], true);
  // The capabilities read inside TLS, before login: SASL PLAIN is offered there.
  EXPECT_EQ(doc["capabilities"], json::array({"IMAP4rev1", "AUTH=PLAIN", "SASL-IR"}));
  EXPECT_FALSE(doc["tls"].is_null());
  (void)srv.finish();
}

TEST(CliImap, ImapsAgainstAStarttlsPortSaysTryImap) {
  server_run srv(with_tls());
  const run_result r = run(probe("imaps", srv.port()));
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            not_tls")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the server spoke plaintext first: this port uses STARTTLS; try " + url("imap", srv.port())))
      << r.err;
}

TEST(CliImap, ImapAgainstAnImplicitPortSaysTryImaps) {
  implicit_server script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  const run_result r = run(probe("imap", srv.port(), "1"));
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            timeout")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: no IMAP greeting came: a server on an implicit-TLS port waits for the TLS handshake "
                         "first; try " + url("imaps", srv.port())))
      << r.err;
}

TEST(CliImap, PreauthGreetingIsRefusedWithItsHint) {
  std::string received;
  peer_thread srv([&](auto conn) {
    raw_write(*conn, "* PREAUTH [CAPABILITY IMAP4rev1] welcome back\r\n");
    std::byte buf[256];
    const result<std::size_t> n = read_some_within(*conn, buf, 5s);
    if (n.ok()) received.assign(reinterpret_cast<const char*>(buf), *n);
  });
  const run_result r = run(probe("imap", srv.port()));
  srv.join();
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            preauthenticated")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the server greeted PREAUTH")) << r.err;
  EXPECT_EQ(received, "");  // the client said nothing
}

TEST(CliImap, ServeImapWithTheUptlsClient) {
  auto proc = child::spawn({UPTLS_CLI, "serve", "imap", "--cert", cert("server-rsa.pem"), "--key",
                            cert("server-rsa.key"), "--require-tls", "--once"},
                           true);
  std::string seen;
  const std::string marker = "*: listening on 127.0.0.1 port ";
  ASSERT_TRUE(proc->wait_for_output(marker, 10s, &seen)) << seen << proc->read_stderr(1s);
  const auto port = static_cast<std::uint16_t>(std::stoi(seen.substr(seen.rfind(marker) + marker.size())));
  client c(client_to(port, quick(), drive_mode::blocking), uptls::imap::client_options{});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  ASSERT_EQ(c.login("bob", "anything"), std::error_code{});
  ASSERT_EQ(c.select("INBOX"), std::error_code{});
  EXPECT_EQ(c.unit().exists(), 1u);
  ASSERT_EQ(c.fetch(1), std::error_code{});
  EXPECT_TRUE(has(c.unit().message(), "Subject: uptls serve imap\r\n")) << c.unit().message();
  EXPECT_EQ(c.logout(), std::error_code{});
  EXPECT_EQ(proc->wait(10s), 0);
  seen += proc->read_all(2s);
  EXPECT_TRUE(has(seen, "login as 'bob' inside TLS")) << seen;
  EXPECT_FALSE(has(seen, "anything")) << seen;  // never the password
  EXPECT_TRUE(has(seen, "LOGINDISABLED")) << seen;
}

}  // namespace
}  // namespace uptls::test::imap
