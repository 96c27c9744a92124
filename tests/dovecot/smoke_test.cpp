// The Dovecot harness (tests/support/dovecot.hpp) against real clients nobody
// here wrote: openssl s_client -starttls imap/pop3/lmtp/sieve, curl and Python's
// imaplib. Proves that the harness's Dovecot offers STARTTLS on every protocol
// with the test PKI, that its user can log in inside TLS and read the seeded
// message, that LMTP delivers into the Maildir the harness reads, and that
// ssl = required refuses a plaintext login with Dovecot's own words. No uptls
// backend is involved: this is the ground the protocol tests will stand on.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dovecot.hpp"
#include "support.hpp"

namespace uptls::test {
namespace {

constexpr auto step = 10s;  // the longest wait for one reply
const std::string python = "/usr/bin/python3";
const std::string body_marker = "The seeded body: 7f3c-uptls-dovecot-smoke.";
const std::string seeded =
    "From: Seeder <seeder@example.org>\r\n"
    "To: alice@localhost\r\n"
    "Subject: uptls seeded message\r\n"
    "Message-ID: <seeded-1@uptls.test>\r\n"
    "\r\n" +
    body_marker + "\r\n";

// One Dovecot per configuration for the whole program, started at first use
// (after the test has checked its peers), stopped by TearDownTestSuite.
struct shared_server {
  std::unique_ptr<dovecot> server;
  std::string error;
};

dovecot* start_shared(shared_server& s, const dovecot::options& o) {
  if (!s.server && s.error.empty()) {
    try {
      auto d = std::make_unique<dovecot>(o);
      d->add_to_inbox(seeded);
      d->start();
      s.server = std::move(d);
    } catch (const std::exception& e) {
      s.error = e.what();
    }
  }
  return s.server.get();
}

// Lines from a child until one satisfies `done`; everything read goes to `seen`.
bool read_until(child& c, const std::function<bool(const std::string&)>& done, std::string& seen) {
  std::string line;
  const auto end = std::chrono::steady_clock::now() + step;
  while (std::chrono::steady_clock::now() < end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (c.read_line(line, left)) return false;
    seen.append(line).append("\n");
    if (done(line)) return true;
  }
  return false;
}

std::function<bool(const std::string&)> starts(const std::string& prefix) {
  return [prefix](const std::string& l) { return l.compare(0, prefix.size(), prefix) == 0; };
}

struct step_t {
  std::string send;
  std::function<bool(const std::string&)> done;  // the line that ends the reply
  std::string what;                              // for the failure message
};

// openssl s_client -starttls PROTO against the harness, verifying the server
// certificate against the test CA for the name localhost; -quiet: only what
// the server sends inside TLS is printed, and stdin's end does not end it.
std::vector<std::string> s_client_args(const dovecot& d, const std::string& proto, std::uint16_t port) {
  return {"openssl", "s_client", "-starttls", proto, "-connect", d.address() + ":" + std::to_string(port),
          "-servername", "localhost", "-CAfile", cert("ca.pem"), "-verify_hostname", "localhost",
          "-verify_return_error"};
}

std::unique_ptr<child> s_client(const dovecot& d, const std::string& proto, std::uint16_t port) {
  auto args = s_client_args(d, proto, port);
  args.insert(args.begin() + 2, "-quiet");
  return child::spawn(args);
}

void drive(child& c, const std::vector<step_t>& steps, std::string& seen) {
  for (const auto& s : steps) {
    c.write_stdin(s.send);
    ASSERT_TRUE(read_until(c, s.done, seen)) << "no " << s.what << " after " << s.send << "\n--- s_client said:\n"
                                             << seen;
  }
}

// The bytes s_client -debug reports it read from the socket ("read from ..."
// blocks of "0000 - 2a 20 4f 4b-..." lines): the plaintext before TLS, which
// s_client itself consumes and never prints.
std::string wire_reads(const std::string& debug_output) {
  std::string bytes;
  bool reading = false;
  std::size_t start = 0;
  while (start < debug_output.size()) {
    std::size_t end = debug_output.find('\n', start);
    if (end == std::string::npos) end = debug_output.size();
    const std::string line = debug_output.substr(start, end - start);
    start = end + 1;
    if (line.rfind("read from ", 0) == 0) {
      reading = true;
      continue;
    }
    if (line.rfind("write to ", 0) == 0) {
      reading = false;
      continue;
    }
    // "0000 - " then 16 columns of "hh" followed by ' ' or '-'.
    if (!reading || line.size() < 9 || line.compare(4, 3, " - ") != 0 ||
        !std::isxdigit(static_cast<unsigned char>(line[0]))) {
      continue;
    }
    for (std::size_t i = 0; i < 16; ++i) {
      const std::size_t at = 7 + 3 * i;
      if (at + 2 > line.size() || !std::isxdigit(static_cast<unsigned char>(line[at])) ||
          !std::isxdigit(static_cast<unsigned char>(line[at + 1]))) {
        break;
      }
      bytes.push_back(static_cast<char>(std::stoi(line.substr(at, 2), nullptr, 16)));
    }
  }
  return bytes;
}

struct wire_run {
  std::string output;  // all s_client printed
  std::string reads;   // wire_reads(output)
};

// One STARTTLS session that ends right after the handshake (stdin is closed and
// -quiet is not given, so s_client says DONE and hangs up). stdbuf -oL keeps the
// -debug dump (stdio) from splitting lines of what s_client writes to fd 1 itself.
wire_run starttls_wire(const dovecot& d, const std::string& proto, std::uint16_t port) {
  auto args = s_client_args(d, proto, port);
  args.insert(args.begin() + 2, "-debug");
  args.insert(args.begin(), {"stdbuf", "-oL"});
  auto c = child::spawn(args);
  c->close_stdin();
  wire_run r;
  r.output = c->read_all(step);
  (void)c->wait(step);
  r.reads = wire_reads(r.output);
  return r;
}

// A plaintext TCP client, bound to a chosen loopback source address unless it is empty.
class line_client {
 public:
  line_client(const std::string& source, const std::string& address, std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &src.sin_addr);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    inet_pton(AF_INET, address.c_str(), &dst.sin_addr);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ok_ = fd_ >= 0 && (source.empty() || bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0) &&
          connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0;
  }
  ~line_client() {
    if (fd_ >= 0) close(fd_);
  }
  line_client(const line_client&) = delete;
  line_client& operator=(const line_client&) = delete;

  bool ok() const { return ok_; }
  void send(const std::string& s) { (void)!write(fd_, s.data(), s.size()); }
  // One line without CRLF; empty on timeout or EOF (SO_RCVTIMEO bounds each read).
  std::string line() {
    for (;;) {
      const auto nl = pending_.find("\r\n");
      if (nl != std::string::npos) {
        std::string l = pending_.substr(0, nl);
        pending_.erase(0, nl + 2);
        return l;
      }
      char buf[4096];
      const ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return {};
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Lines until one starts with `prefix`; all of them, CRLF-joined.
  std::string until(const std::string& prefix) {
    std::string all;
    for (std::string l = line(); ; l = line()) {
      all += l + "\r\n";
      if (l.empty() || l.compare(0, prefix.size(), prefix) == 0) return all;
    }
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string pending_;
};

class DovecotSmoke : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { yes_.server.reset(); }
  static shared_server yes_;
};
shared_server DovecotSmoke::yes_;

#define UPTLS_DOVECOT(var, shared, opts)                      \
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::dovecot);           \
  dovecot* var = start_shared(shared, opts);                   \
  ASSERT_NE(var, nullptr) << shared.error

TEST_F(DovecotSmoke, ImapStarttlsThenLoginAndFetchInsideTls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  UPTLS_DOVECOT(d, yes_, {});
  auto c = s_client(*d, "imap", d->ports().imap);
  std::string seen;
  drive(*c,
        {{"a LOGIN " + d->user() + " " + d->password() + "\r\n", starts("a OK"), "tagged OK to LOGIN"},
         {"b SELECT INBOX\r\n", starts("b OK"), "tagged OK to SELECT"},
         {"c FETCH 1 BODY[]\r\n", starts("c OK"), "tagged OK to FETCH"},
         {"d LOGOUT\r\n", starts("d OK"), "tagged OK to LOGOUT"}},
        seen);
  EXPECT_NE(seen.find("verify return:1"), std::string::npos) << seen;
  EXPECT_NE(seen.find("Logged in"), std::string::npos) << seen;
  EXPECT_NE(seen.find("Subject: uptls seeded message"), std::string::npos) << seen;
  EXPECT_NE(seen.find(body_marker), std::string::npos) << seen;
  EXPECT_GE(c->wait(step), 0);  // Dovecot hung up after LOGOUT: s_client ended

  // What crosses the wire in plaintext: STARTTLS offered, and its tagged OK.
  const wire_run w = starttls_wire(*d, "imap", d->ports().imap);
  EXPECT_NE(w.output.find("Verify return code: 0 (ok)"), std::string::npos) << w.output;
  EXPECT_NE(w.reads.find(" STARTTLS "), std::string::npos) << w.reads;
  EXPECT_NE(w.reads.find("\r\n. OK Begin TLS negotiation now.\r\n"), std::string::npos) << w.reads;
}

TEST_F(DovecotSmoke, ImaplibSeesStarttlsTaggedOkAndNewCapabilities) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3);
  UPTLS_DOVECOT(d, yes_, {});
  // From the remote source address so that Dovecot shows what a remote client sees.
  const std::string script = R"(
import imaplib, socket, ssl, sys
src, host, port, ca, user, password = sys.argv[1:7]
class Remote(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(src, 0))
m = Remote(host, int(port), timeout=10)
print("BEFORE", " ".join(sorted(m.capabilities)))
m.debug = 4  # imaplib then logs each line it reads, the tagged STARTTLS reply too
typ, dat = m.starttls(ssl.create_default_context(cafile=ca))
m.debug = 0
print("STARTTLS", typ)
print("AFTER", " ".join(sorted(m.capabilities)))
typ, dat = m.login(user, password)
print("LOGIN", typ, dat[0].decode())
m.logout()
)";
  auto c = child::spawn({python, "-c", script, dovecot::remote_source, d->address(), std::to_string(d->ports().imap),
                         cert("ca.pem"), d->user(), d->password()});
  const std::string out = c->read_all(step);
  ASSERT_EQ(c->wait(step), 0) << out;
  EXPECT_NE(out.find("STARTTLS OK\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" OK Begin TLS negotiation now.'"), std::string::npos) << out;
  // Before TLS: STARTTLS and LOGINDISABLED, no mechanism; after: the mechanisms.
  const auto line_of = [&out](const std::string& prefix) {
    const auto at = out.find(prefix);
    return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
  };
  const std::string before = line_of("BEFORE ");
  const std::string after = line_of("AFTER ");
  ASSERT_FALSE(before.empty() || after.empty()) << out;
  EXPECT_NE(before.find(" STARTTLS"), std::string::npos) << before;
  EXPECT_NE(before.find(" LOGINDISABLED"), std::string::npos) << before;
  EXPECT_EQ(before.find("AUTH="), std::string::npos) << before;
  EXPECT_EQ(after.find("STARTTLS"), std::string::npos) << after;
  EXPECT_EQ(after.find("LOGINDISABLED"), std::string::npos) << after;
  EXPECT_NE(after.find("AUTH=PLAIN"), std::string::npos) << after;
  EXPECT_NE(out.find("LOGIN OK"), std::string::npos) << out;
}

TEST_F(DovecotSmoke, Pop3StlsThenUserPassRetrInsideTls) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  UPTLS_DOVECOT(d, yes_, {});
  auto c = s_client(*d, "pop3", d->ports().pop3);
  std::string seen;
  drive(*c,
        {{"USER " + d->user() + "\r\n", starts("+OK"), "+OK to USER"},
         {"PASS " + d->password() + "\r\n", starts("+OK"), "+OK to PASS"},
         {"RETR 1\r\n", [](const std::string& l) { return l == "."; }, "the end of the message"},
         {"QUIT\r\n", starts("+OK"), "+OK to QUIT"}},
        seen);
  EXPECT_NE(seen.find("+OK Logged in."), std::string::npos) << seen;
  EXPECT_NE(seen.find("Message-ID: <seeded-1@uptls.test>"), std::string::npos) << seen;
  EXPECT_NE(seen.find(body_marker), std::string::npos) << seen;
  EXPECT_GE(c->wait(step), 0);

  const wire_run w = starttls_wire(*d, "pop3", d->ports().pop3);
  EXPECT_NE(w.output.find("Verify return code: 0 (ok)"), std::string::npos) << w.output;
  EXPECT_NE(w.reads.find("+OK Begin TLS negotiation now.\r\n"), std::string::npos) << w.reads;
}

TEST_F(DovecotSmoke, LmtpStarttlsDeliversIntoTheMaildir) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  UPTLS_DOVECOT(d, yes_, {});
  const std::size_t before = d->delivered().size();
  auto c = s_client(*d, "lmtp", d->ports().lmtp);
  std::string seen;
  const std::string marker = "Delivered over LMTP inside TLS: 91b2-uptls.";
  drive(*c,
        {{"LHLO client.example\r\n", starts("250 "), "the end of the LHLO reply"},
         {"MAIL FROM:<sender@example.org>\r\n", starts("250 "), "250 to MAIL"},
         {"RCPT TO:<" + d->mail_address() + ">\r\n", starts("250 "), "250 to RCPT"},
         {"DATA\r\n", starts("354"), "354 to DATA"},
         {"Subject: lmtp smoke\r\n\r\n" + marker + "\r\n.\r\n", starts("250 "), "250 after the message"},
         {"QUIT\r\n", starts("221"), "221 to QUIT"}},
        seen);
  // After TLS, LHLO no longer offers STARTTLS (the reply ends with PIPELINING).
  EXPECT_NE(seen.find("250 PIPELINING"), std::string::npos) << seen;
  // Delivered before the 250 (LMTP answers once the message is saved).
  const auto got = d->wait_for_delivered(before + 1, step);
  ASSERT_EQ(got.size(), before + 1) << seen << "\n--- log:\n" << d->log();
  bool found = false;
  for (const auto& m : got) found = found || m.text.find(marker) != std::string::npos;
  EXPECT_TRUE(found) << got.back().path << ":\n" << got.back().text;
  EXPECT_NE(got.back().text.find("Return-Path: <sender@example.org>"), std::string::npos) << got.back().text;
  // Dovecot's Received: header says the delivery came inside TLS.
  EXPECT_NE(got.back().text.find("(using TLSv1.3 with cipher "), std::string::npos) << got.back().text;
  EXPECT_NE(got.back().text.find("by localhost with LMTPS"), std::string::npos) << got.back().text;

  const wire_run w = starttls_wire(*d, "lmtp", d->ports().lmtp);
  EXPECT_NE(w.output.find("Verify return code: 0 (ok)"), std::string::npos) << w.output;
  EXPECT_NE(w.reads.find("250 STARTTLS\r\n"), std::string::npos) << w.reads;
  EXPECT_NE(w.reads.find("220 2.0.0 Begin TLS negotiation now.\r\n"), std::string::npos) << w.reads;
}

TEST_F(DovecotSmoke, ManageSieveStarttlsThenCapabilitiesAgain) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  UPTLS_DOVECOT(d, yes_, {});
  auto c = s_client(*d, "sieve", d->ports().sieve);
  std::string seen;
  // RFC 5804: after TLS the server sends its capabilities again, unasked.
  ASSERT_TRUE(read_until(*c, starts("OK \"TLS negotiation successful.\""), seen)) << seen;
  drive(*c, {{"LOGOUT\r\n", starts("OK"), "OK to LOGOUT"}}, seen);
  // The capabilities inside TLS, as s_client printed them.
  EXPECT_NE(seen.find("\"IMPLEMENTATION\" \"Dovecot"), std::string::npos) << seen;
  EXPECT_NE(seen.find("\"SASL\" \"PLAIN LOGIN\""), std::string::npos) << seen;
  EXPECT_EQ(seen.find("\"STARTTLS\""), std::string::npos) << seen;

  // Before TLS: the capability greeting with STARTTLS, then the OK to STARTTLS.
  const wire_run w = starttls_wire(*d, "sieve", d->ports().sieve);
  EXPECT_NE(w.output.find("Verify return code: 0 (ok)"), std::string::npos) << w.output;
  EXPECT_NE(w.reads.find("\"STARTTLS\"\r\n"), std::string::npos) << w.reads;
  EXPECT_NE(w.reads.find("OK \"Dovecot (Debian) ready.\"\r\n"), std::string::npos) << w.reads;
  EXPECT_NE(w.reads.find("OK \"Begin TLS negotiation now.\"\r\n"), std::string::npos) << w.reads;
}

TEST_F(DovecotSmoke, CurlFetchesOverImapAndPop3WithSslReqd) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::curl_imap_pop3_tls);
  UPTLS_DOVECOT(d, yes_, {});
  const std::string base = d->address() + ":";
  const std::vector<std::string> urls = {
      "imap://" + base + std::to_string(d->ports().imap) + "/INBOX;UID=1",
      "pop3://" + base + std::to_string(d->ports().pop3) + "/1",
      // The implicit-TLS ports serve the same mailbox.
      "imaps://" + base + std::to_string(d->ports().imaps) + "/INBOX;UID=1",
      "pop3s://" + base + std::to_string(d->ports().pop3s) + "/1",
  };
  for (const auto& url : urls) {
    auto c = child::spawn({"curl", "-sS", "-v", "--ssl-reqd", "--cacert", cert("ca.pem"), "--max-time", "20", "-u",
                           d->user() + ":" + d->password(), url});
    const std::string out = c->read_all(30s);
    EXPECT_EQ(c->wait(step), 0) << url << "\n" << out;
    EXPECT_NE(out.find(body_marker), std::string::npos) << url << "\n" << out;
    if (url.rfind("imap://", 0) == 0) {
      EXPECT_NE(out.find("OK Begin TLS negotiation now."), std::string::npos) << out;
    }
    if (url.rfind("pop3://", 0) == 0) {
      EXPECT_NE(out.find("+OK Begin TLS negotiation now."), std::string::npos) << out;
    }
  }
}

// ssl = required: no authentication of any kind before TLS.
class DovecotSslRequired : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { required_.server.reset(); }
  static dovecot::options opts() {
    dovecot::options o;
    o.ssl_required = true;
    return o;
  }
  static shared_server required_;
};
shared_server DovecotSslRequired::required_;

TEST_F(DovecotSslRequired, PlaintextLoginIsRefusedWithDovecotsMessage) {
  UPTLS_DOVECOT(d, required_, opts());
  line_client imap(dovecot::remote_source, d->address(), d->ports().imap);
  ASSERT_TRUE(imap.ok());
  const std::string greeting = imap.line();
  EXPECT_NE(greeting.find("STARTTLS LOGINDISABLED"), std::string::npos) << greeting;
  imap.send("a LOGIN " + d->user() + " " + d->password() + "\r\n");
  const std::string reply = imap.until("a ");
  EXPECT_NE(reply.find("* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it "
                       "anyway. If anyone was listening, the password was exposed.\r\n"),
            std::string::npos)
      << reply;
  EXPECT_NE(reply.find("a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) "
                       "connections.\r\n"),
            std::string::npos)
      << reply;

  line_client pop3(dovecot::remote_source, d->address(), d->ports().pop3);
  ASSERT_TRUE(pop3.ok());
  EXPECT_EQ(pop3.line(), "+OK Dovecot (Debian) ready.");
  pop3.send("USER " + d->user() + "\r\n");
  EXPECT_EQ(pop3.line(), "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.");
}

TEST_F(DovecotSslRequired, LoginInsideTlsIsAccepted) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  UPTLS_DOVECOT(d, required_, opts());
  auto c = s_client(*d, "imap", d->ports().imap);
  std::string seen;
  drive(*c,
        {{"a LOGIN " + d->user() + " " + d->password() + "\r\n", starts("a OK"), "tagged OK to LOGIN"},
         {"b LOGOUT\r\n", starts("b OK"), "tagged OK to LOGOUT"}},
        seen);
  EXPECT_NE(seen.find("Logged in"), std::string::npos) << seen;
}

// Dovecot counts a connection whose remote address is its own local address as
// secured: from 127.0.0.1 to 127.0.0.1 the plaintext LOGIN passes even with
// ssl = required. Tests that want a remote client's view must connect from
// dovecot::remote_source (or listen elsewhere); this pins the behaviour down.
TEST_F(DovecotSslRequired, SameAddressCountsAsSecuredSoPlaintextLoginPasses) {
  UPTLS_DOVECOT(d, required_, opts());
  line_client imap(d->address(), d->address(), d->ports().imap);
  ASSERT_TRUE(imap.ok());
  const std::string greeting = imap.line();
  EXPECT_EQ(greeting.find("LOGINDISABLED"), std::string::npos) << greeting;
  EXPECT_NE(greeting.find("AUTH=PLAIN"), std::string::npos) << greeting;
  imap.send("a LOGIN " + d->user() + " " + d->password() + "\r\n");
  const std::string reply = imap.until("a ");
  EXPECT_NE(reply.find("a OK"), std::string::npos) << reply;
  imap.send("b LOGOUT\r\n");
  (void)imap.until("b ");
}

// The other way to look remote: Dovecot listens on 127.0.0.2, clients connect
// from the default source 127.0.0.1 and verify the certificate for localhost.
class DovecotElsewhere : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { elsewhere_.server.reset(); }
  static dovecot::options opts() {
    dovecot::options o;
    o.ssl_required = true;
    o.address = dovecot::remote_source;
    return o;
  }
  static shared_server elsewhere_;
};
shared_server DovecotElsewhere::elsewhere_;

TEST_F(DovecotElsewhere, DefaultSourceClientsAreRemoteThere) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  UPTLS_DOVECOT(d, elsewhere_, opts());
  EXPECT_EQ(d->address(), "127.0.0.2");
  line_client imap("", d->address(), d->ports().imap);
  ASSERT_TRUE(imap.ok());
  EXPECT_NE(imap.line().find("STARTTLS LOGINDISABLED"), std::string::npos);
  imap.send("a LOGIN " + d->user() + " " + d->password() + "\r\n");
  EXPECT_NE(imap.until("a ").find("a NO [PRIVACYREQUIRED]"), std::string::npos);

  auto c = s_client(*d, "imap", d->ports().imap);
  std::string seen;
  drive(*c,
        {{"a LOGIN " + d->user() + " " + d->password() + "\r\n", starts("a OK"), "tagged OK to LOGIN"},
         {"b LOGOUT\r\n", starts("b OK"), "tagged OK to LOGOUT"}},
        seen);
  EXPECT_NE(seen.find("Logged in"), std::string::npos) << seen;
  EXPECT_NE(d->log().find("rip=127.0.0.1, lip=127.0.0.2"), std::string::npos) << d->log();
}

// The harness itself: a Dovecot that cannot start is reported with its own
// words and its log, and leaves no process behind.
TEST(DovecotHarness, AFailedStartSaysWhyWithDovecotsOwnWords) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::dovecot);
  dovecot::options o;
  o.extra_config = "no_such_setting = 1";
  dovecot d(o);
  try {
    d.start();
    ADD_FAILURE() << "Dovecot started with an unknown setting";
  } catch (const std::runtime_error& e) {
    const std::string why = e.what();
    EXPECT_NE(why.find("exited while starting"), std::string::npos) << why;
    EXPECT_NE(why.find("Unknown setting: no_such_setting"), std::string::npos) << why;
    EXPECT_NE(why.find("--- its log, " + d.log_file()), std::string::npos) << why;
  }
  EXPECT_FALSE(d.running());
  EXPECT_EQ(d.pid(), -1);
}

}  // namespace
}  // namespace uptls::test
