// The example POP3 server (examples/pop3) as a mail client meets it: Python's
// poplib refused a plaintext login, upgrades with STLS, logs in, lists and
// fetches a message of the folder the test made, and quits.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "pop3_harness.hpp"

#ifndef UPTLS_EXAMPLE_POP3
#error "UPTLS_EXAMPLE_POP3 must name the example server"
#endif

namespace uptls::test::pop3 {
namespace {

TEST(Pop3Example, PoplibLogsInListsAndFetchesOverStls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("uptls-pop3-example-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "1.eml", std::ios::binary) << "Subject: one\r\n\r\nfirst message\r\n";
  std::ofstream(dir / "2.eml", std::ios::binary) << "Subject: two\n\n.dotted line\nsecond message\n";
  std::ofstream(dir / "notes.txt", std::ios::binary) << "not a message\n";
  auto server = child::spawn({UPTLS_EXAMPLE_POP3, "--cert", cert("server-rsa.pem"), "--key", cert("server-rsa.key"),
                              "--mail", dir.string(), "--user", "bob", "--password", "bob-pw", "--once"});
  std::string seen;
  const std::string marker = "listening on 127.0.0.1 port ";
  ASSERT_TRUE(server->wait_for_output(marker, 10s, &seen)) << seen;
  EXPECT_NE(seen.find("(2 messages for bob, "), std::string::npos) << seen;
  const std::string port = std::to_string(std::stoi(seen.substr(seen.rfind(marker) + marker.size())));
  const std::string script = R"(
import poplib, ssl, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=10)
try:
    p.user("bob")
except poplib.error_proto as e:
    print("PLAINTEXT", e.args[0].decode())
p.stls(context=ssl.create_default_context(cafile=sys.argv[2]))
p.user("bob")
p.pass_("bob-pw")
print("LIST", *[l.decode() for l in p.list()[1]])
for l in p.retr(2)[1]:
    print("LINE", l.decode())
print("QUIT", p.quit().decode())
)";
  auto py = child::spawn({"/usr/bin/python3", "-c", script, port, cert("ca.pem")});
  const std::string out = py->read_all(15s);
  EXPECT_EQ(py->wait(5s), 0) << out;
  EXPECT_NE(out.find("PLAINTEXT -ERR [AUTH] TLS is required before logging in: issue STLS first"), std::string::npos) << out;
  EXPECT_NE(out.find("LIST 1 31 2 46"), std::string::npos) << out;
  EXPECT_NE(out.find("LINE Subject: two\nLINE \nLINE .dotted line\nLINE second message\n"), std::string::npos) << out;
  EXPECT_NE(out.find("QUIT +OK"), std::string::npos) << out;
  EXPECT_TRUE(server->wait_for_output("session ended: ok", 10s, &seen)) << seen;
  EXPECT_EQ(server->wait(10s), 0) << seen;
  EXPECT_NE(seen.find("login as bob inside TLS"), std::string::npos) << seen;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace uptls::test::pop3
