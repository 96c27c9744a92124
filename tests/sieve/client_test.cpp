// The uptls ManageSieve client against scripted servers (what it accepts, what
// it refuses and why) and against the uptls server, in the program's mode.
#include <gtest/gtest.h>

#include "sieve_harness.hpp"

namespace uptls::test::sieve {
namespace {

using uptls::sieve::client_options;
using uptls::sieve::status;
using uptls::sieve::tls_mode;

const std::string plain_greeting =
    "\"IMPLEMENTATION\" \"scripted\"\r\n\"SASL\" \"\"\r\n\"PRETLS-ONLY\" \"yes\"\r\n\"STARTTLS\"\r\n"
    "\"VERSION\" \"1.0\"\r\nOK \"scripted ready\"\r\n";

// A scripted server: the plaintext greeting as given, the answer to STARTTLS as
// given, then (when it is OK alone) a real handshake and the post-TLS
// capabilities. Records every plaintext line it read.
struct script {
  std::string greeting = plain_greeting;
  std::string starttls_answer = "OK \"Begin TLS negotiation now\"\r\n";
  std::string caps_tls = "\"IMPLEMENTATION\" \"scripted\"\r\n\"SASL\" \"PLAIN\"\r\n\"SIEVE\" \"fileinto\"\r\n"
                         "\"VERSION\" \"1.0\"\r\nOK \"TLS negotiation successful\"\r\n";
  bool handshake = true;
  std::vector<std::string> plain_lines;
  std::vector<std::string> tls_lines;
  std::error_code handshake_error;

  void operator()(std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    std::string line;
    raw_write(s.lower(), greeting);
    if (read_line(s, line)) return;
    plain_lines.push_back(line);
    raw_write(s.lower(), starttls_answer);
    if (!handshake) {
      // Whatever else the client says comes in plaintext: record it until it leaves.
      for (int i = 0; i < 5 && !read_line(s, line); ++i) {
        plain_lines.push_back(line);
        if (line == "LOGOUT") raw_write(s.lower(), "OK \"bye\"\r\n");
      }
      return;
    }
    handshake_error = s.start_tls(server_ctx()).error();
    if (handshake_error) return;
    (void)s.write(caps_tls);
    for (int i = 0; i < 10 && !read_line(s, line); ++i) {
      tls_lines.push_back(line);
      if (line == "LOGOUT") {
        (void)s.write("OK \"bye\"\r\n");
        break;
      }
    }
    (void)s.close();
  }
};

TEST(SieveClient, ForgetsPreTlsCapabilitiesAndUsesThoseSentAfterTls) {
  script sc;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()));
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.connection().is_tls());
  // Only what the server said inside TLS: no PRETLS-ONLY, no STARTTLS, SASL now PLAIN.
  EXPECT_FALSE(c.supports("PRETLS-ONLY"));
  EXPECT_FALSE(c.supports("STARTTLS"));
  EXPECT_EQ(c.capability_value("SASL"), "PLAIN");
  EXPECT_EQ(c.capability_value("sieve"), "fileinto");
  EXPECT_EQ(c.capabilities().size(), 4u);
  EXPECT_EQ(c.logout(), std::error_code{});
  srv.join();
  EXPECT_EQ(sc.plain_lines, std::vector<std::string>{"STARTTLS"});
  EXPECT_EQ(sc.tls_lines, std::vector<std::string>{"LOGOUT"});
}

TEST(SieveClient, StarttlsMissingStopsARequiredClientBeforeItSaysAnything) {
  script sc;
  sc.greeting = "\"IMPLEMENTATION\" \"stripped\"\r\n\"SASL\" \"PLAIN\"\r\nOK \"ready\"\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::starttls_not_offered);
  srv.join();
  EXPECT_TRUE(sc.plain_lines.empty());  // not even STARTTLS, let alone credentials
  // The failure is sticky.
  EXPECT_EQ(c.authenticate("alice", "secret"), errc::starttls_not_offered);
}

TEST(SieveClient, StarttlsMissingOpportunisticGoesOnInPlaintextAndSaysSo) {
  script sc;
  sc.greeting = "\"IMPLEMENTATION\" \"stripped\"\r\n\"SASL\" \"PLAIN\"\r\nOK \"ready\"\r\n";
  sc.handshake = false;
  peer_thread srv([&](auto conn) {
    stream s(std::move(conn), quick());
    raw_write(s.lower(), sc.greeting);
    std::string line;
    if (!read_line(s, line)) sc.plain_lines.push_back(line);
    raw_write(s.lower(), "OK \"bye\"\r\n");
  });
  client_options o;
  o.mode = tls_mode::opportunistic;
  client c(client_to(srv.port()), o);
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.unit().tls_skipped());
  EXPECT_EQ(c.unit().tls_skip_reason(), errc::starttls_not_offered);
  EXPECT_FALSE(c.connection().is_tls());
  EXPECT_EQ(c.capability_value("IMPLEMENTATION"), "stripped");
  EXPECT_EQ(c.logout(), std::error_code{});
  srv.join();
  EXPECT_EQ(sc.plain_lines, std::vector<std::string>{"LOGOUT"});
}

TEST(SieveClient, NoToStarttlsIsRefused) {
  script sc;
  sc.starttls_answer = "NO \"not today\"\r\n";
  sc.handshake = false;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::starttls_refused);
  EXPECT_EQ(c.unit().last_response().kind, status::no);
  EXPECT_EQ(c.unit().last_response().text, "not today");
  srv.join();
  EXPECT_EQ(sc.plain_lines, std::vector<std::string>{"STARTTLS"});  // and nothing after it
}

TEST(SieveClient, NoToStarttlsOpportunisticDropsTheCapability) {
  script sc;
  sc.starttls_answer = "NO \"not today\"\r\n";
  sc.handshake = false;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client_options o;
  o.mode = tls_mode::opportunistic;
  client c(client_to(srv.port()), o);
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.unit().tls_skip_reason(), errc::starttls_refused);
  EXPECT_FALSE(c.supports("STARTTLS"));
  EXPECT_EQ(c.logout(), std::error_code{});
  srv.join();
  EXPECT_EQ(sc.plain_lines, (std::vector<std::string>{"STARTTLS", "LOGOUT"}));
}

TEST(SieveClient, ByeToStarttlsEndsTheSessionWithItsStatus) {
  script sc;
  sc.starttls_answer = "BYE \"shutting down\"\r\n";
  sc.handshake = false;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client_options o;
  o.mode = tls_mode::opportunistic;  // a BYE ends every mode
  client c(client_to(srv.port()), o);
  EXPECT_EQ(c.open(client_ctx(), localhost()), uptls::sieve::make_response_error(status::bye));
  srv.join();
}

TEST(SieveClient, BytesInjectedAfterTheOkAreRefused) {
  script sc;
  // The forged capability response rides in the same segment as the go-ahead.
  sc.starttls_answer = "OK \"Begin TLS negotiation now\"\r\n\"SASL\" \"PLAIN\"\r\nOK \"forged\"\r\n";
  sc.handshake = false;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::plaintext_injection);
  EXPECT_FALSE(c.connection().is_tls());
  srv.join();
  EXPECT_EQ(sc.plain_lines, std::vector<std::string>{"STARTTLS"});
}

TEST(SieveClient, OverLongLiteralIsRefusedBeforeItIsRead) {
  script sc;
  sc.greeting = "\"IMPLEMENTATION\" {2000000}\r\n";  // over the 1 MiB limit
  sc.handshake = false;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::protocol_error);
  srv.join();
  EXPECT_TRUE(sc.plain_lines.empty());
}

TEST(SieveClient, LiteralWithinTheLimitIsRead) {
  script sc;
  sc.greeting = "\"IMPLEMENTATION\" {11}\r\nlit\"er\\al\r\n\r\n\"STARTTLS\"\r\nOK {5+}\r\nready\r\n";
  sc.handshake = false;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  uptls::sieve::starttls_dialogue d{client_options{}};
  auto conn = client_to(srv.port());
  stream& s = conn.s;
  EXPECT_EQ(conn.d.run(s, [&] { return d.resume(s); }), std::error_code{});
  ASSERT_EQ(d.capabilities().size(), 2u);
  EXPECT_EQ(d.capabilities()[0].value, "lit\"er\\al\r\n");  // a literal keeps every octet
  EXPECT_EQ(d.last_response().text, "Begin TLS negotiation now");  // the OK to STARTTLS, not the greeting's
  EXPECT_EQ(conn.d.run(s, [&] { return s.close(); }), std::error_code{});
  srv.join();
}

TEST(SieveClient, UnterminatedQuotedStringIsAProtocolError) {
  script sc;
  sc.greeting = "\"IMPLEMENTATION\" \"Dovecot\r\n\"STARTTLS\"\r\nOK \"ready\"\r\n";
  sc.handshake = false;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::protocol_error);
  srv.join();
  EXPECT_TRUE(sc.plain_lines.empty());
}

TEST(SieveClient, BadEscapesAndTooManyCapabilitiesAreProtocolErrors) {
  for (const std::string& greeting : {std::string("\"IMPLEMENTATION\" \"a\\nb\"\r\nOK\r\n"),
                                      std::string("\"X\" \"") + std::string(1100, 'q') + "\"\r\nOK\r\n",
                                      std::string("OK (unclosed \"ready\"\r\n")}) {
    script sc;
    sc.greeting = greeting;
    sc.handshake = false;
    peer_thread srv([&](auto conn) { sc(std::move(conn)); });
    client c(client_to(srv.port()));
    EXPECT_EQ(c.open(client_ctx(), localhost()), errc::protocol_error) << greeting;
    srv.join();
  }
  std::string many;
  for (int i = 0; i < 70; ++i) many += "\"CAP" + std::to_string(i) + "\"\r\n";
  script sc;
  sc.greeting = many + "\"STARTTLS\"\r\nOK\r\n";
  sc.handshake = false;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::protocol_error);
  srv.join();
}

TEST(SieveClient, StarttlsStillOfferedInsideTlsIsRefused) {
  script sc;
  sc.caps_tls = "\"IMPLEMENTATION\" \"confused\"\r\n\"STARTTLS\"\r\nOK\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::protocol_error);
  srv.join();
}

TEST(SieveClient, AuthenticateNeedsTlsOrAChosenPlaintextAndPlain) {
  script sc;
  sc.caps_tls = "\"IMPLEMENTATION\" \"no plain\"\r\n\"SASL\" \"SCRAM-SHA-256\"\r\nOK\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()));
  EXPECT_EQ(c.authenticate("alice", "secret"), errc::usage);  // before open
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.authenticate("alice", "secret"), errc::unsupported);
  EXPECT_EQ(c.authenticate(std::string_view("al\0ice", 6), "secret"), errc::usage);
  EXPECT_EQ(c.listscripts(), errc::usage);  // not authenticated
  EXPECT_EQ(c.logout(), std::error_code{});
  srv.join();
  EXPECT_EQ(sc.tls_lines, std::vector<std::string>{"LOGOUT"});
}

// ---- against the uptls server ------------------------------------------------

TEST(SieveClientServer, StarttlsLoginListscriptsLogout) {
  server_run srv(with_tls());
  client c(client_to(srv.port()));
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.capability_value("SASL"), "PLAIN");
  EXPECT_EQ(c.capability_value("IMPLEMENTATION"), "uptls");
  EXPECT_FALSE(c.supports("STARTTLS"));
  EXPECT_EQ(c.authenticate("alice", "wrong"), uptls::sieve::make_response_error(status::no));
  ASSERT_EQ(c.authenticate("alice", "secret"), std::error_code{});
  ASSERT_EQ(c.listscripts(), std::error_code{});
  ASSERT_EQ(c.unit().scripts().size(), 1u);
  EXPECT_EQ(c.unit().scripts()[0].name, "vacation");
  EXPECT_FALSE(c.unit().scripts()[0].active);
  EXPECT_EQ(c.logout(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.received(), (std::vector<std::string>{"STARTTLS", "AUTHENTICATE (mechanism and credentials not shown)",
                                                      "AUTHENTICATE (mechanism and credentials not shown)",
                                                      "LISTSCRIPTS", "LOGOUT"}));
}

TEST(SieveClientServer, RequiredClientAgainstAServerWithoutTls) {
  uptls::sieve::server_options o;  // no certificate: no STARTTLS
  server_run srv(o);
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::starttls_not_offered);
  EXPECT_EQ(srv.finish(), errc::eof);  // the client left without a word
  EXPECT_TRUE(srv.received().empty());
}

TEST(SieveClientServer, HandshakeFailureEndsBothSides) {
  server_run srv(with_tls("expired"));
  client c(client_to(srv.port()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), errc::cert_expired);
  EXPECT_EQ(srv.finish(), errc::cert_rejected_by_peer);
}

}  // namespace
}  // namespace uptls::test::sieve
