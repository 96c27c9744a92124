// The uptls tool as a user runs it: a child process against uptls SMTP peers
// on loopback (and aiosmtpd for the server that hangs up), for every
// compiled-in backend where it matters. Each run's exit status, standard
// output and standard error are checked apart: the dialogue and the facts go
// to one, errors and hints to the other.
#include <gtest/gtest.h>
#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "harness.hpp"

#ifndef UPTLS_CLI
#error "UPTLS_CLI must name the uptls executable"
#endif

namespace uptls::test::smtp {
namespace {

using nlohmann::json;

struct run_result {
  int status = -1;
  std::string out;  // standard output
  std::string err;  // standard error
};

// Runs the tool with input on its standard input, to its end (every wait bounded).
run_result run(std::vector<std::string> argv, const std::string& input = {}) {
  argv.insert(argv.begin(), UPTLS_CLI);
  auto c = child::spawn(argv, true);
  c->write_stdin(input);
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

// A probe that trusts the test CA and checks the name "localhost".
std::vector<std::string> probe(const std::string& scheme, std::uint16_t port, const std::string& backend,
                               const std::string& timeout = "5") {
  return {"probe", url(scheme, port), "--cafile", cert("ca.pem"), "--servername", "localhost", "--backend", backend,
          "--timeout", timeout};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

std::string first_backend() { return std::string(backends().front()->name()); }

std::string all_backend_names() {
  std::string out;
  for (const backend* b : backends()) out += (out.empty() ? "" : ", ") + std::string(b->name());
  return out;
}

// The server context of backend b (the harness's server_ctx() is the default backend's).
uptls::smtp::server_options with_tls_of(const backend& b, const std::string& leaf = "server-rsa") {
  uptls::smtp::server_options o;
  o.tls = make_ctx(b, server_config(leaf), role::server);
  return o;
}

// A port-465 style server: TLS from the first byte, then the SMTP dialogue.
struct implicit_server {
  std::vector<uptls::smtp::message> got;
  void operator()(std::unique_ptr<socket_transport> conn) {
    stream s(std::move(conn), quick());
    if (!s.start_tls(server_ctx()).ok()) return;
    (void)uptls::smtp::serve(std::move(s), uptls::smtp::server_options{},
                             [this](const uptls::smtp::message& m) { got.push_back(m); });
  }
};

// The tool's server, started and stopped by the test.
struct served {
  std::unique_ptr<child> proc;
  std::uint16_t port = 0;
  std::string seen;  // its output so far
};

// Starts `uptls serve ...` and reads the port from its "listening" line.
served serve(std::vector<std::string> args) {
  args.insert(args.begin(), {UPTLS_CLI, "serve"});
  served s;
  s.proc = child::spawn(args, true);
  const std::string marker = "*: listening on 127.0.0.1 port ";
  if (!s.proc->wait_for_output(marker, 10s, &s.seen)) {
    ADD_FAILURE() << "no listening line: " << s.seen << s.proc->read_stderr(1s);
    return s;
  }
  s.port = static_cast<std::uint16_t>(std::stoi(s.seen.substr(s.seen.rfind(marker) + marker.size())));
  return s;
}

std::vector<std::string> serve_tls(const backend& b) {
  return {"smtp", "--cert", cert("server-rsa.pem"), "--key", cert("server-rsa.key"), "--backend", std::string(b.name())};
}

int occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// Reads a child's output into seen until needle occurs `count` times in all of
// it (or 30 s pass); how often it occurs.
int count_output(child& c, const std::string& needle, int count, std::string& seen) {
  const auto end = std::chrono::steady_clock::now() + 30s;
  std::string line;
  while (occurrences(seen, needle) < count && std::chrono::steady_clock::now() < end) {
    if (c.read_line(line, 1s) == errc::eof) break;
    if (!line.empty()) seen += line + "\n";
    line.clear();
  }
  return occurrences(seen, needle);
}

// Stops a server with SIGTERM as a user would; its exit status and its last words.
int stop_with_sigterm(served& s) {
  ::kill(s.proc->pid(), SIGTERM);
  s.seen += s.proc->read_all(10s);
  return s.proc->wait(10s);
}

json parse_json(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    ADD_FAILURE() << "not one JSON object (" << e.what() << "): " << text;
    return json::object();
  }
}

bool dialogue_has(const json& j, const std::string& dir, const std::string& text) {
  for (const json& line : j.at("dialogue")) {
    if (line.at("dir") == dir && line.at("text") == text) return true;
  }
  return false;
}

// -- uptls backends ---------------------------------------------------------

TEST(CliBackends, ListsEveryBackendWithItsVersion) {
  const run_result r = run({"backends"});
  EXPECT_EQ(r.status, 0) << r.err;
  for (const backend* b : backends()) {
    EXPECT_TRUE(has(r.out, std::string(b->name()) + " ")) << r.out;
    EXPECT_TRUE(has(r.out, std::string(b->library_version()))) << r.out;
  }
  EXPECT_TRUE(has(r.out, std::string(backends().front()->name()) + " ")) << r.out;
  EXPECT_EQ(r.out.find("(default)"), r.out.rfind("(default)")) << "one default: " << r.out;
  EXPECT_LT(r.out.find(std::string(backends().front()->name())), r.out.find("(default)")) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(CliBackends, JsonHasEveryCapability) {
  const run_result r = run({"backends", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = parse_json(r.out);
  ASSERT_TRUE(j.contains("backends")) << r.out;
  ASSERT_EQ(j["backends"].size(), backends().size()) << r.out;
  for (std::size_t i = 0; i < backends().size(); ++i) {
    const backend& b = *backends()[i];
    const json& e = j["backends"][i];
    EXPECT_EQ(e["name"], std::string(b.name()));
    EXPECT_EQ(e["version"], std::string(b.library_version()));
    EXPECT_EQ(e["default"], i == 0);
    const capabilities& c = b.caps();
    const json& k = e["capabilities"];
    EXPECT_EQ(k["tls13"], c.tls13) << b.name();
    EXPECT_EQ(k["rsa_key_exchange"], c.rsa_key_exchange) << b.name();
    EXPECT_EQ(k["ip_address_names"], c.ip_address_names) << b.name();
    EXPECT_EQ(k["alpn"], c.alpn) << b.name();
    EXPECT_EQ(k["resumption"], c.resumption) << b.name();
    EXPECT_EQ(k["client_certificates"], c.client_certificates) << b.name();
    EXPECT_EQ(k["system_trust"], c.system_trust) << b.name();
    EXPECT_EQ(k["release_buffers"], c.release_buffers) << b.name();
    EXPECT_EQ(k["chacha20"], c.chacha20) << b.name();
  }
}

// -- help and bad usage -----------------------------------------------------

TEST(CliUsage, HelpOnEveryCommand) {
  for (const auto& [argv, usage] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--help"}, "Usage: uptls [OPTIONS] SUBCOMMAND"},
           {{"probe", "--help"}, "Usage: uptls probe [OPTIONS] URL"},
           {{"serve", "--help"}, "Usage: uptls serve [OPTIONS] PROTO"},
           {{"backends", "--help"}, "Usage: uptls backends [OPTIONS]"}}) {
    const run_result r = run(argv);
    EXPECT_EQ(r.status, 0) << argv[0];
    EXPECT_TRUE(has(r.out, usage)) << r.out;
    EXPECT_EQ(r.err, "") << argv[0];
  }
  // Scripts branch on the exit statuses, so every command documents them.
  for (const std::vector<std::string>& argv : {std::vector<std::string>{"--help"}, {"probe", "--help"}, {"serve", "--help"}}) {
    const std::string out = run(argv).out;
    EXPECT_TRUE(has(out, "3  the TLS handshake failed")) << out;
    EXPECT_TRUE(has(out, "5  the scheme or protocol is not supported yet")) << out;
  }
  // Every scheme listed is spoken: none is marked as not supported.
  const std::string probe_help = run({"probe", "--help"}).out;
  EXPECT_TRUE(has(probe_help, "pop3://       port 110, STARTTLS, POP3\n")) << probe_help;
  EXPECT_TRUE(has(probe_help, "sieve://      port 4190, STARTTLS, ManageSieve\n")) << probe_help;
  EXPECT_FALSE(has(probe_help, "not supported yet)")) << probe_help;
}

// Every refusal: exit status 2, nothing on standard output (nothing was
// dialled), and standard error names the argument and what to do.
TEST(CliUsage, BadArgumentsExitWith2AndSayWhatIsWrong) {
  const std::string ca = cert("ca.pem");
  const std::string missing = cert("no-such-ca.pem");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "A subcommand is required"},
      {{"frobnicate"}, "unknown command 'frobnicate'; the commands are probe, serve, backends"},
      {{"probe"}, "URL is required"},
      {{"probe", "smtp://127.0.0.1:99999"}, "has a bad port '99999' (a number from 1 to 65535)"},
      {{"probe", "mail.example.org"}, "'mail.example.org' is not a URL (no SCHEME://)"},
      {{"probe", "smtp://host/inbox"}, "has a path or query ('/inbox')"},
      {{"probe", "gopher://127.0.0.1"}, "unknown scheme 'gopher://'; uptls speaks smtp, submission, smtps, lmtp"},
      {{"probe", "smtp://127.0.0.1", "--profile", "loose"}, "--profile is strict or legacy, not 'loose'"},
      {{"probe", "smtp://127.0.0.1", "--backend", "no-such-tls"},
       "--backend: no backend 'no-such-tls' in this build; compiled in: " + all_backend_names()},
      {{"probe", "smtps://127.0.0.1", "--opportunistic"}, "smtps:// is implicit TLS, which is never optional"},
      {{"probe", "smtp://127.0.0.1", "--cafile", missing}, "--cafile: no such file: " + missing},
      {{"probe", "smtp://127.0.0.1", "--cafile", cert("")}, " is a directory, not a PEM file"},
      {{"probe", "smtp://127.0.0.1", "--cert", cert("client.pem")}, "--cert and --key go together"},
      {{"probe", "smtp://127.0.0.1", "--eof-is-trigger"},
       "--eof-is-trigger is a rule of the fallback ladder; it needs --ladder"},
      {{"probe", "smtp://127.0.0.1", "--ladder", first_backend() + ":legacy," + first_backend() + ":strict"},
       "is not more permissive than rung 1"},
      {{"probe", "smtp://127.0.0.1", "--ladder", "nope:strict"}, "--ladder: no backend 'nope' in this build"},
      {{"probe", "smtp://127.0.0.1", "--ladder", first_backend()}, "each rung is BACKEND:PROFILE"},
      {{"probe", "smtp://127.0.0.1", "--ladder", first_backend() + ":strict", "--profile", "strict"},
       "leave out --backend and --profile"},
      {{"probe", "smtp://127.0.0.1", "--ladder", first_backend() + ":strict", "--opportunistic"},
       "the ladder never goes on without TLS"},
      {{"probe", "smtp://127.0.0.1", "--timeout", "0"}, "--timeout takes seconds, more than 0"},
      {{"probe", "smtp://127.0.0.1", "--send", "a@example.org"}, "--send"},
      {{"probe", "smtp://127.0.0.1", "--send", "a@example.org", "<b@example.org>"},
       "--send: '<b@example.org>' is not a mail address"},
      {{"probe", "smtp://127.0.0.1", "--ehlo", "two words"}, "--ehlo takes a host name"},
      {{"serve", "smtp", "--require-tls"}, "--require-tls needs TLS: give --cert FILE --key FILE"},
      {{"serve", "smtp", "--implicit"}, "--implicit needs TLS"},
      {{"serve", "smtp", "--cert", missing, "--key", missing}, "--cert: no such file: " + missing},
      {{"serve", "smtp", "--port", "70000"}, "--port takes 0 to 65535"},
      {{"serve", "gopher"}, "unknown protocol 'gopher'; uptls serves smtp, lmtp"},
      {{"backends", "--frob"}, "--frob"},
  };
  for (const auto& [argv, why] : cases) {
    const run_result r = run(argv);
    std::string line;
    for (const auto& a : argv) line += a + " ";
    EXPECT_EQ(r.status, 2) << line << "\n" << r.out << r.err;
    EXPECT_TRUE(has(r.err, why)) << line << "\nstderr: " << r.err;
    EXPECT_EQ(r.out, "") << line;
  }
}

// Every scheme the tool names is one it speaks: none is left that would give
// exit 5 (scheme_not_supported). Against a port where nobody listens each
// probe fails to connect, with its reason, instead.
TEST(CliUsage, EveryKnownSchemeIsSpoken) {
  std::uint16_t closed_port = 0;
  {
    auto listener = tcp_listener::listen("127.0.0.1", 0);
    ASSERT_TRUE(listener.ok());
    closed_port = listener->port();
  }  // closed: connections are refused
  for (const std::string scheme : {"smtp", "submission", "smtps", "lmtp", "imap", "imaps", "pop3", "pop3s", "sieve"}) {
    const run_result r = run({"probe", url(scheme, closed_port)});
    EXPECT_NE(r.status, 5) << scheme << r.err;
    EXPECT_FALSE(has(r.err, "scheme_not_supported")) << scheme << r.err;
    EXPECT_TRUE(has(r.err, "connection_refused")) << scheme << r.err;
  }
}

// A file that is there but is no PEM: the backend refuses it before anything
// is dialled, directly and on every rung of a ladder.
TEST(CliUsage, FileTheBackendCannotUseIsExit2AndDialsNothing) {
  auto listener = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  const std::string b = first_backend();
  for (const std::vector<std::string>& how :
       {std::vector<std::string>{"--backend", b}, std::vector<std::string>{"--ladder", b + ":strict," + b + ":legacy"}}) {
    const run_result r = run(std::vector<std::string>{"probe", url("smtp", listener->port()), "--cafile",
                                                      UPTLS_LEGACY_SMTPD} +
                             how);
    EXPECT_EQ(r.status, 2) << how[0] << r.out << r.err;
    EXPECT_TRUE(has(r.err, "error:            invalid_config")) << r.err;
    EXPECT_TRUE(has(r.err, "hint: the backend could not use a file given (--cafile, --cert, --key)")) << r.err;
  }
  EXPECT_TRUE(listener->try_accept().would_block()) << "a probe with an unusable CA file connected";
}

// -- uptls probe: failures, their exit statuses and hints ---------------------

TEST(CliProbe, UnreachablePortSaysConnectionRefusedAndNamesThePorts) {
  const std::uint16_t port = free_port();
  const run_result r = run(probe("smtp", port, first_backend()));
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            connection_refused")) << r.err;
  EXPECT_TRUE(has(r.err, "stage:            connect")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: nothing listens on 127.0.0.1 port " + std::to_string(port) +
                             "; SMTP is 25 or 587 with STARTTLS (smtp://, submission://), 465 with implicit TLS "
                             "(smtps://)"))
      << r.err;
  EXPECT_FALSE(has(r.out, "error:")) << r.out;
}

TEST(CliProbe, ErrorsAndHintsGoToStandardError) {
  server_run srv(uptls::smtp::server_options{});
  const run_result r = run(probe("smtp", srv.port(), first_backend()));
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            starttls_not_offered")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the server did not offer STARTTLS")) << r.err;
  EXPECT_FALSE(has(r.out, "error:")) << r.out;
  EXPECT_FALSE(has(r.out, "hint:")) << r.out;
  EXPECT_TRUE(has(r.out, "C: EHLO localhost")) << r.out;  // the dialogue stays on standard output
  (void)srv.finish();
}

TEST(CliProbe, StarttlsNotOfferedStopsAndSaysWhy) {
  server_run srv(uptls::smtp::server_options{});
  const run_result r = run(probe("smtp", srv.port(), first_backend()));
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            starttls_not_offered")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the server did not offer STARTTLS (or something on the path removed it); only EHLO "
                         "was sent. --opportunistic would go on WITHOUT TLS"))
      << r.err;
  (void)srv.finish();
  EXPECT_EQ(srv.received(), std::vector<std::string>{"EHLO localhost"});
}

TEST(CliProbe, OpportunisticSaysItWentOnWithoutTls) {
  server_run srv(uptls::smtp::server_options{});
  const run_result r = run(probe("smtp", srv.port(), first_backend()) + std::vector<std::string>{"--opportunistic"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "TLS:              NONE: server does not offer STARTTLS; the session went on WITHOUT TLS"))
      << r.out;
  EXPECT_TRUE(has(r.err, "warning: the session went on WITHOUT TLS")) << r.err;
  EXPECT_EQ(srv.finish(), std::error_code{});
  EXPECT_EQ(srv.received(), (std::vector<std::string>{"EHLO localhost", "QUIT"}));
}

TEST(CliProbe, UntrustedCertificateIsNamedWithItsHint) {
  server_run srv(with_tls("untrusted"));
  const run_result r = run(probe("smtp", srv.port(), first_backend()));
  EXPECT_EQ(r.status, 4) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            cert_untrusted")) << r.err;
  EXPECT_TRUE(has(r.err, "stage:            handshake")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the certificate does not lead to a CA you trust (trusted: " + cert("ca.pem") +
                             "): give the CA with --cafile FILE"))
      << r.err;
}

// The switch for tests of hostile peers: the session goes on, and says so.
TEST(CliProbe, DangerousSkipVerificationSaysNothingWasChecked) {
  server_run srv(with_tls("untrusted"));
  const run_result r =
      run(probe("smtp", srv.port(), first_backend()) + std::vector<std::string>{"--dangerous-skip-verification"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "certificate NOT checked (--dangerous-skip-verification)")) << r.out;
  EXPECT_TRUE(has(r.out, "verified:         NO (verification was skipped)")) << r.out;
  EXPECT_TRUE(has(r.out, "certificate:      NOT checked")) << r.out;
  EXPECT_EQ(srv.finish(), std::error_code{});
}

TEST(CliProbe, NameMismatchPointsAtServername) {
  server_run srv(with_tls());
  auto argv = probe("smtp", srv.port(), first_backend());
  argv[5] = "mail.example.org";  // --servername
  const run_result r = run(argv);
  EXPECT_EQ(r.status, 4) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            cert_name_mismatch")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the certificate is not for 'mail.example.org': check --servername")) << r.err;
}

TEST(CliProbe, ImplicitAgainstAStarttlsPortSaysUseStarttls) {
  server_run srv(with_tls());
  const run_result r = run(probe("smtps", srv.port(), first_backend()));
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            not_tls")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: the server spoke plaintext first: this port uses STARTTLS; try " +
                             url("smtp", srv.port())))
      << r.err;
}

TEST(CliProbe, StarttlsAgainstAnImplicitPortSaysTryImplicit) {
  implicit_server script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  const run_result r = run(probe("smtp", srv.port(), first_backend(), "1"));
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "error:            timeout")) << r.err;
  EXPECT_TRUE(has(r.err, "hint: no SMTP greeting came: a server on an implicit-TLS port waits for the TLS handshake "
                         "first; try " +
                             url("smtps", srv.port())))
      << r.err;
}

// -- uptls probe: sessions that work -----------------------------------------

TEST(CliProbe, StarttlsAndSendWithEveryBackend) {
  for (const backend* b : backends()) {
    const std::string name(b->name());
    server_run srv(with_tls_of(*b));
    const run_result r =
        run(probe("smtp", srv.port(), name) + std::vector<std::string>{"--send", "cli@example.org", "rcpt@example.org"},
            "Subject: cli\r\n\r\nfrom the tool\n.dot\n");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_TRUE(has(r.out, "C: STARTTLS")) << r.out;
    EXPECT_TRUE(has(r.out, "*: TLS established")) << r.out;
    EXPECT_TRUE(has(r.out, "backend:          " + name)) << r.out;
    EXPECT_TRUE(has(r.out, "verified:         yes")) << r.out;
    EXPECT_TRUE(has(r.out, "certificate:      verified for localhost (trusted: " + cert("ca.pem") + ")")) << r.out;
    EXPECT_TRUE(has(r.out, "*: message accepted: 250")) << r.out;
    EXPECT_EQ(r.err, "") << name;
    EXPECT_EQ(srv.finish(), std::error_code{});
    const auto got = srv.messages();
    ASSERT_EQ(got.size(), 1u) << name;
    EXPECT_TRUE(got[0].over_tls);
    EXPECT_EQ(got[0].from, "cli@example.org");
    EXPECT_EQ(got[0].to, std::vector<std::string>{"rcpt@example.org"});
    EXPECT_EQ(got[0].data, "Subject: cli\r\n\r\nfrom the tool\r\n.dot\r\n");
  }
}

TEST(CliProbe, ImplicitTlsDelivers) {
  implicit_server script;
  peer_thread srv([&](auto conn) { script(std::move(conn)); });
  const run_result r = run(probe("smtps", srv.port(), first_backend()) +
                               std::vector<std::string>{"--send", "a@example.org", "b@example.org"},
                           "implicit\r\n");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "*: implicit TLS to 127.0.0.1 port " + std::to_string(srv.port()))) << r.out;
  EXPECT_FALSE(has(r.out, "C: STARTTLS")) << r.out;
  srv.join();
  ASSERT_EQ(script.got.size(), 1u);
  EXPECT_TRUE(script.got[0].over_tls);
  EXPECT_EQ(script.got[0].data, "implicit\r\n");
}

TEST(CliProbe, LadderReportsEveryAttempt) {
  server_run srv(with_tls());
  const std::string b = first_backend();
  const run_result r =
      run({"probe", url("smtp", srv.port()), "--cafile", cert("ca.pem"), "--servername", "localhost", "--ladder",
           b + ":strict," + b + ":legacy", "--timeout", "5"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "*: attempt 1/2 " + b + " strict: connected: ")) << r.out;
  EXPECT_TRUE(has(r.out, "-> won: strict handshake completed")) << r.out;
  EXPECT_TRUE(has(r.out, "*: outcome 127.0.0.1:" + std::to_string(srv.port()) + ": ok")) << r.out;
  EXPECT_FALSE(has(r.out, "attempt 2/2")) << r.out;
  EXPECT_TRUE(has(r.out, "C: STARTTLS")) << r.out;
  EXPECT_EQ(srv.finish(), std::error_code{});
}

// A server that hangs up on a ClientHello it cannot serve, without an alert
// (Python's asyncio): the hints name the switches that work, and they do.
TEST(CliProbe, HangUpAfterStarttlsHintSaysWhatWorks) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::python3_aiosmtpd);
  const std::uint16_t port = free_port();
  auto legacy = child::spawn({"/usr/bin/python3", UPTLS_LEGACY_SMTPD, "--port", std::to_string(port), "--cert",
                              cert("server-rsa.pem"), "--key", cert("server-rsa.key"), "--mode", "legacy"});
  std::string seen;
  ASSERT_TRUE(legacy->wait_for_output("READY", 15s, &seen)) << seen;
  for (const backend* b : backends()) {
    ASSERT_TRUE(b->caps().rsa_key_exchange) << b->name() << ": every Debian backend has a legacy rung";
    const std::string name(b->name());
    const std::string ladder = name + ":strict," + name + ":legacy";
    const std::vector<std::string> args = {"probe", url("smtp", port), "--cafile", cert("ca.pem"), "--servername",
                                           "localhost", "--timeout", "5"};

    const run_result strict = run(args + std::vector<std::string>{"--backend", name});
    EXPECT_EQ(strict.status, 3) << name << strict.out << strict.err;
    EXPECT_TRUE(has(strict.err, "error:            eof")) << name << strict.err;
    EXPECT_TRUE(has(strict.err, "stage:            handshake")) << name << strict.err;
    EXPECT_TRUE(has(strict.err, "--ladder " + ladder + " --eof-is-trigger retries once")) << strict.err;
    EXPECT_TRUE(has(strict.err, "An attacker can cut connections too")) << strict.err;

    const run_result alone = run(args + std::vector<std::string>{"--ladder", ladder});
    EXPECT_EQ(alone.status, 3) << name << alone.out << alone.err;
    EXPECT_TRUE(has(alone.err, "error:            eof")) << alone.err;
    EXPECT_TRUE(has(alone.err, "hint: the server closed the connection during the handshake without an alert; add "
                               "--eof-is-trigger"))
        << alone.err;
    EXPECT_TRUE(has(alone.out, "*: attempt 1/2 " + name + " strict: handshake failed: eof")) << alone.out;
    EXPECT_FALSE(has(alone.out, "attempt 2/2")) << "no EOF trigger, no second rung: " << alone.out;

    const run_result both = run(args + std::vector<std::string>{"--ladder", ladder, "--eof-is-trigger"});
    EXPECT_EQ(both.status, 0) << name << both.out << both.err;
    EXPECT_TRUE(has(both.out, "cipher:           TLS_RSA_WITH_AES_128_GCM_SHA256")) << both.out;
    EXPECT_TRUE(has(both.out, "forward secrecy:  no")) << both.out;
    EXPECT_TRUE(has(both.out, "*: attempt 2/2 " + name + " legacy: connected: TLSv1.2 TLS_RSA_WITH_AES_128_GCM_SHA256"))
        << both.out;
    EXPECT_TRUE(has(both.out, "won after a fallback")) << both.out;

    // The same, as JSON: both attempts, why the first let the second run.
    const run_result j = run(args + std::vector<std::string>{"--ladder", ladder, "--eof-is-trigger", "--json"});
    EXPECT_EQ(j.status, 0) << j.out;
    const json doc = parse_json(j.out);
    const json& fb = doc["fallback"];
    ASSERT_TRUE(fb.is_object()) << j.out;
    ASSERT_EQ(fb["attempts"].size(), 2u) << j.out;
    EXPECT_EQ(fb["attempts"][0]["profile"], "strict");
    EXPECT_EQ(fb["attempts"][0]["stage"], "handshake");
    EXPECT_EQ(fb["attempts"][0]["error"]["name"], "eof");
    EXPECT_EQ(fb["attempts"][0]["allows_next"], true);
    EXPECT_EQ(fb["attempts"][0]["wire"]["eof_before_server_hello"], true);
    EXPECT_EQ(fb["attempts"][1]["profile"], "legacy");
    EXPECT_EQ(fb["attempts"][1]["stage"], "done");
    EXPECT_EQ(fb["attempts"][1]["session"]["cipher"], "TLS_RSA_WITH_AES_128_GCM_SHA256");
    EXPECT_EQ(fb["winner"], 2);
    EXPECT_EQ(fb["fell_back"], true);
    EXPECT_EQ(doc["tls"]["cipher"], "TLS_RSA_WITH_AES_128_GCM_SHA256");
    EXPECT_EQ(doc["tls"]["forward_secret"], false);
    EXPECT_EQ(doc["ladder"], ladder);
  }
}

// A server that requires a client certificate: --cert and --key present it;
// without them the probe fails and says to give them.
TEST(CliProbe, ClientCertificateIsPresented) {
  tls_config sc = server_config("server-rsa");
  sc.client_certificates = client_auth::required;
  sc.ca_file = cert("ca.pem");
  for (const backend* b : backends()) {
    const std::string name(b->name());
    {
      uptls::smtp::server_options o;
      o.tls = make_ctx(backend_under_test(), sc, role::server);
      server_run srv(o);
      const run_result r = run(probe("smtp", srv.port(), name) +
                                   std::vector<std::string>{"--cert", cert("client.pem"), "--key", cert("client.key"),
                                                            "--send", "a@example.org", "b@example.org"},
                               "with a client certificate\n");
      EXPECT_EQ(r.status, 0) << name << r.out << r.err;
      EXPECT_EQ(srv.finish(), std::error_code{});
      const auto got = srv.messages();
      ASSERT_EQ(got.size(), 1u) << name;
      EXPECT_TRUE(got[0].session.verified) << name;
      const uptls::certificate_info* client_leaf = got[0].session.peer_certificate();
      ASSERT_NE(client_leaf, nullptr) << name;
      EXPECT_TRUE(has(client_leaf->subject, "CN=uptls test client")) << client_leaf->subject;
    }
    uptls::smtp::server_options o;
    o.tls = make_ctx(backend_under_test(), sc, role::server);
    server_run srv(o);
    const run_result r = run(probe("smtp", srv.port(), name));
    // TLS 1.3 servers say so with alert 116 after the client finished (a
    // certificate failure); TLS 1.2 ones end the handshake with alert 40.
    EXPECT_EQ(r.status, b->caps().tls13 ? 4 : 3) << name << r.err;
    EXPECT_TRUE(has(r.err, b->caps().tls13 ? "alert received:   116" : "alert received:   40")) << name << r.err;
    EXPECT_TRUE(has(r.err, "give --cert FILE --key FILE")) << name << r.err;
    EXPECT_FALSE(has(r.err, "--ladder")) << "a ladder would not climb here: " << r.err;
    EXPECT_EQ(srv.finish(), errc::cert_required) << name;
  }
}

// -- uptls probe --json -----------------------------------------------------

TEST(CliJson, FactsMatchWhatTheServerSaw) {
  for (const backend* b : backends()) {
    const std::string name(b->name());
    server_run srv(with_tls());
    const run_result r = run(probe("smtp", srv.port(), name) + std::vector<std::string>{"--json", "--ehlo", "cli.example",
                                                                                         "--send", "a@example.org",
                                                                                         "b@example.org"},
                             "json\r\n");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(r.err, "") << "--json prints nothing else";
    ASSERT_EQ(srv.finish(), std::error_code{});
    const auto got = srv.messages();
    ASSERT_EQ(got.size(), 1u);
    const session_info& seen = got[0].session;
    const json j = parse_json(r.out);

    EXPECT_EQ(j["ok"], true);
    EXPECT_EQ(j["exit_status"], 0);
    EXPECT_TRUE(j["error"].is_null()) << j["error"].dump();
    EXPECT_TRUE(j["hint"].is_null());
    EXPECT_EQ(j["url"], url("smtp", srv.port()));
    EXPECT_EQ(j["scheme"], "smtp");
    EXPECT_EQ(j["protocol"], "SMTP");
    EXPECT_EQ(j["host"], "127.0.0.1");
    EXPECT_EQ(j["port"], srv.port());
    EXPECT_EQ(j["tls_start"], "starttls");
    EXPECT_EQ(j["backend"], name);
    EXPECT_EQ(j["profile"], "strict");
    EXPECT_TRUE(j["ladder"].is_null());
    EXPECT_TRUE(j["fallback"].is_null());
    EXPECT_TRUE(j["without_tls"].is_null());

    // The dialogue, in order, as the server logged it.
    EXPECT_TRUE(dialogue_has(j, "C", "EHLO cli.example")) << j["dialogue"].dump();
    EXPECT_TRUE(dialogue_has(j, "C", "STARTTLS"));
    EXPECT_TRUE(dialogue_has(j, "C", "QUIT"));
    std::vector<std::string> client_lines;
    for (const json& l : j["dialogue"]) {
      if (l["dir"] == "C") client_lines.push_back(l["text"]);
    }
    EXPECT_EQ(client_lines, srv.received());
    EXPECT_EQ(j["dialogue"][0]["dir"], "S");
    EXPECT_EQ(j["dialogue"][0]["text"].get<std::string>().substr(0, 4), "220 ");

    const json& t = j["tls"];
    ASSERT_TRUE(t.is_object()) << r.out;
    EXPECT_EQ(t["backend"], name);
    EXPECT_EQ(t["version"], std::string(to_string(seen.version)));
    EXPECT_EQ(t["cipher"], seen.suite.name);
    EXPECT_EQ(t["cipher_id"].get<std::string>().size(), 6u) << t.dump();  // "0x1301"
    EXPECT_EQ(t["aead"], seen.suite.aead);
    EXPECT_EQ(t["key_exchange"], std::string(to_string(seen.kx)));
    EXPECT_EQ(t["group"], (seen.group == named_group::none) ? json(nullptr) : json(std::string(to_string(seen.group))));
    EXPECT_EQ(t["forward_secret"], seen.forward_secret);
    EXPECT_EQ(t["forward_secret"], true);  // strict
    EXPECT_EQ(t["resumed"], false);
    EXPECT_EQ(t["verified"], true);
    EXPECT_EQ(t["sni"], "localhost");
    EXPECT_EQ(seen.sni, "localhost");
    EXPECT_TRUE(t["alpn"].is_null());
    const json& leaf = t["peer_certificate"];
    ASSERT_TRUE(leaf.is_object()) << t.dump();
    EXPECT_TRUE(has(leaf["subject"].get<std::string>(), "CN=localhost")) << t.dump();
    EXPECT_NE(std::find(leaf["dns_names"].begin(), leaf["dns_names"].end(), json("localhost")), leaf["dns_names"].end());
    EXPECT_EQ(leaf["sha256"].get<std::string>().size(), 64u) << t.dump();
    EXPECT_EQ(leaf["key"], "RSA");

    EXPECT_EQ(j["certificate"]["verified"], true);
    EXPECT_EQ(j["certificate"]["server_name"], "localhost");
    EXPECT_EQ(j["certificate"]["trust"], cert("ca.pem"));

    // The capabilities are the ones given over TLS: STARTTLS is gone from them.
    ASSERT_FALSE(j["capabilities"].empty());
    EXPECT_EQ(std::find(j["capabilities"].begin(), j["capabilities"].end(), json("STARTTLS")), j["capabilities"].end());

    EXPECT_EQ(j["message"]["accepted"], true);
    EXPECT_EQ(j["message"]["code"], 250);
    EXPECT_EQ(j["message"]["from"], got[0].from);
    EXPECT_EQ(j["message"]["to"], json(got[0].to));
    EXPECT_EQ(got[0].helo, "cli.example");
  }
}

TEST(CliJson, FailureHasErrorHintAndExitStatus) {
  server_run srv(with_tls("untrusted"));
  const run_result r = run(probe("smtp", srv.port(), first_backend()) + std::vector<std::string>{"--json"});
  EXPECT_EQ(r.status, 4);
  EXPECT_EQ(r.err, "") << "errors and hints are inside the JSON";
  const json j = parse_json(r.out);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["exit_status"], 4);
  EXPECT_EQ(j["error"]["name"], "cert_untrusted");
  EXPECT_EQ(j["error"]["category"], "uptls");
  EXPECT_EQ(j["error"]["stage"], "handshake");
  EXPECT_EQ(j["error"]["text"], make_error_code(errc::cert_untrusted).message());
  EXPECT_TRUE(j["error"]["wire"].is_object()) << j.dump();
  EXPECT_TRUE(has(j["hint"].get<std::string>(), "give the CA with --cafile FILE")) << j.dump();
  EXPECT_TRUE(j["tls"].is_null());
  EXPECT_TRUE(dialogue_has(j, "C", "STARTTLS"));
}

TEST(CliJson, LadderAttemptsAreInTheReport) {
  server_run srv(with_tls());
  const std::string b = first_backend();
  const run_result r = run({"probe", url("smtp", srv.port()), "--cafile", cert("ca.pem"), "--servername", "localhost",
                            "--ladder", b + ":strict," + b + ":legacy", "--timeout", "5", "--json"});
  EXPECT_EQ(r.status, 0) << r.out;
  const json j = parse_json(r.out);
  const json& fb = j["fallback"];
  ASSERT_EQ(fb["attempts"].size(), 1u) << r.out;
  EXPECT_EQ(fb["attempts"][0]["attempt"], 1);
  EXPECT_EQ(fb["attempts"][0]["of"], 2);
  EXPECT_EQ(fb["attempts"][0]["backend"], b);
  EXPECT_EQ(fb["attempts"][0]["stage"], "done");
  EXPECT_TRUE(fb["attempts"][0]["error"].is_null());
  EXPECT_EQ(fb["attempts"][0]["session"]["cipher"], j["tls"]["cipher"]);
  EXPECT_EQ(fb["winner"], 1);
  EXPECT_EQ(fb["fell_back"], false);
  EXPECT_TRUE(fb["error"].is_null());
  EXPECT_TRUE(j["backend"].is_null()) << "the ladder names the backends";
  EXPECT_EQ(srv.finish(), std::error_code{});
}

// -- uptls serve ------------------------------------------------------------

TEST(CliServe, PrintsWhatItReceivedWithEveryBackend) {
  for (const backend* b : backends()) {
    served srv = serve(serve_tls(*b) + std::vector<std::string>{"--once", "--require-tls", "--timeout", "5"});
    ASSERT_NE(srv.port, 0);
    EXPECT_TRUE(has(srv.seen, "(" + std::string(b->name()) + ", STARTTLS)")) << srv.seen;
    client c(client_to(srv.port), uptls::smtp::client_options{});
    ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
    const std::string cipher = c.connection().session()->suite.name;
    ASSERT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "printed body\r\n"), std::error_code{});
    EXPECT_EQ(c.quit(), std::error_code{});
    EXPECT_TRUE(srv.proc->wait_for_output("[1] | printed body", 10s, &srv.seen)) << srv.seen;
    EXPECT_TRUE(srv.proc->wait_for_output("*: stopped (--once)", 10s, &srv.seen)) << srv.seen;
    EXPECT_EQ(srv.proc->wait(10s), 0);
    EXPECT_TRUE(has(srv.seen, "[1] *: session from 127.0.0.1 port ")) << srv.seen;
    EXPECT_TRUE(has(srv.seen, "[1] C: STARTTLS")) << srv.seen;
    EXPECT_TRUE(has(srv.seen, "[1] *: message from <a@example.org> to <b@example.org>, 14 bytes, over TLS: yes (")) << srv.seen;
    EXPECT_TRUE(has(srv.seen, cipher + ", SNI localhost)")) << srv.seen;
    EXPECT_TRUE(has(srv.seen, "[1] *: session ended with QUIT")) << srv.seen;
  }
}

TEST(CliServe, OnceExitsWithTheSessionsStatus) {
  served srv = serve({"smtp", "--once", "--timeout", "5"});
  ASSERT_NE(srv.port, 0);
  {
    stream s = connect_to(srv.port);
    EXPECT_EQ(code_of(read_reply(s)), 220);
    (void)s.close();  // gone without QUIT
  }
  EXPECT_TRUE(srv.proc->wait_for_output("[1] *: session ended: eof", 10s, &srv.seen)) << srv.seen;
  EXPECT_EQ(srv.proc->wait(10s), 1);
}

TEST(CliServe, ImplicitTlsWithTheProbe) {
  served srv = serve(serve_tls(backend_under_test()) + std::vector<std::string>{"--implicit", "--once", "--timeout", "5"});
  ASSERT_NE(srv.port, 0);
  EXPECT_TRUE(has(srv.seen, ", implicit TLS)")) << srv.seen;
  const run_result r = run(probe("smtps", srv.port, first_backend()) +
                               std::vector<std::string>{"--send", "a@example.org", "b@example.org"},
                           "over 465\n");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(srv.proc->wait_for_output("*: stopped (--once)", 10s, &srv.seen)) << srv.seen;
  EXPECT_EQ(srv.proc->wait(10s), 0);
  EXPECT_TRUE(has(srv.seen, "[1] *: TLS established: ")) << srv.seen;
  EXPECT_TRUE(has(srv.seen, "over TLS: yes")) << srv.seen;
  EXPECT_FALSE(has(srv.seen, "STARTTLS")) << "no STARTTLS on an implicit-TLS session: " << srv.seen;
}

TEST(CliServe, LmtpWithTheProbe) {
  served lmtp = serve({"lmtp", "--cert", cert("server-rsa.pem"), "--key", cert("server-rsa.key"), "--once", "--timeout",
                       "5"});
  ASSERT_NE(lmtp.port, 0);
  const run_result r = run(probe("lmtp", lmtp.port, first_backend()) +
                               std::vector<std::string>{"--send", "a@example.org", "b@example.org"},
                           "by lmtp\n");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "*: STARTTLS to 127.0.0.1 port " + std::to_string(lmtp.port) + " (LMTP)")) << r.out;
  EXPECT_TRUE(has(r.out, "C: LHLO localhost")) << r.out;
  EXPECT_FALSE(has(r.out, "EHLO")) << r.out;
  EXPECT_TRUE(has(r.out, "*: message accepted: 250 2.0.0 <b@example.org> delivered")) << r.out;
  EXPECT_TRUE(lmtp.proc->wait_for_output("*: stopped (--once)", 10s, &lmtp.seen)) << lmtp.seen;
  EXPECT_EQ(lmtp.proc->wait(10s), 0);
  EXPECT_TRUE(has(lmtp.seen, "[1] C: LHLO localhost")) << lmtp.seen;
  EXPECT_TRUE(has(lmtp.seen, "[1] | by lmtp")) << lmtp.seen;
}

TEST(CliServe, SieveWithTheProbeShowsOnlyThePostTlsCapabilities) {
  for (const backend* b : backends()) {
    served srv = serve({"sieve", "--cert", cert("server-rsa.pem"), "--key", cert("server-rsa.key"), "--backend",
                        std::string(b->name()), "--require-tls", "--once", "--timeout", "5"});
    ASSERT_NE(srv.port, 0);
    const run_result r = run(probe("sieve", srv.port, first_backend()));
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_TRUE(has(r.out, "*: STARTTLS to 127.0.0.1 port " + std::to_string(srv.port) + " (ManageSieve)")) << r.out;
    EXPECT_TRUE(has(r.out, "S: \"SASL\" \"\"")) << "no mechanism before TLS when TLS is required: " << r.out;
    EXPECT_TRUE(has(r.out, "capabilities:     IMPLEMENTATION uptls, SASL PLAIN, SIEVE ")) << r.out;
    EXPECT_TRUE(has(r.out, "C: LOGOUT")) << r.out;
    EXPECT_TRUE(srv.proc->wait_for_output("*: stopped (--once)", 10s, &srv.seen)) << srv.seen;
    EXPECT_EQ(srv.proc->wait(10s), 0);
    EXPECT_TRUE(has(srv.seen, "[1] C: STARTTLS")) << srv.seen;
    EXPECT_TRUE(has(srv.seen, "[1] *: TLS established: ")) << srv.seen;
  }
}

TEST(CliProbe, SieveOverTheLadderReadsTheCapabilitiesAfterTheUpgrade) {
  served srv = serve({"sieve", "--cert", cert("server-rsa.pem"), "--key", cert("server-rsa.key"), "--once", "--timeout",
                      "5"});
  ASSERT_NE(srv.port, 0);
  const std::string b = first_backend();
  const run_result r = run({"probe", url("sieve", srv.port), "--cafile", cert("ca.pem"), "--servername", "localhost",
                            "--ladder", b + ":strict", "--timeout", "5"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  // The prelude ran on the ladder's connection, open_upgraded() read the rest inside TLS.
  EXPECT_TRUE(has(r.out, "S: OK \"TLS negotiation successful\"")) << r.out;
  EXPECT_TRUE(has(r.out, "capabilities:     IMPLEMENTATION uptls, SASL PLAIN, SIEVE ")) << r.out;
  EXPECT_FALSE(has(r.out.substr(r.out.find("capabilities:")), "STARTTLS")) << r.out;
  EXPECT_TRUE(srv.proc->wait_for_output("*: stopped (--once)", 10s, &srv.seen)) << srv.seen;
  EXPECT_EQ(srv.proc->wait(10s), 0);
}

TEST(CliProbe, SieveWithoutStarttlsJsonSaysNothingWasSent) {
  served srv = serve({"sieve", "--once", "--timeout", "5"});
  ASSERT_NE(srv.port, 0);
  const run_result r = run(probe("sieve", srv.port, first_backend()) + std::vector<std::string>{"--json"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  const json doc = parse_json(r.out);
  EXPECT_EQ(doc["error"]["name"], "starttls_not_offered");
  EXPECT_EQ(doc["protocol"], "ManageSieve");
  EXPECT_TRUE(has(doc["hint"].get<std::string>(), "nothing was sent")) << r.out;
  EXPECT_FALSE(dialogue_has(doc, "C", "STARTTLS")) << r.out;
  EXPECT_TRUE(srv.proc->wait_for_output("*: stopped (--once)", 10s, &srv.seen)) << srv.seen;
  EXPECT_EQ(srv.proc->wait(10s), 1);  // the client left without LOGOUT
}

TEST(CliServe, JsonLinesOneObjectPerEvent) {
  served srv;
  srv.proc = child::spawn({UPTLS_CLI, "serve", "smtp", "--cert", cert("server-rsa.pem"), "--key", cert("server-rsa.key"),
                           "--once", "--timeout", "5", "--json"},
                          true);
  std::string line;
  ASSERT_EQ(srv.proc->read_line(line, 10s), std::error_code{});
  const json ready = parse_json(line);
  EXPECT_EQ(ready["event"], "listening");
  EXPECT_EQ(ready["tls"], "STARTTLS");
  EXPECT_EQ(ready["backend"], first_backend());
  const auto port = ready["port"].get<std::uint16_t>();
  ASSERT_NE(port, 0);

  client c(client_to(port), uptls::smtp::client_options{});
  ASSERT_EQ(c.open(client_ctx(), localhost()), std::error_code{});
  const session_info mine = *c.connection().session();
  ASSERT_EQ(c.send_mail("a@example.org", {"b@example.org"}, "as json\r\n"), std::error_code{});
  EXPECT_EQ(c.quit(), std::error_code{});

  std::vector<json> events;
  const std::string rest = srv.proc->read_all(10s);
  EXPECT_EQ(srv.proc->wait(10s), 0);
  std::size_t pos = 0;
  while (pos < rest.size()) {
    const std::size_t eol = rest.find('\n', pos);
    events.push_back(parse_json(rest.substr(pos, eol - pos)));
    pos = eol + 1;
  }
  ASSERT_GE(events.size(), 4u) << rest;
  EXPECT_EQ(events.front()["event"], "session_start");
  EXPECT_EQ(events.front()["session"], 1);
  EXPECT_EQ(events.back()["event"], "stopped");
  EXPECT_EQ(events.back()["stats"]["completed"], 1);
  const auto message = std::find_if(events.begin(), events.end(), [](const json& e) { return e["event"] == "message"; });
  ASSERT_NE(message, events.end()) << rest;
  EXPECT_EQ((*message)["from"], "a@example.org");
  EXPECT_EQ((*message)["to"], json(std::vector<std::string>{"b@example.org"}));
  EXPECT_EQ((*message)["data"], "as json\r\n");
  EXPECT_EQ((*message)["over_tls"], true);
  EXPECT_EQ((*message)["tls"]["cipher"], mine.suite.name);
  EXPECT_EQ((*message)["tls"]["version"], std::string(to_string(mine.version)));
  const auto end = std::find_if(events.begin(), events.end(), [](const json& e) { return e["event"] == "session_end"; });
  ASSERT_NE(end, events.end());
  EXPECT_EQ((*end)["ok"], true);
  const bool starttls_line = std::any_of(events.begin(), events.end(), [](const json& e) {
    return e["event"] == "line" && e["dir"] == "C" && e["text"] == "STARTTLS";
  });
  EXPECT_TRUE(starttls_line) << rest;
  EXPECT_EQ(srv.proc->read_stderr(1s), "");
}

// One thread serves them all: twenty clients hold TLS sessions at the same
// time while another one, connected first, says nothing; the twenty deliver
// and the silent one is still waiting (its session neither ended nor stalled
// anyone). Progress is measured, not time.
TEST(CliServe, TwentyClientsAtOnceWhileOneIsSilent) {
  constexpr int clients = 20;
  served srv = serve(serve_tls(backend_under_test()) +
                     std::vector<std::string>{"--require-tls", "--max-connections", "30", "--timeout", "60"});
  ASSERT_NE(srv.port, 0);

  stream silent = connect_to(srv.port);
  EXPECT_EQ(code_of(read_reply(silent)), 220);  // its session is up: [1]

  std::mutex m;
  std::condition_variable cv;
  int opened = 0;
  std::vector<int> together(clients, 0);  // 1: saw all twenty open at once
  std::vector<std::string> failures(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      client c(client_to(srv.port), uptls::smtp::client_options{});
      const result<> up = c.open(client_ctx(), localhost());
      {
        std::unique_lock lock(m);
        ++opened;
        cv.notify_all();
        // Nobody sends before every session is open: the server holds 21 at once.
        together[i] = cv.wait_for(lock, 30s, [&] { return opened == clients; }) ? 1 : 0;
      }
      if (!up) {
        failures[i] = "open: " + to_string(up);
        return;
      }
      const std::string body = "client " + std::to_string(i) + "\r\n";
      if (const result<> r = c.send_mail("c" + std::to_string(i) + "@example.org", {"sink@example.org"}, body); !r) {
        failures[i] = "send: " + to_string(r);
      } else if (const result<> q = c.quit(); !q) {
        failures[i] = "quit: " + to_string(q);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < clients; ++i) {
    EXPECT_EQ(failures[i], "") << "client " << i;
    EXPECT_EQ(together[i], 1) << "client " << i << " did not see all sessions open at once";
  }

  EXPECT_EQ(count_output(*srv.proc, "*: message from <c", clients, srv.seen), clients) << srv.seen;
  EXPECT_EQ(count_output(*srv.proc, "*: session ended with QUIT", clients, srv.seen), clients) << srv.seen;
  for (int i = 0; i < clients; ++i) EXPECT_TRUE(has(srv.seen, "| client " + std::to_string(i) + "\n")) << i;
  EXPECT_FALSE(has(srv.seen, "[1] *: session ended")) << "the silent session ended early: " << srv.seen;
  std::byte buf[64];
  EXPECT_TRUE(silent.lower().read_some(buf).would_block()) << "the silent client was told something or dropped";

  EXPECT_EQ(stop_with_sigterm(srv), 0) << srv.seen;
  EXPECT_TRUE(has(srv.seen, "*: stopped (SIGTERM): 21 sessions, 20 ended with QUIT, 0 failed, 0 refused as busy, "
                            "at most 21 at once"))
      << srv.seen;
}

TEST(CliServe, PastMaxConnectionsAClientIsToldBusy) {
  served srv = serve({"smtp", "--max-connections", "2", "--timeout", "30"});
  ASSERT_NE(srv.port, 0);
  EXPECT_TRUE(has(srv.seen, "(" + first_backend() + ", no TLS)")) << srv.seen;
  stream first = connect_to(srv.port);
  stream second = connect_to(srv.port);
  EXPECT_EQ(code_of(read_reply(first)), 220);
  EXPECT_EQ(code_of(read_reply(second)), 220);

  stream third = connect_to(srv.port);
  EXPECT_EQ(read_reply(third), "421 4.7.0 too many connections, try again later");
  bool closed = false;
  EXPECT_EQ(drain(third.lower(), &closed), "");
  EXPECT_TRUE(closed) << "the busy connection was not closed";
  EXPECT_TRUE(srv.proc->wait_for_output("*: refused a connection: too many connections (limit 2; 1 refused so far)",
                                        10s, &srv.seen))
      << srv.seen;

  // The limit counts sessions open now: once one leaves, a new client gets in.
  EXPECT_EQ(code_of(ask(first, "QUIT")), 221);
  EXPECT_TRUE(drain(first.lower(), &closed).empty() && closed);
  stream fourth = connect_to(srv.port);
  EXPECT_EQ(code_of(read_reply(fourth)), 220);
  EXPECT_EQ(code_of(ask(second, "NOOP")), 250) << "the sessions in progress are untouched";

  EXPECT_EQ(stop_with_sigterm(srv), 0) << srv.seen;
  EXPECT_TRUE(has(srv.seen, "*: stopped (SIGTERM): 3 sessions, 1 ended with QUIT, 0 failed, 1 refused as busy")) << srv.seen;
}

TEST(CliServe, SigintStopsItCleanly) {
  served srv = serve({"smtp"});
  ASSERT_NE(srv.port, 0);
  ::kill(srv.proc->pid(), SIGINT);
  EXPECT_TRUE(srv.proc->wait_for_output("*: stopped (SIGINT): 0 sessions", 10s, &srv.seen)) << srv.seen;
  EXPECT_EQ(srv.proc->wait(10s), 0);
}

TEST(CliServe, AddressInUseIsExit1WithAHint) {
  auto taken = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(taken.ok());
  const run_result r = run({"serve", "smtp", "--port", std::to_string(taken->port())});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "cannot listen on 127.0.0.1 port " + std::to_string(taken->port()))) << r.err;
  EXPECT_TRUE(has(r.err, "hint: another program may hold that port; --port 0 picks a free one")) << r.err;
}

}  // namespace
}  // namespace uptls::test::smtp
