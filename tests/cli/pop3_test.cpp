// The uptls tool with POP3: `uptls probe pop3://` and `pop3s://` against the
// uptls POP3 server of every backend, the hints for a port mix-up and a
// stripped STLS, --json, and `uptls serve pop3` fetched from by curl.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pop3_harness.hpp"

#ifndef UPTLS_CLI
#error "UPTLS_CLI must name the uptls executable"
#endif

namespace uptls::test::pop3 {
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

std::string url(const std::string& scheme, std::uint16_t port) { return scheme + "://127.0.0.1:" + std::to_string(port); }

std::vector<std::string> probe(const std::string& scheme, std::uint16_t port, const std::string& backend,
                               const std::string& timeout = "5") {
  return {"probe", url(scheme, port), "--cafile", cert("ca.pem"), "--servername", "localhost", "--backend", backend,
          "--timeout", timeout};
}

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }
std::string first_backend() { return std::string(backends().front()->name()); }

uptls::pop3::server_options tls_of(const backend& b) {
  uptls::pop3::server_options o;
  o.tls = make_ctx(b, server_config(), role::server);
  o.require_tls = true;
  return o;
}

TEST(CliPop3, ProbeStlsWithEveryBackend) {
  for (const backend* b : backends()) {
    const std::string name(b->name());
    server_run srv(tls_of(*b));
    const run_result r = run(probe("pop3", srv.port(), name));
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_TRUE(has(r.out, "C: CAPA\nS: +OK Capability list follows\nS: STLS\n")) << r.out;
    EXPECT_TRUE(has(r.out, "C: STLS\nS: +OK Begin TLS negotiation\n")) << r.out;
    EXPECT_TRUE(has(r.out, "backend:          " + name)) << r.out;
    EXPECT_TRUE(has(r.out, "verified:         yes")) << r.out;
    // The capabilities shown are the ones given inside TLS.
    EXPECT_TRUE(has(r.out, "capabilities:     USER, RESP-CODES")) << r.out;
    EXPECT_EQ(r.err, "") << name;
    EXPECT_EQ(srv.finish(), std::error_code{});
    EXPECT_EQ(srv.received(), (std::vector<std::string>{"CAPA", "STLS", "CAPA", "QUIT"}));
  }
}

TEST(CliPop3, ProbePop3sImplicitTls) {
  peer_thread srv([](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    if (s.start_tls(server_ctx()).ok()) (void)uptls::pop3::serve(std::move(s), {}, {});
  });
  const run_result r = run(probe("pop3s", srv.port(), first_backend()));
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "*: implicit TLS to 127.0.0.1 port " + std::to_string(srv.port()))) << r.out;
  EXPECT_FALSE(has(r.out, "C: STLS")) << r.out;
  EXPECT_TRUE(has(r.out, "S: +OK localhost POP3 uptls ready")) << r.out;
  srv.join();
}

TEST(CliPop3, StlsAgainstAnImplicitPortSaysTryPop3s) {
  peer_thread srv([](std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick(3s));
    (void)s.start_tls(server_ctx());  // waits for a ClientHello that never comes
  });
  const run_result r = run(probe("pop3", srv.port(), first_backend(), "1"));
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            timeout")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: no POP3 greeting came: a server on an implicit-TLS port waits for the TLS handshake "
                         "first; try " + url("pop3s", srv.port())))
      << r.err;
  srv.join();
}

TEST(CliPop3, ImplicitAgainstAnStlsPortSaysUseStls) {
  server_run srv(tls_of(backend_under_test()));
  const run_result r = run(probe("pop3s", srv.port(), first_backend()));
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            not_tls")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the server spoke plaintext first: this port uses STLS; try " + url("pop3", srv.port())))
      << r.err;
  (void)srv.finish();
}

TEST(CliPop3, StlsNotOfferedStopsAndSaysWhy) {
  server_run srv(uptls::pop3::server_options{});
  const run_result r = run(probe("pop3", srv.port(), first_backend()));
  EXPECT_EQ(r.status, 1) << r.out << r.err;  // a dialogue failure, not a handshake one
  EXPECT_TRUE(has(r.err, "error:            starttls_not_offered")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the server did not offer STLS (or something on the path removed it); only CAPA was sent"))
      << r.err;
  (void)srv.finish();
  EXPECT_EQ(srv.received(), std::vector<std::string>{"CAPA"});
  // --opportunistic goes on without TLS, and says so.
  server_run plain(uptls::pop3::server_options{});
  std::vector<std::string> opportunistic = probe("pop3", plain.port(), first_backend());
  opportunistic.push_back("--opportunistic");
  const run_result o = run(opportunistic);
  EXPECT_EQ(o.status, 0) << o.out << o.err;
  EXPECT_TRUE(has(o.out, "WITHOUT TLS")) << o.out;
  EXPECT_EQ(plain.finish(), std::error_code{});
}

TEST(CliPop3, JsonReport) {
  server_run srv(tls_of(backend_under_test()));
  std::vector<std::string> argv = probe("pop3", srv.port(), std::string(backend_under_test().name()));
  argv.push_back("--json");
  const run_result r = run(argv);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  json doc;
  ASSERT_NO_THROW(doc = json::parse(r.out)) << r.out;
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["exit_status"], 0);
  EXPECT_EQ(doc["capabilities"], json::array({"USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION uptls"}));
  bool stls = false;
  for (const json& line : doc.at("dialogue")) stls = stls || (line.at("dir") == "C" && line.at("text") == "STLS");
  EXPECT_TRUE(stls) << r.out;
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(CliPop3, ServePop3FetchedByCurl) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::curl_imap_pop3_tls);
  auto proc = child::spawn({UPTLS_CLI, "serve", "pop3", "--cert", cert("server-rsa.pem"), "--key", cert("server-rsa.key"),
                            "--require-tls", "--once", "--timeout", "5"},
                           true);
  std::string seen;
  const std::string marker = "*: listening on 127.0.0.1 port ";
  ASSERT_TRUE(proc->wait_for_output(marker, 10s, &seen)) << seen;
  const std::string port = std::to_string(std::stoi(seen.substr(seen.rfind(marker) + marker.size())));
  auto curl = child::spawn({"curl", "-sS", "--ssl-reqd", "--cacert", cert("ca.pem"), "--max-time", "10", "-u",
                            "carol:some-password", "pop3://localhost:" + port + "/1"});
  const std::string fetched = curl->read_all(15s);
  EXPECT_EQ(curl->wait(5s), 0) << fetched;
  EXPECT_TRUE(has(fetched, "You are logged in as carol over TLS (")) << fetched;
  EXPECT_TRUE(proc->wait_for_output("*: stopped (--once)", 10s, &seen)) << seen;
  EXPECT_EQ(proc->wait(10s), 0) << seen;
  EXPECT_TRUE(has(seen, "[1] C: STLS")) << seen;
  EXPECT_TRUE(has(seen, "[1] *: login as carol inside TLS")) << seen;
  EXPECT_TRUE(has(seen, "[1] C: PASS ****")) << seen;
  EXPECT_FALSE(has(seen, "some-password")) << "the password was printed: " << seen;
}

}  // namespace
}  // namespace uptls::test::pop3
