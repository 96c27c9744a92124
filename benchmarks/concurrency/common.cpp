// The concurrency benchmark's shared helpers (see common.hpp).
#include "common.hpp"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>

#include "raw_openssl.hpp"

namespace conc {

std::string hex64(std::uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// ------------------------------------------------------------ fd limit

std::string fd_limit::json() const {
  std::string out = "{\"wanted\": " + std::to_string(wanted) + ", \"soft_before\": " + std::to_string(soft_before) +
                    ", \"hard_before\": " + std::to_string(hard_before) + ", \"soft\": " + std::to_string(soft) +
                    ", \"hard\": " + std::to_string(hard) + ", \"enough\": " + (enough() ? "true" : "false");
  if (!note.empty()) out += ", \"note\": " + json_string(note);
  return out + "}";
}

fd_limit raise_fd_limit(std::uint64_t wanted) {
  fd_limit out;
  out.wanted = wanted;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.note = std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
    return out;
  }
  out.soft_before = out.soft = rl.rlim_cur;
  out.hard_before = out.hard = rl.rlim_max;
  if (rl.rlim_cur >= wanted) return out;
  if (rl.rlim_max < wanted) {
    // Only a privileged process may raise the hard limit (and only up to fs.nr_open).
    rlimit both{wanted, wanted};
    if (setrlimit(RLIMIT_NOFILE, &both) == 0) {
      out.soft = out.hard = wanted;
      out.note = "raised the hard limit from " + std::to_string(rl.rlim_max);
      return out;
    }
    out.note = "cannot raise the hard limit from " + std::to_string(rl.rlim_max) + " to " + std::to_string(wanted) +
               " (" + std::strerror(errno) + "; needs root, and fs.nr_open at least that): using " +
               std::to_string(rl.rlim_max);
    rl.rlim_cur = rl.rlim_max;
  } else {
    rl.rlim_cur = wanted;
  }
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.note += std::string(out.note.empty() ? "" : "; ") + "setrlimit(RLIMIT_NOFILE): " + std::strerror(errno);
    return out;
  }
  out.soft = rl.rlim_cur;
  return out;
}

// ------------------------------------------------------------ memory and CPU

memory read_memory() {
  memory m;
  const struct mallinfo2 mi = mallinfo2();
  m.heap_in_use = mi.uordblks;
  m.heap_mmap = mi.hblkhd;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    const auto value = [&](std::string_view key, std::size_t& into) {
      if (line.compare(0, key.size(), key) == 0) into = std::strtoull(line.c_str() + key.size(), nullptr, 10);
    };
    value("VmRSS:", m.rss_kb);
    value("VmHWM:", m.peak_rss_kb);
  }
  return m;
}

namespace {
double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }
}  // namespace

double cpu_user_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return seconds(ru.ru_utime);
}

double cpu_system_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return seconds(ru.ru_stime);
}

// ------------------------------------------------------------ JSON

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

double json_number(std::string_view line, std::string_view key) {
  const std::string quoted = "\"" + std::string(key) + "\"";
  const std::size_t at = line.find(quoted);
  if (at == std::string_view::npos) return -1;
  std::size_t i = at + quoted.size();
  while (i < line.size() && (line[i] == ' ' || line[i] == ':')) ++i;
  double v = -1;
  const auto [end, err] = std::from_chars(line.data() + i, line.data() + line.size(), v);
  return err == std::errc{} && end != line.data() + i ? v : -1;
}

// ------------------------------------------------------------ the servers' command line

std::string server_usage(std::string_view program, std::string_view extra_usage) {
  std::string p(program);
  return "usage: " + p +
         " --certs DIR [--cert rsa|ecdsa] [--port N] [--max-conn N]\n"
         "       " + std::string(p.size(), ' ') +
         " [--idle-timeout S] [--release-buffers]" + (extra_usage.empty() ? "" : " [OPTIONS]") + "\n"
         "  One-thread SMTP server with STARTTLS on 127.0.0.1, for the concurrency benchmark.\n"
         "  --certs DIR        the test PKI (tools/make-test-certs.sh DIR): DIR/server-rsa.pem, .key, ...\n"
         "  --cert rsa|ecdsa   which leaf to serve (default rsa: server-rsa.pem)\n"
         "  --port N           TCP port (default 0: the kernel picks); prints 'LISTENING <port>' once ready\n"
         "  --max-conn N       open sessions at most (default 16384); past it: accept, '421 4.7.0 too many\n"
         "                     connections', close\n"
         "  --idle-timeout S   close a session that sent nothing for S seconds (default 60)\n"
         "  --release-buffers  SSL_MODE_RELEASE_BUFFERS: free idle TLS record buffers\n"
         "  stdin, one command a line, each answered with one JSON line on stdout:\n"
         "    HEAP    heap in use (mallinfo2), RSS and peak RSS, open sessions\n"
         "    STATS   counters, memory and CPU time; then the server exits\n"
         "  End of stdin, SIGTERM and SIGINT print the STATS line and exit too.\n" +
         std::string(extra_usage);
}

server_options parse_server_options(int argc, char** argv, const extra_server_options* extra) {
  server_options o;
  // The name without its directory, so that the usage text lines up.
  std::string program = argc > 0 ? argv[0] : "bench-smtp-server";
  program = program.substr(program.find_last_of('/') + 1);
  const std::string_view extra_usage = extra != nullptr ? std::string_view(extra->usage) : std::string_view{};
  const auto usage = [&](const std::string& why) {
    std::fprintf(stderr, "%s: %s\n%s", program.c_str(), why.c_str(), server_usage(program, extra_usage).c_str());
    std::exit(2);
  };
  const auto number = [&](const char* opt, const char* text, long long lo, long long hi) {
    long long v = 0;
    const std::string_view s(text);
    const auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (err != std::errc{} || end != s.data() + s.size() || v < lo || v > hi) {
      usage(std::string(opt) + " wants a number from " + std::to_string(lo) + " to " + std::to_string(hi) +
            ", not '" + std::string(s) + "'");
    }
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(server_usage(program, extra_usage).c_str(), stdout);
      std::exit(0);
    } else if (a == "--certs") {
      o.certs = value();
    } else if (a == "--cert") {
      const std::string_view kind = value();
      if (kind != "rsa" && kind != "ecdsa") usage("--cert is rsa or ecdsa, not '" + std::string(kind) + "'");
      o.leaf = "server-" + std::string(kind);
    } else if (a == "--port") {
      o.port = static_cast<int>(number("--port", value(), 0, 65535));
    } else if (a == "--max-conn") {
      o.max_conn = static_cast<std::size_t>(number("--max-conn", value(), 1, 10'000'000));
    } else if (a == "--idle-timeout") {
      o.idle_timeout_s = static_cast<int>(number("--idle-timeout", value(), 1, 86'400));
    } else if (a == "--release-buffers") {
      o.release_buffers = true;
    } else if (extra != nullptr && extra->parse && extra->parse(a, value, usage)) {
      // the server's own option
    } else {
      usage("unknown option '" + std::string(a) + "'");
    }
  }
  if (o.certs.empty()) usage("--certs DIR is required");
  return o;
}

control parse_control(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
  if (line == "HEAP") return control::heap;
  if (line == "STATS") return control::stats;
  return control::unknown;
}

bool stdin_is_control() {
  struct stat st{};
  if (fstat(STDIN_FILENO, &st) != 0) return false;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(STDIN_FILENO) == 1;
}

std::string heap_json(std::string_view server, const server_counters& c) {
  const memory m = read_memory();
  return "{\"event\": \"heap\", \"server\": " + json_string(server) + ", \"heap_in_use\": " +
         std::to_string(m.heap_in_use) + ", \"heap_mmap\": " + std::to_string(m.heap_mmap) + ", \"rss_kb\": " +
         std::to_string(m.rss_kb) + ", \"peak_rss_kb\": " + std::to_string(m.peak_rss_kb) + ", \"connections\": " +
         std::to_string(c.current) + "}";
}

std::string stats_json(std::string_view server, const server_options& o, const server_counters& c,
                       const fd_limit& limit, std::string_view why, std::string_view extra_fields) {
  const memory m = read_memory();
  char cpu[96];
  std::snprintf(cpu, sizeof cpu, "\"cpu_user_s\": %.3f, \"cpu_system_s\": %.3f", cpu_user_seconds(),
                cpu_system_seconds());
  const auto n = [](std::uint64_t v) { return std::to_string(v); };
  return "{\"event\": \"stats\", \"server\": " + json_string(server) + ", \"why\": " + json_string(why) +
         ", \"openssl\": " + json_string(OpenSSL_version(OPENSSL_VERSION)) + ", \"cert\": " + json_string(o.leaf) +
         ", \"release_buffers\": " + (o.release_buffers ? "true" : "false") + ", \"max_conn\": " + n(o.max_conn) +
         ", \"accepted\": " + n(c.accepted) + ", \"refused\": " + n(c.refused) + ", \"sessions_completed\": " +
         n(c.sessions_completed) + ", \"messages_good\": " + n(c.messages_good) + ", \"messages_bad\": " +
         n(c.messages_bad) + ", \"handshakes\": " + n(c.handshakes) + ", \"handshake_failures\": " +
         n(c.handshake_failures) + ", \"injections_refused\": " + n(c.injections_refused) + ", \"timeouts\": " +
         n(c.timeouts) + ", \"closed_early\": " + n(c.closed_early) + ", \"accept_errors\": " + n(c.accept_errors) +
         ", \"open\": " + n(c.current) + ", \"peak_concurrent\": " + n(c.peak_concurrent) + ", \"heap_in_use\": " +
         n(m.heap_in_use) + ", \"rss_kb\": " + n(m.rss_kb) + ", \"peak_rss_kb\": " + n(m.peak_rss_kb) + ", " + cpu +
         ", \"fd_limit\": " + limit.json() + (extra_fields.empty() ? "" : ", " + std::string(extra_fields)) + "}";
}

std::string unknown_control_json(std::string_view line) {
  return "{\"event\": \"error\", \"error\": " + json_string("unknown command '" + std::string(line) + "'") + "}";
}

void print_line(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int listen_loopback(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("bind 127.0.0.1:" + std::to_string(port) + ": " + why);
  }
  if (::listen(fd, listen_backlog) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("listen: " + why);
  }
  socklen_t len = sizeof a;
  (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

void configure_server_ctx(SSL_CTX* ctx, const server_options& o) {
  bench::setup s;
  s.certs = o.certs;
  s.leaf = o.leaf;
  s.release_buffers = o.release_buffers;
  bench::configure_openssl_ctx(ctx, s, /*server=*/true);
  // Tickets are OpenSSL's default; said here so that nobody wonders: the strict
  // profile resumes, and a TLS 1.3 server sends its tickets after every handshake.
  SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
}

std::string openssl_error_text() { return bench::openssl_errors(); }

void rate_limited_log::operator()(std::string_view what) {
  if (said_ < limit_) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(what.size()), what.data());
  } else if (said_ == limit_) {
    std::fprintf(stderr, "(more failures of this kind: see the counters)\n");
  }
  if (said_ <= limit_) ++said_;
}

}  // namespace conc
