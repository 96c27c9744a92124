// What the concurrency benchmark's programs share: the message checksum, clocks,
// the fd limit, memory figures, the servers' command line, counters and control
// channel, and the OpenSSL server context (the strict profile of the other
// benchmarks). The servers differ only in their I/O and TLS calls; everything
// they print and everything they accept on the command line comes from here, so
// that benchmarks/concurrency/run can compare any two of them.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace conc {

// ------------------------------------------------------------ the message check

// The header the load generator puts in every message: the FNV-1a 64-bit hash of
// the body (the bytes after the blank line, lines with their CRLF, after
// dot-unstuffing, without the final "."), as 16 lower-case hex digits.
constexpr std::string_view check_header = "X-Check:";

// FNV-1a, 64 bits: one multiply per byte, no table, no library; plenty to catch
// a lost, doubled or reordered line.
class fnv1a64 {
 public:
  void add(std::string_view bytes) noexcept {
    for (const char c : bytes) {
      h_ ^= static_cast<unsigned char>(c);
      h_ *= 0x100000001b3ULL;
    }
  }
  std::uint64_t value() const noexcept { return h_; }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

std::string hex64(std::uint64_t v);

// ------------------------------------------------------------ time, limits, memory

// CLOCK_MONOTONIC in nanoseconds.
std::int64_t now_ns() noexcept;

// The outcome of raising RLIMIT_NOFILE, for the JSON output.
struct fd_limit {
  std::uint64_t wanted = 0;
  std::uint64_t soft_before = 0, hard_before = 0;
  std::uint64_t soft = 0, hard = 0;
  std::string note;  // empty when the soft limit is at least `wanted`
  bool enough() const noexcept { return soft >= wanted; }
  std::string json() const;
};

// Raises the soft limit on open files to `wanted` (up to the hard limit), and the
// hard limit too when it is lower and the process may (root: CAP_SYS_RESOURCE, up
// to fs.nr_open). Never fails: what it could not do is in the note.
fd_limit raise_fd_limit(std::uint64_t wanted);

struct memory {
  std::size_t heap_in_use = 0;  // mallinfo2().uordblks: bytes in malloc'd chunks (all arenas)
  std::size_t heap_mmap = 0;    // mallinfo2().hblkhd: bytes in chunks malloc mmap'ed by itself
  std::size_t rss_kb = 0;       // VmRSS
  std::size_t peak_rss_kb = 0;  // VmHWM (peak resident set of this process)
};
memory read_memory();

double cpu_user_seconds();
double cpu_system_seconds();

// Minimal JSON: a string literal with escapes.
std::string json_string(std::string_view s);

// The number after "key": in a flat JSON line, or -1 (the load generator reads the
// servers' HEAP replies with it).
double json_number(std::string_view line, std::string_view key);

// ------------------------------------------------------------ the servers

// The command line every server of this benchmark takes (raw OpenSSL, Asio, and the
// uptls server to come), so that the run script can start any of them.
struct server_options {
  std::string certs;            // --certs DIR: made by tools/make-test-certs.sh
  std::string leaf = "server-rsa";  // --cert rsa|ecdsa
  int port = 0;                 // --port N; 0: the kernel picks, printed as LISTENING <port>
  std::size_t max_conn = 16384; // --max-conn N: past it, 421 and close
  int idle_timeout_s = 60;      // --idle-timeout S: close a session silent for this long
  bool release_buffers = false; // --release-buffers: SSL_MODE_RELEASE_BUFFERS
};

// Options one server has beyond the shared ones (the uptls server's --backend):
// its lines of usage text, and a parser for one option that returns false for
// an option it does not know. `value()` takes the option's value (a missing one
// is a usage error); `bad(why)` reports a bad value and exits 2.
struct extra_server_options {
  std::string usage;
  std::function<bool(std::string_view option, const std::function<const char*()>& value,
                     const std::function<void(const std::string&)>& bad)>
      parse;
};

// The verbatim usage text of the servers, with a server's own option lines.
std::string server_usage(std::string_view program, std::string_view extra_usage = {});

// Parses argv; prints the usage and exits 2 on a bad command line, 0 on --help.
server_options parse_server_options(int argc, char** argv, const extra_server_options* extra = nullptr);

// What a server counts, printed by STATS.
struct server_counters {
  std::uint64_t accepted = 0;            // connections taken into service
  std::uint64_t refused = 0;             // over --max-conn: got 421 and were closed
  std::uint64_t sessions_completed = 0;  // QUIT answered with 221 over TLS
  std::uint64_t messages_good = 0;       // X-Check matched: 250
  std::uint64_t messages_bad = 0;        // missing or wrong X-Check: 554
  std::uint64_t handshakes = 0;          // completed TLS handshakes
  std::uint64_t handshake_failures = 0;
  std::uint64_t injections_refused = 0;  // bytes pipelined behind STARTTLS
  std::uint64_t timeouts = 0;            // closed by the idle deadline
  std::uint64_t closed_early = 0;        // the peer left (or failed) before QUIT
  std::uint64_t accept_errors = 0;       // accept() failures other than EAGAIN (EMFILE, ...)
  std::uint64_t current = 0;             // open sessions now
  std::uint64_t peak_concurrent = 0;     // most sessions open at once

  void opened() noexcept {
    ++accepted;
    if (++current > peak_concurrent) peak_concurrent = current;
  }
};

// One line of stdin: the control channel. Replies go to stdout, one JSON line each.
//   HEAP   memory now (heap in use, RSS, peak RSS) and the open sessions
//   STATS  the counters (and memory, CPU time), then the server exits
// End of stdin is STATS too, so that a server never outlives whoever started it;
// SIGTERM and SIGINT also print the STATS line and exit.
enum class control { heap, stats, unknown };
control parse_control(std::string_view line);

// Whether stdin can be the control channel: a pipe, a socket or a terminal (what
// epoll can watch). Otherwise (/dev/null, a file) a server says so on stderr and
// listens to signals only.
bool stdin_is_control();

// The JSON lines. `server` names the implementation ("raw-openssl", "asio").
std::string heap_json(std::string_view server, const server_counters& c);
// `extra_fields`: more members for the object, as JSON text without braces
// (`"backend": "gnutls", ...`), for what one server knows and the others do not.
std::string stats_json(std::string_view server, const server_options& o, const server_counters& c,
                       const fd_limit& limit, std::string_view why, std::string_view extra_fields = {});
std::string unknown_control_json(std::string_view line);

// Writes one line to stdout and flushes it (the run script and the load generator
// read these lines as they come).
void print_line(const std::string& line);

// The listening socket: 127.0.0.1 (only loopback addresses), SO_REUSEADDR,
// non-blocking, backlog 4096 (the kernel clips it to net.core.somaxconn). Returns the fd
// and sets `port` to the bound port. Throws on failure.
int listen_loopback(int& port);
constexpr int listen_backlog = 4096;

// The strict profile as an OpenSSL server context: TLS 1.2-1.3, ECDHE with AES-GCM
// or ChaCha20 for 1.2, groups X25519:P-256:P-384, session tickets on (OpenSSL's
// default: two TLS 1.3 tickets per handshake), the leaf and its key from --certs,
// SSL_MODE_RELEASE_BUFFERS with --release-buffers. Shared with the other
// benchmarks through configure_openssl_ctx (benchmarks/raw_openssl). Throws on failure.
void configure_server_ctx(SSL_CTX* ctx, const server_options& o);

// The library errors as text, and clears the queue.
std::string openssl_error_text();

// How much a server logs on stderr: the first few failures of each kind, then only
// the counters (10,000 sessions must not mean 10,000 lines).
class rate_limited_log {
 public:
  explicit rate_limited_log(int limit) : limit_(limit) {}
  void operator()(std::string_view what);

 private:
  int limit_;
  int said_ = 0;
};

}  // namespace conc
