// A local peer server run by the demo as a child process in its own process group,
// with its stdin kept open (both peers end when it closes) and its output read
// with a timeout. Always stopped and reaped, at the latest by the destructor.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace demo {

class server_process {
 public:
  server_process() = default;
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;
  ~server_process() { stop(); }

  // Starts argv[0] (searched in PATH) with stdout and stderr on one pipe; false when
  // the pipes or the fork failed (an exec failure shows as exit status 127).
  bool start(const std::vector<std::string>& argv) {
    int out[2];
    int in[2];
    if (pipe2(out, O_CLOEXEC) != 0) return false;
    if (pipe2(in, O_CLOEXEC) != 0) {
      close(out[0]);
      close(out[1]);
      return false;
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = fork();
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
    if (pid_ < 0) {
      stop();
      return false;
    }
    return true;
  }

  // Reads the server's output until it holds `needle`, at most `timeout`; false on
  // timeout or when the server exited first. `seen` (optional) gets what was read.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout, std::string* seen = nullptr) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    std::string text;
    bool found = false;
    while (!found && std::chrono::steady_clock::now() < end) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t n = read(out_, buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      found = text.find(needle) != std::string::npos;
    }
    if (seen != nullptr) *seen = std::move(text);
    return found;
  }

  // Closes the server's stdin (its own way to end) and waits up to `grace` for it
  // to exit; true when it did, with its wait status in *status.
  bool end_input(std::chrono::milliseconds grace, int* status) {
    if (in_ >= 0) close(in_);
    in_ = -1;
    const auto end = std::chrono::steady_clock::now() + grace;
    while (pid_ > 0 && std::chrono::steady_clock::now() < end) {
      if (waitpid(pid_, status, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      usleep(10'000);
    }
    return false;
  }

  // Ends the process group of the child we started (SIGTERM, then SIGKILL after
  // 2 s) and reaps the child.
  void stop() {
    if (pid_ > 0) {
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
    }
    if (out_ >= 0) close(out_);
    if (in_ >= 0) close(in_);
    out_ = -1;
    in_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;  // s_server ends a session, and the SMTP script exits, when stdin ends
};

}  // namespace demo
