// Running the matrix's cells: a uptls server on a loopback port in a thread of
// its own, and the client (uptls, or a real program started as a child
// process) in the cell's thread. Every wait is bounded by the cell's timeout;
// every child is stopped by its PID.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "matrix.hpp"
#include "uptls/errc.hpp"
#include "uptls/fallback.hpp"
#include "uptls/smtp.hpp"
#include "uptls/stream.hpp"
#include "uptls/transport.hpp"

extern char** environ;

namespace uptls::cli::matrix {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

std::string errc_name(std::error_code ec) {
  if (!ec) return {};
  if (ec.category() == uptls::category()) return std::string(to_string(static_cast<errc>(ec.value())));
  return std::string(ec.category().name()) + " " + std::to_string(ec.value());
}

std::optional<tls_version> version_named(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  return *v == "TLSv1.3" ? tls_version::tls1_3 : tls_version::tls1_2;
}

const server_config& config_of(const model& m, const std::string& id) {
  for (const server_config& s : m.server_configs) {
    if (s.id == id) return s;
  }
  throw std::runtime_error("no server configuration '" + id + "'");
}

// ---------------------------------------------------------------- child processes

struct child_result {
  bool started = false;
  bool timed_out = false;
  int status = -1;     // exit status, or 128 + signal
  std::string output;  // standard output and error together
};

// Runs argv with `input` on its standard input; kills it (by its PID) at the deadline.
child_result run_child(const std::vector<std::string>& argv, const std::string& input, std::chrono::milliseconds timeout) {
  child_result r;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return r;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    r.output = std::string("cannot start ") + argv[0] + ": " + std::strerror(rc);
    return r;
  }
  r.started = true;
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  std::size_t sent = 0;
  if (input.empty()) {
    ::close(in[1]);
    in[1] = -1;
  }
  const auto deadline = steady::now() + timeout;
  char buf[4096];
  bool open_out = true;
  while (open_out) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd fds[2] = {{out[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
    const int n = ::poll(fds, in[1] >= 0 ? 2 : 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (in[1] >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t w = ::write(in[1], input.data() + sent, input.size() - sent);
      if (w > 0) sent += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN) sent = input.size();
      if (sent == input.size()) {
        ::close(in[1]);
        in[1] = -1;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t got = ::read(out[0], buf, sizeof buf);
      if (got > 0) r.output.append(buf, static_cast<std::size_t>(got));
      else if (got == 0 || errno != EAGAIN) open_out = false;
    }
  }
  if (in[1] >= 0) ::close(in[1]);
  ::close(out[0]);
  if (r.timed_out) ::kill(pid, SIGKILL);
  int st = 0;
  // The output is closed: the child is ending. Bounded anyway.
  for (int i = 0; i < 1000; ++i) {
    const pid_t w = ::waitpid(pid, &st, i == 0 && r.timed_out ? 0 : WNOHANG);
    if (w == pid) break;
    if (i == 999) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
    }
    std::this_thread::sleep_for(2ms);
  }
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string tail(const std::string& s, std::size_t n = 600) {
  std::string t = s.size() > n ? s.substr(s.size() - n) : s;
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  return t;
}

// ---------------------------------------------------------------- the uptls server of one cell

// Serves SMTP on a loopback port until the client is done: each connection in
// turn (the ladder dials again when it climbs down).
class uptls_server {
 public:
  uptls_server(std::shared_ptr<const context> tls, bool implicit, std::chrono::milliseconds timeout)
      : tls_(std::move(tls)), implicit_(implicit), timeout_(timeout) {
    auto l = tcp_listener::listen("127.0.0.1", 0);
    if (!l) throw std::runtime_error("cannot listen on 127.0.0.1: " + to_string(l));
    listener_.emplace(std::move(*l));
    thread_ = std::thread([this] { loop(); });
  }
  ~uptls_server() { finish(); }
  std::uint16_t port() const { return listener_->port(); }
  // Stops accepting and waits for the session under way.
  void finish() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::optional<smtp::message> message;  // the first one delivered
  std::string error;                     // the last session's errc, if it failed

 private:
  void loop() {
    const auto deadline = steady::now() + timeout_;
    while (!done_ && steady::now() < deadline) {
      auto conn = listener_->accept(20ms);
      if (!conn) continue;
      stream_options so = smtp::line_limits();
      so.io_timeout = timeout_;
      stream s(std::move(*conn), so);
      smtp::server_options opts;
      opts.tls = tls_;
      opts.require_tls = true;
      opts.timeouts = {timeout_, timeout_, timeout_};
      if (implicit_) {
        if (const result<> r = s.start_tls(tls_); !r) {
          error = errc_name(r.error());
          continue;
        }
      }
      const result<> r = smtp::serve(std::move(s), opts, [this](const smtp::message& m) {
        if (!message) message = m;
      });
      error = r ? std::string() : errc_name(r.error());
    }
  }

  std::shared_ptr<const context> tls_;
  bool implicit_;
  std::chrono::milliseconds timeout_;
  std::optional<tcp_listener> listener_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------- the uptls client of one cell

constexpr const char* mail_data = "Subject: uptls matrix\r\n\r\nOne message per cell.\r\n";

outcome run_uptls_client(const cell& c, std::uint16_t port, const run_options& o) {
  outcome g;
  g.ran = true;
  const backend* b = find_backend(c.client);
  tls_config cfg;
  cfg.ca_file = o.certs + "/ca.pem";
  cfg.handshake_timeout = o.timeout;
  cfg.security = c.client_profile == "legacy" ? profile::legacy : profile::strict;
  stream_options so = smtp::line_limits();
  so.io_timeout = o.timeout;
  const bool implicit = c.mode == "implicit";
  const peer_options peer{"localhost"};

  std::optional<smtp::client> cl;
  result<> up;
  if (c.client_profile == "ladder" || c.client_profile == "ladder-eof") {
    fallback_request req;
    req.host = "127.0.0.1";
    req.port = port;
    req.socket.connect_timeout = o.timeout;
    req.stream_opts = so;
    req.before_tls = implicit ? implicit_tls() : smtp::starttls_prelude(smtp::client_options{});
    req.peer = peer;
    req.base = cfg;
    req.ladder = {{b, profile::strict}, {b, profile::legacy}};
    req.eof_is_trigger = c.client_profile == "ladder-eof";
    fallback_result fr = connect_with_fallback(req);
    g.fell_back = fr.report.attempts.size() > 1;
    if (!fr.ok()) {
      g.error = errc_name(fr.report.error);
      g.detail = fr.report.why;
      if (!fr.report.attempts.empty()) g.detail += " (" + fr.report.attempts.back().failure.text + ")";
      return g;
    }
    cl.emplace(std::move(*fr.connection), smtp::client_options{});
    up = implicit ? cl->open_implicit() : cl->open_upgraded();
  } else {
    auto made = b->make_context(cfg, role::client);
    if (!made) {
      g.error = errc_name(made.error());
      g.detail = "client context: " + to_string(made);
      return g;
    }
    auto conn = tcp_connect("127.0.0.1", port, {.connect_timeout = o.timeout});
    if (!conn) {
      g.error = errc_name(conn.error());
      g.detail = "connect";
      return g;
    }
    stream s(std::move(*conn), so);
    if (implicit) {
      if (const result<> r = s.start_tls(*made, peer); !r) {
        g.error = errc_name(r.error());
        g.detail = s.last_failure().text;
        return g;
      }
      cl.emplace(std::move(s), smtp::client_options{});
      up = cl->open_implicit();
    } else {
      cl.emplace(std::move(s), smtp::client_options{});
      up = cl->open(*made, peer);
    }
  }
  if (!up) {
    g.error = errc_name(up.error());
    g.detail = cl->connection().last_failure().text;
    return g;
  }
  if (const result<> r = cl->send_mail("matrix@example.org", {"rcpt@example.org"}, mail_data); !r) {
    g.error = errc_name(r.error());
    g.detail = "MAIL/RCPT/DATA over TLS";
    return g;
  }
  if (const result<> r = cl->quit(); !r) {
    g.error = errc_name(r.error());
    g.detail = "QUIT";
    return g;
  }
  const session_info* s = cl->connection().session();
  if (s == nullptr) {
    g.error = "internal";
    g.detail = "no session facts after a TLS session";
    return g;
  }
  g.ok = true;
  g.negotiated = facts_of(*s);
  return g;
}

// ---------------------------------------------------------------- real clients

std::vector<std::string> peer_client_argv(const std::string& peer, bool implicit, std::uint16_t port,
                                          const run_options& o) {
  const std::string p = std::to_string(port);
  const std::string ca = o.certs + "/ca.pem";
  const std::string secs = std::to_string(std::max<long long>(1, o.timeout.count() / 1000));
  if (peer == "s_client") {
    std::vector<std::string> a = {"openssl", "s_client", "-connect", "127.0.0.1:" + p, "-servername", "localhost",
                                  "-verify_hostname", "localhost", "-CAfile", ca, "-verify_return_error", "-quiet"};
    if (!implicit) a.insert(a.end(), {"-starttls", "smtp"});
    return a;
  }
  if (peer == "gnutls-cli") {
    std::vector<std::string> a = {"gnutls-cli", "--x509cafile=" + ca, "--port=" + p, "--sni-hostname=localhost",
                                  "--verify-hostname=localhost", "127.0.0.1"};
    if (!implicit) a.push_back("--starttls-proto=smtp");
    return a;
  }
  if (peer == "swaks") {
    // The address, not "localhost": swaks (IO::Socket::INET6) tries ::1 first where
    // /etc/hosts lists it, and the server listens on 127.0.0.1 only. --tls-sni
    // still names localhost.
    return {"swaks", "--server", "127.0.0.1", "--port", p, "--from", "matrix@example.org", "--to", "rcpt@example.org",
            "--ehlo", "client.example", implicit ? "--tls-on-connect" : "--tls", "--tls-verify", "--tls-ca-path", ca,
            "--tls-sni", "localhost", "--timeout", secs};
  }
  if (peer == "curl") {
    return {"curl", "-sS", "--ssl-reqd", "--cacert", ca, "--resolve", "localhost:" + p + ":127.0.0.1", "--max-time", secs,
            "--mail-from", "matrix@example.org", "--mail-rcpt", "rcpt@example.org", "-T", "-",
            std::string(implicit ? "smtps" : "smtp") + "://localhost:" + p};
  }
  if (peer == "smtplib") {
    return {"/usr/bin/python3", o.helpers + "/peer_smtplib.py", implicit ? "implicit" : "starttls", p, ca, secs};
  }
  throw std::runtime_error("no command line for the real client '" + peer + "'");
}

std::string peer_client_input(const std::string& peer) {
  if (peer == "s_client" || peer == "gnutls-cli") {
    return std::string("EHLO client.example\r\nMAIL FROM:<matrix@example.org>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\n") +
           mail_data + ".\r\nQUIT\r\n";
  }
  if (peer == "curl") return mail_data;
  return {};
}

// ---------------------------------------------------------------- real servers

// The aiosmtpd helper: one process serving every server configuration in
// both modes, each on its own port, for the whole run.
class peer_servers {
 public:
  peer_servers(const model& m, const run_options& o) {
    bool wanted = false;
    for (const peer_info& p : m.peer_servers) wanted |= p.id == "aiosmtpd";
    if (!wanted) return;
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    const std::string script = o.helpers + "/peer_smtpd.py";
    std::vector<std::string> argv = {"/usr/bin/python3", script, o.certs};
    for (const server_config& s : m.server_configs) {
      argv.push_back(s.id + ":" + s.cert + ":" + s.min.value_or("-") + ":" + s.max.value_or("-") + ":" +
                     (s.rsa_kx_only ? "rsa" : "ecdhe"));
    }
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(in[0]);
    stdin_ = in[1];
    if (rc != 0) throw std::runtime_error("cannot start /usr/bin/python3 (Debian: python3): " + std::string(std::strerror(rc)));
    // "PORT config mode port" lines, then "READY"; or an error naming the package.
    std::string text;
    char buf[1024];
    const auto deadline = steady::now() + 10s;
    while (text.find("READY\n") == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
      pollfd fd{out[0], POLLIN, 0};
      if (left <= 0 || ::poll(&fd, 1, static_cast<int>(left)) <= 0) break;
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    if (text.find("READY\n") == std::string::npos) {
      stop();
      throw std::runtime_error("the aiosmtpd peer did not start (Debian: python3-aiosmtpd): " + tail(text));
    }
    std::istringstream lines(text);
    std::string word, config, mode;
    int port = 0;
    while (lines >> word) {
      if (word != "PORT") continue;
      lines >> config >> mode >> port;
      ports_[config + "/" + mode] = static_cast<std::uint16_t>(port);
    }
  }
  ~peer_servers() { stop(); }
  std::uint16_t port(const std::string& config, const std::string& mode) const {
    const auto it = ports_.find(config + "/" + mode);
    return it == ports_.end() ? 0 : it->second;
  }

 private:
  void stop() {
    if (stdin_ >= 0) ::close(stdin_);  // the helper ends when its standard input closes
    stdin_ = -1;
    if (pid_ <= 0) return;
    int st = 0;
    for (int i = 0; i < 250 && ::waitpid(pid_, &st, WNOHANG) == 0; ++i) std::this_thread::sleep_for(4ms);
    if (::waitpid(pid_, &st, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
    }
    pid_ = -1;
  }
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::map<std::string, std::uint16_t> ports_;
};

// Whether a real program is there and runs; else the Debian package to install.
void require_program(const std::vector<std::string>& argv, const std::string& package) {
  const child_result r = run_child(argv, {}, 10s);
  if (!r.started || r.status != 0) {
    throw std::runtime_error("the matrix needs '" + argv[0] + "' (Debian: " + package + "): " + tail(r.output, 300));
  }
}

}  // namespace

void run_cells(const model& m, std::vector<cell>& cells, const run_options& o) {
  // Real peers are checked before anything runs, each by what the matrix asks of it.
  for (const peer_info& p : m.peer_clients) {
    const bool used = std::any_of(cells.begin(), cells.end(), [&](const cell& c) {
      return c.client == p.id && c.expect.what != expectation::kind::not_run;
    });
    if (!used) continue;
    if (p.id == "s_client") require_program({"openssl", "s_client", "-help"}, p.package);
    else if (p.id == "gnutls-cli") require_program({"gnutls-cli", "--version"}, p.package);
    else if (p.id == "swaks") require_program({"perl", "-MNet::SSLeay", "-e", "exec 'swaks', '--version'"}, p.package);
    else if (p.id == "curl") require_program({"curl", "--version"}, p.package);
    else if (p.id == "smtplib") require_program({"/usr/bin/python3", "-c", "import smtplib, ssl"}, p.package);
  }
  std::optional<peer_servers> servers;
  const bool any_peer_server = std::any_of(cells.begin(), cells.end(), [](const cell& c) {
    return c.server_is_peer && c.expect.what != expectation::kind::not_run;
  });
  if (any_peer_server) servers.emplace(m, o);

  // Server contexts, one per backend and configuration, shared by the cells.
  std::map<std::string, std::shared_ptr<const context>> contexts;
  std::map<std::string, std::string> context_errors;
  for (const backend* b : backends()) {
    for (const server_config& s : m.server_configs) {
      tls_config cfg;
      cfg.cert_file = o.certs + "/" + s.cert + ".pem";
      cfg.key_file = o.certs + "/" + s.cert + ".key";
      if (auto v = version_named(s.min)) cfg.min_version = *v;
      cfg.max_version = version_named(s.max);
      cfg.handshake_timeout = o.timeout;
      auto made = b->make_context(cfg, role::server);
      const std::string key = std::string(b->name()) + "/" + s.id;
      if (made) contexts[key] = *made;
      else context_errors[key] = errc_name(made.error());
    }
  }

  // The cells that start a real program take longest: they go first, so that
  // the quick ones fill the gaps at the end.
  std::vector<std::size_t> order(cells.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_partition(order.begin(), order.end(), [&](std::size_t i) { return cells[i].client_is_peer; });
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t k = next++; k < order.size(); k = next++) {
      cell& c = cells[order[k]];
      if (c.expect.what == expectation::kind::not_run) {
        judge(m, c);
        continue;
      }
      const auto start = steady::now();
      const bool implicit = c.mode == "implicit";
      if (c.server_is_peer) {
        const std::uint16_t port = servers->port(c.server_config, c.mode);
        if (port == 0) {
          c.got.ran = true;
          c.got.detail = "the peer server has no port for this configuration";
        } else {
          c.got = run_uptls_client(c, port, o);
        }
      } else {
        const std::string key = c.server + "/" + c.server_config;
        if (!contexts.count(key)) {
          c.got.ran = true;
          c.got.error = context_errors[key];
          c.got.detail = "the server's context was refused";
        } else {
          uptls_server srv(contexts[key], implicit, o.timeout);
          if (c.client_is_peer) {
            const child_result r =
                run_child(peer_client_argv(c.client, implicit, srv.port(), o), peer_client_input(c.client), o.timeout);
            srv.finish();
            c.got.ran = true;
            c.got.peer_text = tail(r.output, 2000);
            if (r.timed_out) c.got.detail = "the peer did not finish in time";
            else if (r.status == 0 && srv.message && srv.message->over_tls) {
              c.got.ok = true;
              c.got.negotiated = facts_of(srv.message->session);
            } else {
              c.got.detail = "exit status " + std::to_string(r.status) +
                             (srv.error.empty() ? "" : "; the uptls server: " + srv.error);
            }
          } else {
            c.got = run_uptls_client(c, srv.port(), o);
            srv.finish();
          }
        }
      }
      c.got.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
      judge(m, c);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < std::max(1, o.jobs); ++i) pool.emplace_back(work);
  for (std::thread& t : pool) t.join();
}

}  // namespace uptls::cli::matrix
