// Shared helpers for the test programs: test certificates, the backend under
// test, and child processes (real peers) that are always stopped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <ostream>
#include <vector>

#include "uptls/uptls.hpp"

namespace uptls::test {

using namespace std::chrono_literals;

// Path of a file made by tools/make-test-certs.sh, e.g. cert("server-rsa.pem").
std::string cert(const std::string& name);

// The backend this test program was built for (UPTLS_TEST_BACKEND, a string the
// per-backend test programs get from Meson), or the default one. Inline so that
// the define of the test program, not of this support library, decides.
inline const backend& backend_under_test() {
#ifdef UPTLS_TEST_BACKEND
  const backend* b = find_backend(UPTLS_TEST_BACKEND);
#else
  const backend* b = backends().front();
#endif
  if (b == nullptr) throw std::runtime_error("backend not compiled in");
  return *b;
}

// A client config that trusts the test CA, and a server config with the named leaf
// ("server-rsa", "server-ecdsa", "expired", ...).
tls_config client_config(profile p = profile::strict);
tls_config server_config(const std::string& leaf = "server-rsa", profile p = profile::strict);

// Whether this test runs in the private loopback-only network namespace that
// tests/support/private-net sets up. Peers that can only listen on every
// interface (gnutls-serv has no bind-address option) are started only there.
bool private_network();
inline constexpr const char* wildcard_listener_skip =
    "gnutls-serv listens on every interface; it runs only in the private loopback-only "
    "network namespace (tests/support/private-net could not make one here)";

// Whether an executable is on PATH (or an absolute path that exists).
bool have_program(const std::string& name);

// The real programs the tests drive, each with what a test needs it to do.
enum class peer_program {
  openssl,          // the openssl command (s_client, s_server)
  gnutls_cli,       // gnutls-cli with --starttls-proto
  gnutls_serv,      // gnutls-serv
  swaks_tls,        // swaks able to do STARTTLS (Net::SSLeay)
  curl_smtp_tls,    // curl with SMTP and TLS
  curl_imap_pop3_tls, // curl with IMAP, POP3 and TLS
  python3,          // /usr/bin/python3 with ssl, smtplib, imaplib and poplib
  python3_aiosmtpd, // /usr/bin/python3 with aiosmtpd
  dovecot,          // Dovecot with imap, pop3, lmtp and managesieve (dovecot.hpp)
};

// Empty when the program is there and can do its job here; otherwise what is
// missing and the Debian package that provides it (./dev installs them all).
// Asked once per program and process.
std::string peer_problem(peer_program p);

// Writes all of bytes on a (non-blocking) transport, waiting at most limit in all.
result<> write_all(transport& t, std::span<const std::byte> bytes, std::chrono::milliseconds limit = 5s);
result<> write_all(transport& t, std::string_view text, std::chrono::milliseconds limit = 5s);
// One read on a (non-blocking) transport, waiting at most limit for bytes: the
// count (0 at the end of the stream), or errc::timeout.
result<std::size_t> read_some_within(transport& t, std::span<std::byte> buf, std::chrono::milliseconds limit = 5s);

// Runs a resumable call to its end: step() is called again whenever it would
// block, after waiting (poll) for what it waits for on s, within limit. Counts
// how often it would block in *blocked (optional).
template <class Step>
auto drive(stream& s, Step step, std::chrono::milliseconds limit = 20s, int* blocked = nullptr) -> decltype(step()) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto r = step();
    if (!r.would_block()) return r;
    if (blocked != nullptr) ++*blocked;
    if (std::chrono::steady_clock::now() >= end) return make_error_code(errc::timeout);
    // The stream's own deadline comes first; the test's bound stops a runaway.
    (void)s.wait(r.wants());
  }
}

// A TCP port on 127.0.0.1 that was free a moment ago (for peers that need a number).
std::uint16_t free_port();

// Polls until something accepts on 127.0.0.1:port, at most `timeout`.
bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout);

// A child process with pipes to its stdin and from its stdout+stderr. The
// destructor ends it (SIGTERM, then SIGKILL) and reaps it.
class child {
 public:
  // With separate_stderr, standard error goes to its own pipe (read_stderr);
  // otherwise it is merged into the output.
  static std::unique_ptr<child> spawn(const std::vector<std::string>& argv, bool separate_stderr = false);
  // The same, and the child gets SIGTERM when the calling thread ends, so that a
  // test process that dies without its destructors (a signal, a meson timeout)
  // leaves no long-running peer behind. Only from a thread that outlives the child.
  static std::unique_ptr<child> spawn_bound(const std::vector<std::string>& argv);
  ~child();
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  // One line of output (without the newline); errc::timeout / errc::eof.
  std::error_code read_line(std::string& line, std::chrono::milliseconds timeout);
  // Reads output until a line contains `needle`; everything read is appended to `seen`.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout, std::string* seen = nullptr);
  // All remaining output until EOF or timeout.
  std::string read_all(std::chrono::milliseconds timeout);
  // All of standard error until EOF or timeout (only with separate_stderr).
  std::string read_stderr(std::chrono::milliseconds timeout);
  void write_stdin(const std::string& text);
  void close_stdin();
  // Waits for the exit; returns the exit status, or -1 on timeout (the child stays).
  int wait(std::chrono::milliseconds timeout);
  void stop();
  pid_t pid() const { return pid_; }

 private:
  child() = default;
  static std::unique_ptr<child> start(const std::vector<std::string>& argv, bool bound, bool separate_stderr);
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int err_ = -1;
  std::string pending_;
  bool reaped_ = false;
  int status_ = -1;
};

}  // namespace uptls::test

namespace uptls {
// How gtest prints a result: "ok", "would block (read)", "error uptls:eof: ...".
template <class T>
void PrintTo(const result<T>& r, std::ostream* os) {
  *os << to_string(r);
}
}  // namespace uptls

// Fails the test (never skips it) when a peer that ./dev installs cannot do its
// job: a refusal that passed because the peer could not even try proves nothing.
#define UPTLS_REQUIRE_PEER_PROGRAM(p)                                                             \
  do {                                                                                            \
    if (const std::string uptls_why_ = ::uptls::test::peer_problem(p); !uptls_why_.empty()) {     \
      FAIL() << uptls_why_;                                                                       \
    }                                                                                             \
  } while (0)
