// uptls-demo-fallback --certs DIR [--strict BACKEND] [--legacy BACKEND]
//
// Starts a local legacy server, `openssl s_server -tls1_2 -cipher AES128-GCM-SHA256`
// (TLS 1.2 with plain RSA key exchange only, like the old mail services that answer
// a modern client with alert 40), on 127.0.0.1 with implicit TLS as on port 465.
// Shows a strict client failing, then the fallback ladder succeeding and its
// report, then stops the server. DIR holds ca.pem and server-rsa.pem/.key.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "uptls/fallback.hpp"
#include "uptls/uptls.hpp"

namespace {

using namespace std::chrono_literals;

// The legacy server as a child process in its own group; stop() ends and reaps it.
class server_process {
 public:
  bool start(const std::vector<std::string>& argv) {
    int out[2];
    int in[2];  // s_server ends a session when its stdin ends: keep it open
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) return false;
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(out[1], 2);
      setpgid(0, 0);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    close(in[0]);
    out_ = out[0];
    in_ = in[1];
    return true;
  }

  // Reads the server's output until a line holds `needle`, at most `timeout`.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    std::string seen;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t n = read(out_, buf, sizeof buf);
      if (n <= 0) return false;
      seen.append(buf, static_cast<std::size_t>(n));
      if (seen.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  void stop() {
    if (pid_ <= 0) return;
    kill(-pid_, SIGTERM);
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      usleep(10'000);
    }
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (out_ >= 0) close(out_);
    if (in_ >= 0) close(in_);
    out_ = -1;
    in_ = -1;
  }

  ~server_process() { stop(); }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;
};

const uptls::backend* pick(const std::string& name, bool need_rsa, const uptls::backend* avoid) {
  if (!name.empty()) return uptls::find_backend(name);
  const uptls::backend* fallback = nullptr;
  for (const uptls::backend* b : uptls::backends()) {
    if (need_rsa && !b->caps().rsa_key_exchange) continue;
    if (b != avoid) return b;  // a second library shows that rungs may differ
    fallback = b;
  }
  return fallback;
}

int usage() {
  std::cerr << "usage: uptls-demo-fallback --certs DIR [--strict BACKEND] [--legacy BACKEND]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string certs;
  std::string strict_name;
  std::string legacy_name;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage();
    if (arg == "--certs") certs = argv[++i];
    else if (arg == "--strict") strict_name = argv[++i];
    else if (arg == "--legacy") legacy_name = argv[++i];
    else return usage();
  }
  if (certs.empty()) return usage();

  const uptls::backend* strict_lib = pick(strict_name, false, nullptr);
  const uptls::backend* legacy_lib = pick(legacy_name, true, strict_lib);
  if (strict_lib == nullptr || legacy_lib == nullptr) {
    std::cerr << "no such backend in this build, or none with RSA key exchange for the legacy rung\n";
    return 1;
  }

  // A free loopback port for the server.
  std::uint16_t port = 0;
  {
    auto probe = uptls::tcp_listener::listen("127.0.0.1", 0);
    if (!probe) {
      std::cerr << "cannot bind 127.0.0.1: " << probe.error().message() << "\n";
      return 1;
    }
    port = probe->port();
  }

  std::cout << "== uptls fallback demo\n"
            << "legacy server: openssl s_server on 127.0.0.1:" << port
            << ", implicit TLS, TLS 1.2 with RSA key exchange only (AES128-GCM-SHA256)\n";
  server_process server;
  if (!server.start({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-tls1_2", "-cipher",
                     "AES128-GCM-SHA256", "-cert", certs + "/server-rsa.pem", "-key", certs + "/server-rsa.key"}) ||
      !server.wait_for("ACCEPT", 10s)) {
    std::cerr << "the legacy server did not start (is the openssl command installed?)\n";
    return 1;
  }

  uptls::fallback_request req;
  req.host = "127.0.0.1";
  req.port = port;
  req.socket = {5000ms, 5000ms};
  req.peer.server_name = "localhost";
  req.base.ca_file = certs + "/ca.pem";
  req.base.handshake_timeout = 10s;

  // 1. A strict client on its own, as most modern clients are.
  std::cout << "\n-- 1. strict client alone (" << strict_lib->name() << ")\n";
  req.ladder = {{strict_lib, uptls::profile::strict}};
  const uptls::fallback_result alone = uptls::connect_with_fallback(req);
  if (alone.ok()) {
    std::cerr << "unexpected: the strict client connected to an RSA-only server\n";
    return 1;
  }
  std::cout << "failed: " << alone.report.error.message() << "\n" << alone.report.to_string() << "\n";

  // 2. The ladder: strict first, legacy only for a policy mismatch before ServerHello.
  std::cout << "\n-- 2. fallback ladder: " << strict_lib->name() << " strict, then " << legacy_lib->name()
            << " legacy\n";
  uptls::pin_store pins;
  req.ladder = {{strict_lib, uptls::profile::strict}, {legacy_lib, uptls::profile::legacy}};
  req.pins = &pins;
  req.observer = [](const uptls::attempt_report& a) { std::cout << "observer: " << a.to_string() << "\n"; };
  uptls::fallback_result won = uptls::connect_with_fallback(req);
  std::cout << "report:\n" << won.report.to_string() << "\n";
  if (!won.ok()) {
    std::cerr << "the ladder failed\n";
    return 1;
  }
  const uptls::attempt_report& winner = won.report.attempts.at(*won.report.winner);
  std::cout << "winner: attempt " << winner.rung + 1 << " (" << winner.backend << " " << uptls::to_string(winner.security)
            << ") because attempt 1 ended with " << won.report.attempts.front().why << "\n"
            << "session: " << winner.session->cipher << ", forward secret: " << (winner.session->forward_secret ? "yes" : "no")
            << "; pinned strict: " << (pins.is_pinned(req.host, port) ? "yes" : "no (only a strict handshake pins a host)")
            << "\n";
  const std::error_code wrote = won.connection->write("hello from the legacy rung\n");
  const bool echoed = !wrote && server.wait_for("hello from the legacy rung", 5s);
  std::cout << "sent a line over the fallback session: " << (echoed ? "the server received it" : "not received") << "\n";
  (void)won.connection->close();

  std::cout << "\n-- 3. stopping the legacy server\n";
  server.stop();
  return echoed ? 0 : 1;
}
