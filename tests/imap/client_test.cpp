// The IMAP client against scripted (often hostile) servers and the uptls
// server: what it accepts, what it refuses and why, and what it sends
// (asserted on the lines the server received).
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "harness.hpp"

namespace uptls::test::imap {
namespace {

using uptls::imap::client_options;
using uptls::imap::tls_mode;

struct trace_log {
  std::vector<std::string> lines;
  uptls::imap::trace_fn fn() {
    return [this](std::string_view d, std::string_view l) { lines.push_back(std::string(d) + ": " + std::string(l)); };
  }
  bool any_starts(const std::string& prefix) const {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
  }
};

client_options with(tls_mode m, trace_fn t = {}) {
  client_options o;
  o.mode = m;
  o.trace = std::move(t);
  return o;
}

// "U1234 CAPABILITY" -> {"U1234", "CAPABILITY"}
std::pair<std::string, std::string> split_tag(const std::string& line) {
  const std::size_t sp = line.find(' ');
  if (sp == std::string::npos) return {line, {}};
  return {line.substr(0, sp), line.substr(sp + 1)};
}
std::string replace_tag(std::string text, const std::string& tag) {
  for (std::size_t at = text.find("{tag}"); at != std::string::npos; at = text.find("{tag}")) text.replace(at, 5, tag);
  return text;
}

// A scripted IMAP server: the greeting and plaintext responses as given; when
// its STARTTLS reply is a tagged OK (and nothing follows it), a real TLS
// handshake, then a small mailbox inside TLS. Records every line it read.
struct script {
  std::string greeting = "* OK scripted IMAP ready\r\n";
  std::string caps_plain = "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED PRETLS-ONLY\r\n";
  std::string caps_tls = "* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE\r\n";
  // "{tag}" becomes the command's tag.
  std::string starttls_reply = "{tag} OK Begin TLS negotiation now\r\n";
  std::string fetch_reply = "* 1 FETCH (FLAGS (\\Seen) BODY[] {12}\r\nHello\r\nWorld)\r\n";
  bool close_after_greeting = false;
  bool hang_up_after_starttls = false;  // close at once after a STARTTLS reply that is no go-ahead
  std::shared_ptr<const context> tls = server_ctx();
  std::vector<std::string> plain_lines;
  std::vector<std::string> tls_lines;
  std::error_code handshake;
  bool handshake_tried = false;

  void operator()(std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    std::string line;
    (void)s.write(greeting);
    if (close_after_greeting) {
      (void)s.read_line();  // whatever the client says, if anything (within the timeout)
      return;
    }
    bool upgrade = false;
    for (int i = 0; i < 10 && !upgrade; ++i) {
      if (read_line(s, line)) return;
      plain_lines.push_back(line);
      const auto [tag, cmd] = split_tag(line);
      if (cmd == "CAPABILITY") {
        (void)s.write(caps_plain + tag + " OK CAPABILITY completed\r\n");
      } else if (cmd == "STARTTLS") {
        const std::string reply = replace_tag(starttls_reply, tag);
        (void)s.write(reply);
        // Only a reply that is exactly our tagged OK goes on to TLS.
        const std::string go = tag + " OK Begin TLS negotiation now\r\n";
        upgrade = reply.size() >= go.size() && reply.compare(reply.size() - go.size(), go.size(), go) == 0;
        if (!upgrade) {
          if (!hang_up_after_starttls) drain_rest(s);
          return;
        }
      } else {
        (void)s.write(tag + " OK done\r\n");
      }
    }
    if (!upgrade) return;
    handshake_tried = true;
    handshake = s.start_tls(tls).error();
    if (handshake) return;
    for (int i = 0; i < 20 && !read_line(s, line); ++i) {
      tls_lines.push_back(line);
      const auto [tag, cmd] = split_tag(line);
      if (cmd == "CAPABILITY") {
        (void)s.write(caps_tls + tag + " OK CAPABILITY completed\r\n");
      } else if (cmd.rfind("SELECT", 0) == 0) {
        (void)s.write("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n" + tag + " OK [READ-WRITE] SELECT completed\r\n");
      } else if (cmd.rfind("FETCH", 0) == 0) {
        (void)s.write(fetch_reply + tag + " OK FETCH completed\r\n");
      } else if (cmd == "LOGOUT") {
        (void)s.write("* BYE bye\r\n" + tag + " OK LOGOUT completed\r\n");
        break;
      } else {
        (void)s.write(tag + " OK done\r\n");
      }
    }
    (void)s.close();
  }
  // Records what the client still sends until it closes.
  void drain_rest(stream& s) {
    std::string line;
    for (int i = 0; i < 10 && !read_line(s, line); ++i) plain_lines.push_back(line);
  }
};

const std::regex tag_shape("U[A-Z2-9]{10}");

TEST(ImapClient, StarttlsThenCapabilitiesAgainInsideTls) {
  script sc;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  trace_log log;
  client c(client_to(srv.port()), with(tls_mode::required, log.fn()));
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.connection().is_tls());
  EXPECT_FALSE(c.tls_skipped());
  // Nothing said before TLS survives: only the list read inside TLS counts.
  EXPECT_EQ(c.capabilities(), (std::vector<std::string>{"IMAP4rev1", "AUTH=PLAIN", "IDLE"}));
  EXPECT_FALSE(c.supports("PRETLS-ONLY"));
  EXPECT_FALSE(c.supports("STARTTLS"));
  EXPECT_FALSE(c.supports("LOGINDISABLED"));
  EXPECT_TRUE(c.supports("auth=plain"));
  ASSERT_EQ(c.login("alice", "pw"), std::error_code{});
  ASSERT_EQ(c.select("INBOX"), std::error_code{});
  EXPECT_EQ(c.unit().exists(), 3u);
  ASSERT_EQ(c.fetch(1), std::error_code{});
  EXPECT_EQ(c.unit().message(), "Hello\r\nWorld");
  EXPECT_EQ(c.logout(), std::error_code{});
  srv.join();
  ASSERT_EQ(sc.plain_lines.size(), 2u);
  ASSERT_EQ(sc.tls_lines.size(), 5u);
  EXPECT_EQ(split_tag(sc.plain_lines[0]).second, "CAPABILITY");
  EXPECT_EQ(split_tag(sc.plain_lines[1]).second, "STARTTLS");
  EXPECT_EQ(split_tag(sc.tls_lines[0]).second, "CAPABILITY");
  EXPECT_EQ(split_tag(sc.tls_lines[1]).second, "LOGIN \"alice\" \"pw\"");
  EXPECT_EQ(split_tag(sc.tls_lines[2]).second, "SELECT \"INBOX\"");
  EXPECT_EQ(split_tag(sc.tls_lines[3]).second, "FETCH 1 BODY.PEEK[]");
  EXPECT_EQ(split_tag(sc.tls_lines[4]).second, "LOGOUT");
  // Tags are unpredictable: random, never repeated, of one shape.
  std::vector<std::string> tags;
  for (const auto* lines : {&sc.plain_lines, &sc.tls_lines}) {
    for (const auto& l : *lines) tags.push_back(split_tag(l).first);
  }
  for (const auto& t : tags) EXPECT_TRUE(std::regex_match(t, tag_shape)) << t;
  std::sort(tags.begin(), tags.end());
  EXPECT_EQ(std::unique(tags.begin(), tags.end()), tags.end());
  // The password never reaches the trace.
  EXPECT_TRUE(log.any_starts("C: "));
  for (const auto& l : log.lines) EXPECT_EQ(l.find("\"pw\""), std::string::npos) << l;
  EXPECT_TRUE(log.any_starts("*: TLS established"));
}

TEST(ImapClient, GreetingCapabilityCodeIsUsedBeforeTlsAndForgottenAfter) {
  script sc;
  sc.greeting = "* OK [CAPABILITY IMAP4rev1 STARTTLS GREETING-ONLY AUTH=PLAIN] ready\r\n";
  sc.caps_tls = "* CAPABILITY IMAP4rev1 IDLE\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), with(tls_mode::required));
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  // The greeting's list spared the plaintext CAPABILITY...
  ASSERT_EQ(sc.plain_lines.size(), 1u);
  EXPECT_EQ(split_tag(sc.plain_lines[0]).second, "STARTTLS");
  // ...but inside TLS the client asked again, and kept only that answer.
  ASSERT_FALSE(sc.tls_lines.empty());
  EXPECT_EQ(split_tag(sc.tls_lines[0]).second, "CAPABILITY");
  EXPECT_EQ(c.capabilities(), (std::vector<std::string>{"IMAP4rev1", "IDLE"}));
  EXPECT_FALSE(c.supports("GREETING-ONLY"));
  EXPECT_FALSE(c.supports("AUTH=PLAIN"));
  EXPECT_EQ(c.logout(), std::error_code{});
}

TEST(ImapClient, UntaggedResponsesBeforeTheStarttlsReplyAreDropped) {
  script sc;
  sc.starttls_reply = "* CAPABILITY IMAP4rev1 INJECTED-CAP\r\n* OK [CAPABILITY IMAP4rev1 CODE-CAP] hi\r\n"
                      "{tag} OK Begin TLS negotiation now\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), with(tls_mode::required));
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_FALSE(c.supports("INJECTED-CAP"));
  EXPECT_FALSE(c.supports("CODE-CAP"));
  EXPECT_EQ(c.capabilities(), (std::vector<std::string>{"IMAP4rev1", "AUTH=PLAIN", "IDLE"}));
  EXPECT_EQ(c.logout(), std::error_code{});
  srv.join();
}

TEST(ImapClient, PreludeLeavesTheStreamAtTheTaggedOk) {
  script sc;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  stream s = connect_to(srv.port());
  std::vector<std::string> caps;
  ASSERT_EQ(run_prelude(s, client_options{}, &caps), std::error_code{});
  EXPECT_EQ(caps, (std::vector<std::string>{"IMAP4rev1", "STARTTLS", "LOGINDISABLED", "PRETLS-ONLY"}));
  EXPECT_EQ(s.buffered(), 0u);
  ASSERT_EQ(s.start_tls(client_ctx(), localhost()), std::error_code{});
  (void)s.close();
  srv.join();
}

// ---- attacks and refusals --------------------------------------------------------

TEST(ImapClient, PreauthGreetingStopsARequiredClientBeforeItSaysAnything) {
  script sc;
  sc.greeting = "* PREAUTH [CAPABILITY IMAP4rev1] logged in as alice\r\n";
  sc.close_after_greeting = true;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port(), quick(1s)), with(tls_mode::required));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::preauthenticated));
  EXPECT_FALSE(c.connection().is_tls());
  EXPECT_EQ(c.login("alice", "pw"), make_error_code(errc::preauthenticated));
  srv.join();
  EXPECT_TRUE(sc.plain_lines.empty());
}

TEST(ImapClient, PreauthGreetingLetsAnOpportunisticClientGoOnInPlaintextAndSaySo) {
  script sc;
  sc.greeting = "* PREAUTH [CAPABILITY IMAP4rev1] logged in as alice\r\n";
  sc.close_after_greeting = true;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  trace_log log;
  {  // the client (and, buffer-driven, its connection) ends here
    client c(client_to(srv.port(), quick(1s)), with(tls_mode::opportunistic, log.fn()));
    ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
    EXPECT_TRUE(c.tls_skipped());
    EXPECT_EQ(c.tls_skip_reason(), make_error_code(errc::preauthenticated));
    EXPECT_TRUE(c.unit().authenticated());
    EXPECT_TRUE(log.any_starts("*: PREAUTH greeting"));
    // Already logged in: no LOGIN to send.
    EXPECT_EQ(c.login("alice", "pw"), make_error_code(errc::usage));
    (void)c.connection().close();
  }
  srv.join();
}

TEST(ImapClient, ByeGreetingIsAProtocolError) {
  script sc;
  sc.greeting = "* BYE go away\r\n";
  sc.close_after_greeting = true;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port(), quick(1s)), with(tls_mode::opportunistic));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::protocol_error));
  srv.join();
  EXPECT_TRUE(sc.plain_lines.empty());
}

TEST(ImapClient, MissingStarttlsStopsARequiredClient) {
  script sc;
  sc.caps_plain = "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), with(tls_mode::required));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::starttls_not_offered));
  EXPECT_EQ(c.login("alice", "pw"), make_error_code(errc::starttls_not_offered));
  srv.join();
  ASSERT_EQ(sc.plain_lines.size(), 1u);
  EXPECT_EQ(split_tag(sc.plain_lines[0]).second, "CAPABILITY");
}

TEST(ImapClient, OpportunisticClientWithoutTlsKeepsCredentialsToItself) {
  script sc;
  sc.caps_plain = "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  trace_log log;
  client c(client_to(srv.port()), with(tls_mode::opportunistic, log.fn()));
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.tls_skipped());
  EXPECT_EQ(c.tls_skip_reason(), make_error_code(errc::starttls_not_offered));
  EXPECT_TRUE(log.any_starts("*: STARTTLS not offered"));
  // LOGIN over plaintext is refused unless the caller opted in.
  EXPECT_EQ(c.login("alice", "pw"), make_error_code(errc::usage));
  EXPECT_EQ(c.noop(), std::error_code{});
  EXPECT_EQ(c.logout(), std::error_code{});
  srv.join();
  for (const auto& l : sc.plain_lines) EXPECT_EQ(l.find("LOGIN"), std::string::npos) << l;
  ASSERT_EQ(sc.plain_lines.size(), 3u);
  EXPECT_EQ(split_tag(sc.plain_lines[1]).second, "NOOP");
}

TEST(ImapClient, LogindisabledKeepsEvenAnOptedInClientFromLoggingIn) {
  script sc;
  sc.caps_plain = "* CAPABILITY IMAP4rev1 LOGINDISABLED\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client_options o = with(tls_mode::opportunistic);
  o.allow_plaintext_login = true;
  client c(client_to(srv.port()), o);
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.login("alice", "pw"), make_error_code(errc::usage));
  EXPECT_EQ(c.logout(), std::error_code{});
  srv.join();
  for (const auto& l : sc.plain_lines) EXPECT_EQ(l.find("LOGIN"), std::string::npos) << l;
}

TEST(ImapClient, TaggedNoOrBadToStarttlsIsARefusal) {
  for (const std::string reply : {"{tag} NO [UNAVAILABLE] TLS not now\r\n", "{tag} BAD STARTTLS unknown\r\n"}) {
    script sc;
    sc.starttls_reply = reply;
    peer_thread srv([&](auto conn) { sc(std::move(conn)); });
    client c(client_to(srv.port()), with(tls_mode::required));
    EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::starttls_refused)) << reply;
    EXPECT_FALSE(sc.handshake_tried);
    srv.join();
    ASSERT_EQ(sc.plain_lines.size(), 2u) << reply;  // CAPABILITY, STARTTLS, and nothing after
  }
}

TEST(ImapClient, RefusedStarttlsLetsAnOpportunisticClientGoOn) {
  script sc;
  sc.starttls_reply = "{tag} NO TLS not now\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  {  // the client (and, buffer-driven, its connection) ends here
    client c(client_to(srv.port()), with(tls_mode::opportunistic));
    ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
    EXPECT_TRUE(c.tls_skipped());
    EXPECT_EQ(c.tls_skip_reason(), make_error_code(errc::starttls_refused));
    EXPECT_FALSE(c.supports("STARTTLS"));  // refused: not to be used again
    (void)c.connection().close();
  }
  srv.join();
}

TEST(ImapClient, ByeInsteadOfTheStarttlsReplyIsARefusal) {
  script sc;
  sc.starttls_reply = "* BYE shutting down\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), with(tls_mode::required));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::starttls_refused));
  srv.join();
}

TEST(ImapClient, BytesInjectedAfterTheTaggedOkInTheSameReadAreRefused) {
  script sc;
  // The injected CAPABILITY would be read as if it came inside TLS (CVE-2021-22947 style).
  sc.starttls_reply = "{tag} OK Begin TLS negotiation now\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN INJECTED\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  trace_log log;
  client c(client_to(srv.port()), with(tls_mode::required, log.fn()));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::plaintext_injection));
  EXPECT_FALSE(c.connection().is_tls());
  EXPECT_TRUE(c.capabilities().empty() || !c.supports("INJECTED"));
  EXPECT_TRUE(log.any_starts("*: TLS handshake failed"));
  srv.join();
  EXPECT_EQ(sc.plain_lines.size(), 2u);  // nothing more went out
}

TEST(ImapClient, PreludeLeavesInjectedBytesBufferedForStartTlsToRefuse) {
  script sc;
  sc.starttls_reply = "{tag} OK Begin TLS negotiation now\r\nX";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  stream s = connect_to(srv.port());
  ASSERT_EQ(run_prelude(s, client_options{}), std::error_code{});
  EXPECT_EQ(s.buffered(), 1u);
  EXPECT_EQ(s.start_tls(client_ctx(), localhost()), make_error_code(errc::plaintext_injection));
  srv.join();
}

TEST(ImapClient, AReplyWithAnotherTagIsNotOurs) {
  script sc;
  sc.starttls_reply = "A0001 OK Begin TLS negotiation now\r\n";  // a guessed, predictable tag
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), with(tls_mode::required));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::protocol_error));
  EXPECT_FALSE(sc.handshake_tried);
  srv.join();
}

TEST(ImapClient, AnUntaggedOnlyReplyIsNoGoAhead) {
  script sc;
  sc.starttls_reply = "* OK Begin TLS negotiation now\r\n";
  sc.hang_up_after_starttls = true;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), with(tls_mode::required));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::eof));
  EXPECT_FALSE(c.connection().is_tls());
  srv.join();
}

TEST(ImapClient, EndlessUntaggedResponsesAreBounded) {
  script sc;
  std::string flood;
  for (int i = 0; i < 300; ++i) flood += "* OK still thinking " + std::to_string(i) + "\r\n";
  sc.starttls_reply = flood + "{tag} OK Begin TLS negotiation now\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), with(tls_mode::required));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::protocol_error));
  srv.join();
}

TEST(ImapClient, OverlongLiteralsAreRefused) {
  for (const std::string caps :
       {"* CAPABILITY IMAP4rev1 STARTTLS {2000}\r\n",                  // over the plaintext bound
        "* CAPABILITY IMAP4rev1 STARTTLS {99999999999999999999}\r\n",  // no honest length
        "* CAPABILITY IMAP4rev1 STARTTLS {4294967296}\r\n"}) {         // past 2^32-1
    script sc;
    sc.caps_plain = caps;
    peer_thread srv([&](auto conn) { sc(std::move(conn)); });
    client c(client_to(srv.port()), with(tls_mode::opportunistic));
    EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::protocol_error)) << caps;
    srv.join();
  }
}

TEST(ImapClient, ALiteralWithinTheBoundIsReadWholeAndNotAsLines) {
  script sc;
  // A literal inside the list that itself holds a line that looks like a tagged OK.
  sc.caps_plain = "* CAPABILITY IMAP4rev1 STARTTLS X-NAME {21}\r\nU0000000000 OK fake\r\n\r\n";
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port()), with(tls_mode::required));
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_TRUE(c.connection().is_tls());
  EXPECT_EQ(c.logout(), std::error_code{});
  srv.join();
}

TEST(ImapClient, AnUnterminatedLiteralEndsTheDialogue) {
  std::string received;
  peer_thread srv([&](auto conn) {
    raw_write(*conn, "* OK ready\r\n");
    std::byte buf[256];
    const result<std::size_t> n = read_some_within(*conn, buf);
    if (n.ok()) received.assign(reinterpret_cast<const char*>(buf), *n);
    raw_write(*conn, "* CAPABILITY {50}\r\nIMAP4rev1 STARTTLS");  // 18 of 50 octets, then close
  });
  client c(client_to(srv.port()), with(tls_mode::required));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::incomplete_line));
  srv.join();
  EXPECT_NE(received.find(" CAPABILITY\r\n"), std::string::npos) << received;
}

TEST(ImapClient, AnOverlongLineIsAProtocolError) {
  script sc;
  sc.greeting = "* OK " + std::string(9000, 'x') + "\r\n";
  sc.close_after_greeting = true;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  client c(client_to(srv.port(), quick(2s)), with(tls_mode::required));
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::protocol_error));
  srv.join();
  EXPECT_TRUE(sc.plain_lines.empty());
}

TEST(ImapClient, FetchedLiteralsHaveTheirOwnBound) {
  script sc;
  client_options o = with(tls_mode::required);
  o.max_literal = 8;
  peer_thread srv([&](auto conn) { sc(std::move(conn)); });
  {  // the client (and, buffer-driven, its connection) ends here
    client c(client_to(srv.port()), o);
    ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
    ASSERT_EQ(c.login("alice", "pw"), std::error_code{});
    ASSERT_EQ(c.select("INBOX"), std::error_code{});
    EXPECT_EQ(c.fetch(1), make_error_code(errc::protocol_error));  // the body is 12 octets
    (void)c.connection().close();
  }
  srv.join();
}

TEST(ImapClient, CredentialsThatCannotBeQuotedGoAsLiterals) {
  std::vector<std::string> got;
  peer_thread srv([&](auto conn) {
    stream s(std::move(conn), quick());
    std::string line;
    (void)s.write("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
    if (read_line(s, line)) return;
    (void)s.write(split_tag(line).first + " OK Begin TLS negotiation now\r\n");
    if (!s.start_tls(server_ctx()).ok()) return;
    for (int i = 0; i < 6 && !read_line(s, line); ++i) {
      got.push_back(line);
      const auto [tag, cmd] = split_tag(line);
      if (cmd == "CAPABILITY") (void)s.write("* CAPABILITY IMAP4rev1\r\n" + tag + " OK done\r\n");
      if (cmd.rfind("LOGIN", 0) == 0) {
        (void)s.write("+ go on\r\n");
        std::byte buf[64];
        std::string literal;
        while (literal.size() < 8) {
          auto n = s.read_some(std::span(buf, 8 - literal.size()));
          if (!n || *n == 0) return;
          literal.append(reinterpret_cast<const char*>(buf), *n);
        }
        got.push_back("[" + literal + "]");
        if (read_line(s, line)) return;
        got.push_back(line);
        (void)s.write(tag + " OK [CAPABILITY IMAP4rev1 IDLE] logged in\r\n");
      }
    }
  });
  {  // the client (and, buffer-driven, its connection) ends here
    client c(client_to(srv.port()), with(tls_mode::required));
    ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
    ASSERT_EQ(c.login("al\"ice", "p\xc3\xa4ss\r\nx"), std::error_code{});
    EXPECT_TRUE(c.supports("IDLE"));  // the list in the tagged OK of LOGIN
    (void)c.connection().close();
  }
  srv.join();
  ASSERT_GE(got.size(), 4u);
  EXPECT_EQ(split_tag(got[1]).second, "LOGIN \"al\\\"ice\" {8}");
  EXPECT_EQ(got[2], "[p\xc3\xa4ss\r\nx]");
  EXPECT_EQ(got[3], "");
}

// ---- against the uptls server --------------------------------------------------

TEST(ImapClient, AgainstTheUptlsServerLoginSelectFetchInsideTls) {
  server_run srv(with_tls(true));
  client c(client_to(srv.port()), with(tls_mode::required));
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_FALSE(c.supports("STARTTLS"));
  EXPECT_FALSE(c.supports("LOGINDISABLED"));
  EXPECT_TRUE(c.supports("IMAP4rev1"));
  EXPECT_EQ(c.login(mail_store::user, "wrong"), make_error_code(errc::protocol_error));
  EXPECT_NE(c.last_response().text.find("[AUTHENTICATIONFAILED]"), std::string::npos) << c.last_response().text;
  ASSERT_EQ(c.login(mail_store::user, mail_store::password), std::error_code{});
  EXPECT_EQ(c.fetch(1), make_error_code(errc::usage));  // nothing selected yet
  EXPECT_EQ(c.select("Nowhere"), make_error_code(errc::protocol_error));
  ASSERT_EQ(c.select("INBOX"), std::error_code{});
  EXPECT_EQ(c.unit().exists(), 2u);
  ASSERT_EQ(c.fetch(2), std::error_code{});
  EXPECT_EQ(c.unit().message(), inbox_messages()[1]);
  ASSERT_EQ(c.fetch(1), std::error_code{});
  EXPECT_EQ(c.unit().message(), inbox_messages()[0]);
  EXPECT_EQ(c.fetch(3), make_error_code(errc::protocol_error));
  EXPECT_EQ(c.noop(), std::error_code{});
  EXPECT_EQ(c.logout(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
  const auto logins = srv.store().logins();
  ASSERT_EQ(logins.size(), 2u);
  EXPECT_TRUE(logins[1].over_tls);
}

TEST(ImapClient, ImplicitTlsAgainstTheUptlsServerSession) {
  // The server's stream is TLS before its session starts (port 993 style).
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  std::unique_ptr<tcp_listener> listener = std::make_unique<tcp_listener>(std::move(l).value());
  mail_store store;
  result<> served;
  struct joining {
    std::thread t;
    ~joining() {
      if (t.joinable()) t.join();
    }
  } server;
  server.t = std::thread([&] {
    auto conn = listener->accept(10s);
    if (!conn) return;
    stream s(std::move(conn).value(), quick());
    if (!s.start_tls(server_ctx()).ok()) return;
    uptls::imap::server_options o;
    served = uptls::imap::serve(std::move(s), o, store.handler());
  });
  under_test conn = client_to(listener->port());
  const result<> up = conn.d.run(conn.s, [&] { return conn.s.start_tls(client_ctx(), localhost()); });
  ASSERT_EQ(up, std::error_code{});
  client c(std::move(conn), with(tls_mode::required));
  ASSERT_EQ(c.open_implicit(), std::error_code{});
  EXPECT_FALSE(c.supports("STARTTLS"));
  ASSERT_EQ(c.login(mail_store::user, mail_store::password), std::error_code{});
  ASSERT_EQ(c.select("INBOX"), std::error_code{});
  ASSERT_EQ(c.fetch(1), std::error_code{});
  EXPECT_EQ(c.unit().message(), inbox_messages()[0]);
  EXPECT_EQ(c.logout(), std::error_code{});
  server.t.join();
  EXPECT_EQ(served, std::error_code{});
}

TEST(ImapClient, FallbackLadderRunsThePreludeAndTheClientGoesOnUpgraded) {
  server_run srv(with_tls(true));
  fallback_request req;
  req.host = "127.0.0.1";
  req.port = srv.port();
  req.stream_opts = quick();
  req.stream_opts.mode = mode() == drive_mode::blocking ? io_mode::blocking : io_mode::non_blocking;
  req.peer = localhost();
  req.base = client_config();
  req.ladder = {{&backend_under_test(), profile::strict}};
  req.before_tls = uptls::imap::starttls_prelude(client_options{});
  fallback_result res = connect_with_fallback(req);
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  client c(std::move(*res.connection), with(tls_mode::required));
  ASSERT_EQ(c.open_upgraded(), std::error_code{});
  EXPECT_FALSE(c.supports("STARTTLS"));
  ASSERT_EQ(c.login(mail_store::user, mail_store::password), std::error_code{});
  EXPECT_EQ(c.logout(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(ImapClient, CallsInTheWrongStateAreUsageErrors) {
  server_run srv(with_tls());
  client c(client_to(srv.port()), with(tls_mode::required));
  EXPECT_EQ(c.login("a", "b"), make_error_code(errc::usage));   // before open
  EXPECT_EQ(c.open_implicit(), make_error_code(errc::usage));   // plaintext stream
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  EXPECT_EQ(c.open(client_ctx(), localhost()), make_error_code(errc::usage));
  EXPECT_EQ(c.select("INBOX"), make_error_code(errc::usage));  // not logged in
  EXPECT_EQ(c.unit().resume(), make_error_code(errc::usage));  // nothing under way
  EXPECT_EQ(c.logout(), std::error_code{});
  EXPECT_EQ(srv.finish(), std::error_code{});
}

}  // namespace
}  // namespace uptls::test::imap
