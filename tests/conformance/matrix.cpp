// The compatibility matrix: every backend's client against every backend's
// server in this build, for every pair of profiles, over loopback sockets with
// uptls::stream (implicit TLS). Each pair is one test case with a readable name.
#include <chrono>

#include "harness.hpp"

namespace uptls::test {
namespace {

using namespace std::chrono_literals;

struct matrix_case {
  const backend* client = nullptr;
  const backend* server = nullptr;
  profile client_profile = profile::strict;
  profile server_profile = profile::strict;
  bool cap12 = false;           // the client stops at TLS 1.2
  const char* leaf = "server-rsa";
  bool client_cert = false;     // the server requires one and the client has it
};

std::vector<matrix_case> all_cases() {
  std::vector<matrix_case> out;
  for (const backend* c : backends()) {
    for (const backend* s : backends()) {
      for (const bool cap12 : {false, true}) {
        for (const profile cp : {profile::strict, profile::legacy}) {
          for (const profile sp : {profile::strict, profile::legacy}) {
            out.push_back({c, s, cp, sp, cap12, "server-rsa", false});
          }
        }
        out.push_back({c, s, profile::strict, profile::strict, cap12, "server-ecdsa", false});
      }
      out.push_back({c, s, profile::strict, profile::strict, false, "server-rsa", true});
    }
  }
  return out;
}

std::string case_name(const ::testing::TestParamInfo<matrix_case>& info) {
  const matrix_case& m = info.param;
  std::string name = std::string(m.client->name()) + "_to_" + std::string(m.server->name()) + "_" +
                     std::string(to_string(m.client_profile)) + "_to_" + std::string(to_string(m.server_profile)) +
                     (m.cap12 ? "_tls12" : "_best") + (std::string(m.leaf) == "server-ecdsa" ? "_ecdsa" : "_rsa");
  if (m.client_cert) name += "_client_cert";
  return name;
}

class Matrix : public ::testing::TestWithParam<matrix_case> {};

TEST_P(Matrix, HandshakeAndLinesBothWays) {
  const matrix_case m = GetParam();
  const capabilities& cc = m.client->caps();
  const capabilities& sc = m.server->caps();
  if (m.client_profile == profile::legacy && !cc.rsa_key_exchange) GTEST_SKIP() << "client has no legacy profile";
  if (m.server_profile == profile::legacy && !sc.rsa_key_exchange) GTEST_SKIP() << "server has no legacy profile";
  if (m.client_cert && !(cc.client_certificates && sc.client_certificates)) {
    GTEST_SKIP() << "no client certificates on one side";
  }

  tls_config ccfg = client_config(m.client_profile);
  if (m.cap12) ccfg.max_version = tls_version::tls1_2;
  tls_config scfg = server_config(m.leaf, m.server_profile);
  if (m.client_cert) {
    ccfg.cert_file = cert("client.pem");
    ccfg.key_file = cert("client.key");
    scfg.client_certificates = client_auth::required;
    scfg.ca_file = cert("ca.pem");
  }
  auto cctx = make_ctx(*m.client, ccfg, role::client);
  auto sctx = make_ctx(*m.server, scfg, role::server);
  ASSERT_TRUE(cctx && sctx);

  auto listener = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  stream_options opts;
  opts.io_timeout = 5s;
  std::optional<session_info> server_session;
  auto server = in_thread([&]() -> std::string {
    auto conn = listener->accept(5s);
    if (!conn) return "accept: " + name_of(conn.error());
    stream s(std::move(*conn), opts);
    if (const result<> r = s.start_tls(sctx); !r) return "server start_tls: " + to_string(r) + " " + s.last_failure().text;
    server_session = *s.session();
    const result<std::string_view> ping = s.read_line();
    if (!ping) return "server read: " + to_string(ping);
    if (*ping != "ping") return "server got " + std::string(*ping);
    if (const result<> r = s.write("pong\r\n"); !r) return "server write: " + to_string(r);
    if (const result<std::string_view> r = s.read_line(); r != errc::eof) return "server expected eof, got " + to_string(r);
    return {};
  });

  auto conn = tcp_connect("127.0.0.1", listener->port(), {.connect_timeout = 5s});
  ASSERT_TRUE(conn.ok());
  stream client(std::move(*conn), opts);
  const result<> up = client.start_tls(cctx, {"localhost"});
  EXPECT_TRUE(up.ok()) << "client start_tls: " << to_string(up) << " " << client.last_failure().text;
  if (up.ok()) {
    EXPECT_TRUE(client.write("ping\r\n").ok());
    const result<std::string_view> pong = client.read_line();
    EXPECT_TRUE(pong.ok()) << to_string(pong);
    EXPECT_EQ(pong.ok() ? std::string(*pong) : to_string(pong), "pong");
  }
  EXPECT_TRUE(client.close().ok());
  // The facts are still there after the close (built on first use, here).
  const session_info* client_session = client.session();
  const std::string server_error = server.get();
  ASSERT_TRUE(server_error.empty()) << server_error;
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE(server_session.has_value());
  ASSERT_NE(client_session, nullptr);

  const session_info& cs = *client_session;
  const session_info& ss = *server_session;
  EXPECT_EQ(cs.backend, m.client->name());
  EXPECT_EQ(ss.backend, m.server->name());
  EXPECT_EQ(cs.version, ss.version);
  EXPECT_EQ(cs.suite.name, ss.suite.name);
  EXPECT_EQ(cs.kx, ss.kx);
  EXPECT_TRUE(cs.forward_secret) << "forward secret first, whatever the profiles";
  EXPECT_TRUE(ss.forward_secret);
  EXPECT_EQ(cs.group, named_group::x25519);
  EXPECT_EQ(ss.group, named_group::x25519);
  EXPECT_TRUE(cs.verified);
  EXPECT_EQ(ss.sni, "localhost");
  if (m.client_cert) {
    EXPECT_TRUE(ss.verified);
    ASSERT_NE(ss.peer_certificate(), nullptr);
    EXPECT_NE(ss.peer_certificate()->subject.find("CN=uptls test client"), std::string::npos)
        << ss.peer_certificate()->subject;
  }
  if (cc.tls13 && sc.tls13 && !m.cap12) {
    EXPECT_EQ(cs.version, tls_version::tls1_3);
    EXPECT_EQ(cs.kx, key_exchange::ecdhe);
    EXPECT_TRUE(cs.suite.name == "TLS_AES_128_GCM_SHA256" || cs.suite.name == "TLS_AES_256_GCM_SHA384" ||
                cs.suite.name == "TLS_CHACHA20_POLY1305_SHA256")
        << cs.suite.name;
  } else {
    EXPECT_EQ(cs.version, tls_version::tls1_2);
    EXPECT_EQ(cs.kx, key_exchange::ecdhe);
    const std::string auth = std::string(m.leaf) == "server-ecdsa" ? "TLS_ECDHE_ECDSA_WITH_" : "TLS_ECDHE_RSA_WITH_";
    EXPECT_EQ(cs.suite.name.rfind(auth, 0), 0u) << cs.suite.name;
    EXPECT_TRUE(cs.suite.name.find("_GCM_") != std::string::npos ||
                cs.suite.name.find("CHACHA20_POLY1305") != std::string::npos)
        << cs.suite.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Matrix, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace uptls::test
