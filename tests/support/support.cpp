#include "support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

// Where Debian's Dovecot keeps the programs of each service (imap, pop3-login, ...).
#ifndef UPTLS_DOVECOT_LIBEXEC
#define UPTLS_DOVECOT_LIBEXEC "/usr/lib/dovecot"
#endif

#ifndef UPTLS_TEST_CERTS
#error "UPTLS_TEST_CERTS must name the directory of the test certificates"
#endif

namespace uptls::test {

std::string cert(const std::string& name) { return std::string(UPTLS_TEST_CERTS) + "/" + name; }

tls_config client_config(profile p) {
  tls_config c;
  c.security = p;
  c.ca_file = cert("ca.pem");
  c.handshake_timeout = 10s;
  return c;
}

tls_config server_config(const std::string& leaf, profile p) {
  tls_config c;
  c.security = p;
  c.cert_file = cert(leaf + ".pem");
  c.key_file = cert(leaf + ".key");
  c.handshake_timeout = 10s;
  return c;
}

bool private_network() {
  const char* v = std::getenv("UPTLS_PRIVATE_NET");
  return v != nullptr && std::string(v) == "1";
}

bool have_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t end = p.find(':', start);
    const std::string dir = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

namespace {

// Runs a short check command; its exit status and everything it printed.
struct probe_run {
  int status = -1;
  std::string out;
};
probe_run probe(const std::vector<std::string>& argv) {
  auto c = child::spawn(argv);
  probe_run r;
  r.out = c->read_all(10s);  // until the program closes its output
  r.status = c->wait(10s);
  return r;
}

// The words on the line of `text` that starts with `label` (curl -V's "Protocols:").
std::vector<std::string> words_after(const std::string& text, const std::string& label) {
  std::vector<std::string> words;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.compare(0, label.size(), label) != 0) continue;
    std::istringstream rest(line.substr(label.size()));
    for (std::string w; rest >> w;) words.push_back(w);
  }
  return words;
}

std::string not_installed(const std::string& program, const std::string& package) {
  return program + " is not installed: install the Debian package " + package +
         " (./dev installs it; a test that needs this peer never passes without it)";
}

std::string check_peer(peer_program p) {
  const std::string py = "/usr/bin/python3";
  switch (p) {
    case peer_program::openssl: {
      if (!have_program("openssl")) return not_installed("openssl", "openssl");
      const probe_run r = probe({"openssl", "version"});
      if (r.status != 0 || r.out.find("OpenSSL") == std::string::npos) return "openssl version failed: " + r.out;
      return {};
    }
    case peer_program::gnutls_cli:
    case peer_program::gnutls_serv: {
      const std::string prog = p == peer_program::gnutls_cli ? "gnutls-cli" : "gnutls-serv";
      if (!have_program(prog)) return not_installed(prog, "gnutls-bin");
      const probe_run r = probe({prog, "--version"});
      if (r.status != 0) return prog + " --version failed: " + r.out;
      return {};
    }
    case peer_program::swaks_tls: {
      if (!have_program("swaks")) return not_installed("swaks", "swaks");
      // swaks only recommends its TLS module; without it every --tls run fails early.
      const probe_run r = probe({"swaks", "--support"});
      if (r.out.find("=== TLS supported") == std::string::npos) {
        const std::size_t at = r.out.find("TLS not available");
        const std::string said = at == std::string::npos ? r.out : r.out.substr(at, r.out.find('\n', at) - at);
        return "swaks cannot do TLS (swaks --support: \"" + said +
               "\"): install the Debian package libnet-ssleay-perl (./dev installs it)";
      }
      return {};
    }
    case peer_program::curl_smtp_tls: {
      if (!have_program("curl")) return not_installed("curl", "curl");
      const probe_run r = probe({"curl", "-V"});
      const bool smtp = r.out.find(" smtp ") != std::string::npos || r.out.find(" smtp\n") != std::string::npos;
      const bool tls = r.out.find(" SSL") != std::string::npos;
      if (r.status != 0 || !smtp || !tls) return "curl lacks SMTP or TLS (curl -V: " + r.out + ")";
      return {};
    }
    case peer_program::curl_imap_pop3_tls: {
      if (!have_program("curl")) return not_installed("curl", "curl");
      const probe_run r = probe({"curl", "-V"});
      const std::vector<std::string> protocols = words_after(r.out, "Protocols:");
      const std::vector<std::string> features = words_after(r.out, "Features:");
      const auto has = [](const std::vector<std::string>& v, const char* w) {
        return std::find(v.begin(), v.end(), w) != v.end();
      };
      if (r.status != 0 || !has(protocols, "imap") || !has(protocols, "pop3") || !has(features, "SSL")) {
        return "curl lacks IMAP, POP3 or TLS (curl -V: " + r.out + ")";
      }
      return {};
    }
    case peer_program::python3:
    case peer_program::python3_aiosmtpd: {
      if (!have_program(py)) return not_installed(py, "python3");
      const bool aio = p == peer_program::python3_aiosmtpd;
      const probe_run r =
          probe({py, "-c", aio ? "import ssl, aiosmtpd.controller" : "import ssl, smtplib, imaplib, poplib"});
      if (r.status == 0) return {};
      if (aio) return "python3 cannot import aiosmtpd: install the Debian package python3-aiosmtpd (./dev installs it): " + r.out;
      return "python3 cannot import ssl, smtplib, imaplib and poplib: " + r.out;
    }
    case peer_program::dovecot: {
      // The master program is in dovecot-core; each protocol is a package of its
      // own, and a dovecot.conf naming a protocol whose binary is missing fails to start.
      const std::string packages =
          "dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-managesieved dovecot-sieve";
      const std::string sbin = have_program("dovecot") ? "dovecot" : "/usr/sbin/dovecot";
      if (!have_program(sbin)) return not_installed("dovecot", packages);
      const probe_run r = probe({sbin, "--version"});
      if (r.status != 0 || r.out.empty() || !std::isdigit(static_cast<unsigned char>(r.out[0]))) {
        return "dovecot --version failed (" + r.out + "): reinstall the Debian packages " + packages;
      }
      for (const char* part : {"imap", "imap-login", "pop3", "pop3-login", "lmtp", "managesieve",
                               "managesieve-login"}) {
        if (access((std::string(UPTLS_DOVECOT_LIBEXEC) + "/" + part).c_str(), X_OK) != 0) {
          return std::string("Dovecot has no ") + UPTLS_DOVECOT_LIBEXEC + "/" + part +
                 ": install the Debian packages " + packages + " (./dev installs them)";
        }
      }
      // The harness starts Dovecot as root; Dovecot then runs its login processes
      // as dovenull, its internal ones as dovecot (both made by dovecot-core) and
      // the mail of the test user as nobody:nogroup.
      if (geteuid() != 0) return "the Dovecot harness starts Dovecot as root: run the tests as root";
      for (const char* user : {"dovenull", "dovecot", "nobody"}) {
        if (getpwnam(user) == nullptr) {
          return std::string("no user ") + user + ": reinstall the Debian package dovecot-core (it makes dovenull and dovecot)";
        }
      }
      if (getgrnam("nogroup") == nullptr) return "no group nogroup (Debian's base-passwd makes it)";
      return {};
    }
  }
  return "unknown peer program";
}

}  // namespace

std::string peer_problem(peer_program p) {
  static std::mutex m;
  static std::map<peer_program, std::string> known;
  const std::lock_guard lock(m);
  auto it = known.find(p);
  if (it == known.end()) it = known.emplace(p, check_peer(p)).first;
  return it->second;
}

result<> write_all(transport& t, std::span<const std::byte> bytes, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!bytes.empty()) {
    const result<std::size_t> r = t.write_some(bytes);
    if (r.ok()) {
      bytes = bytes.subspan(*r);
      continue;
    }
    if (!r.would_block()) return r.status();
    if (const result<> w = t.wait(wait_for::write, deadline); !w) return w;
  }
  return {};
}

result<> write_all(transport& t, std::string_view text, std::chrono::milliseconds limit) {
  return write_all(t, std::as_bytes(std::span(text.data(), text.size())), limit);
}

result<std::size_t> read_some_within(transport& t, std::span<std::byte> buf, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const result<std::size_t> r = t.read_some(buf);
    if (!r.would_block()) return r;
    if (const result<> w = t.wait(wait_for::read, deadline); !w) return w;
  }
}

std::uint16_t free_port() {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  if (!l) throw std::runtime_error("cannot bind a loopback port");
  return l->port();
}

bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (tcp_connect("127.0.0.1", port, {100ms})) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::unique_ptr<child> child::spawn(const std::vector<std::string>& argv, bool separate_stderr) {
  return start(argv, false, separate_stderr);
}

std::unique_ptr<child> child::spawn_bound(const std::vector<std::string>& argv) { return start(argv, true, false); }

std::unique_ptr<child> child::start(const std::vector<std::string>& argv, bool bound, bool separate_stderr) {
  const pid_t parent = getpid();
  int in[2];
  int out[2];
  int err[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  if (separate_stderr && pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(separate_stderr ? err[1] : out[1], 2);
    setpgid(0, 0);  // its own group: stop() ends helpers it starts too
    if (bound && (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)) _exit(127);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  if (separate_stderr) close(err[1]);
  std::unique_ptr<child> c(new child());
  c->err_ = err[0];
  c->pid_ = pid;
  c->in_ = in[1];
  c->out_ = out[0];
  (void)fcntl(c->out_, F_SETFL, O_NONBLOCK);
  return c;
}

child::~child() {
  stop();
  if (in_ >= 0) close(in_);
  if (out_ >= 0) close(out_);
  if (err_ >= 0) close(err_);
}

std::string child::read_stderr(std::chrono::milliseconds timeout) {
  std::string all;
  if (err_ < 0) return all;
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return all;
    pollfd p{err_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(err_, buf, sizeof buf);
    if (n <= 0) return all;
    all.append(buf, static_cast<std::size_t>(n));
  }
}

std::error_code child::read_line(std::string& line, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto nl = pending_.find('\n');
    if (nl != std::string::npos) {
      line = pending_.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      pending_.erase(0, nl + 1);
      return {};
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return errc::timeout;
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(out_, buf, sizeof buf);
    if (n == 0) {
      if (pending_.empty()) return errc::eof;
      line.swap(pending_);
      pending_.clear();
      return {};
    }
    if (n > 0) pending_.append(buf, static_cast<std::size_t>(n));
  }
}

bool child::wait_for_output(const std::string& needle, std::chrono::milliseconds timeout, std::string* seen) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  std::string line;
  while (std::chrono::steady_clock::now() < end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (read_line(line, left)) return false;
    if (seen) seen->append(line).append("\n");
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string child::read_all(std::chrono::milliseconds timeout) {
  std::string all;
  std::string line;
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (read_line(line, left)) break;
    all.append(line).append("\n");
  }
  return all;
}

void child::write_stdin(const std::string& text) {
  if (in_ < 0) return;
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = write(in_, text.data() + off, text.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

void child::close_stdin() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

int child::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return status_;
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= end) return -1;
    std::this_thread::sleep_for(10ms);
  }
}

void child::stop() {
  if (pid_ <= 0 || reaped_) return;
  kill(-pid_, SIGTERM);
  kill(pid_, SIGTERM);
  if (wait(2s) >= 0) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  (void)wait(5s);
}

}  // namespace uptls::test
