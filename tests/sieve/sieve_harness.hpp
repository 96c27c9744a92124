// Test helpers for ManageSieve. The units under test (the uptls ManageSieve
// server and client) run in the program's mode (UPTLS_TEST_MODE), as the SMTP
// ones do (tests/smtp/harness.hpp, whose scripted peers and hand-driven
// connections these tests share):
//   server_run   a uptls ManageSieve server for one connection: serve() over a
//                blocking stream, the event_server (epoll), or a server_session
//                over a buffer-driven stream pumped by its thread
//   client       the uptls ManageSieve client, each call driven to its end in the mode
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "uptls/sieve.hpp"

namespace uptls::test::sieve {

using namespace std::chrono_literals;
using smtp::client_ctx;
using smtp::connect_to;
using smtp::drain;
using smtp::localhost;
using smtp::mode;
using smtp::peer_thread;
using smtp::raw_write;
using smtp::read_line;
using smtp::server_ctx;

inline stream_options quick(milliseconds io = 5s) {
  stream_options o = uptls::sieve::line_limits();
  o.io_timeout = io;
  return o;
}

// Server options that offer STARTTLS with the backend under test, a login
// alice / secret and a script store holding one active-able script.
inline uptls::sieve::server_options with_tls(const std::string& leaf = "server-rsa") {
  uptls::sieve::server_options o;
  o.tls = server_ctx(leaf);
  o.check_login = [](std::string_view, std::string_view user, std::string_view password) {
    return user == "alice" && password == "secret";
  };
  o.handler = uptls::sieve::script_store({{"vacation", "require \"vacation\";\r\nvacation \"away\";\r\n"}});
  return o;
}

class server_run {
 public:
  explicit server_run(uptls::sieve::server_options opts, stream_options lines = quick(), drive_mode m = mode())
      : opts_(std::make_shared<uptls::sieve::server_options>(std::move(opts))), lines_(lines), mode_(m) {
    auto user_trace = opts_->trace;
    opts_->trace = [this, user_trace](std::string_view d, std::string_view l) {
      {
        std::lock_guard lock(m_);
        trace_.push_back(std::string(d) + ": " + std::string(l));
      }
      if (user_trace) user_trace(d, l);
    };
    auto l = tcp_listener::listen("127.0.0.1", 0);
    if (!l) throw std::runtime_error("listen failed: " + to_string(l));
    listener_ = std::make_unique<tcp_listener>(std::move(l).value());
    port_ = listener_->port();
    thread_ = std::thread([this] {
      if (mode_ == drive_mode::non_blocking) return serve_event_loop();
      auto conn = listener_->accept(15s);
      if (!conn) return ended(conn.status());
      if (mode_ == drive_mode::blocking) {
        stream_options o = lines_;
        o.mode = io_mode::blocking;
        return ended(uptls::sieve::serve(stream(std::move(conn).value(), o), *opts_));
      }
      auto [s, d] = driver::make(drive_mode::buffer_driven, std::move(conn).value(), lines_);
      uptls::sieve::server_session session(std::move(s), opts_);
      ended(d.run(session.connection(), [&] { return session.resume(); }, 60s));
      d.pump_out(session.connection());
    });
  }
  ~server_run() {
    if (thread_.joinable()) thread_.join();
  }
  server_run(const server_run&) = delete;
  server_run& operator=(const server_run&) = delete;

  std::uint16_t port() const { return port_; }
  result<> finish() {
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(m_);
    return result_;
  }
  std::vector<std::string> trace() {
    std::lock_guard lock(m_);
    return trace_;
  }
  // The lines the server read from the client, in order.
  std::vector<std::string> received() {
    std::vector<std::string> out;
    for (const auto& t : trace()) {
      if (t.rfind("C: ", 0) == 0) out.push_back(t.substr(3));
    }
    return out;
  }
  bool traced(const std::string& line) {
    const auto t = trace();
    return std::find(t.begin(), t.end(), line) != t.end();
  }

 private:
  void ended(result<> why) {
    std::lock_guard lock(m_);
    result_ = why;
  }
  void serve_event_loop() {
    event_server_options eo;
    eo.stream = lines_;
    std::atomic<bool> over{false};
    eo.on_session_end = [this, &over](loop_session&, const result<>& why) {
      ended(why);
      over = true;
    };
    auto server = event_server::make(std::move(*listener_), uptls::sieve::session_factory(opts_), eo);
    if (!server) return ended(server.status());
    const auto end = std::chrono::steady_clock::now() + 60s;
    while (!over && std::chrono::steady_clock::now() < end) {
      if (const result<> r = (*server)->run_once(100ms); !r) return ended(r);
      if ((*server)->stats().accepted == 0 && std::chrono::steady_clock::now() > end - 45s) {
        return ended(make_error_code(errc::timeout));
      }
    }
    if (!over) ended(make_error_code(errc::timeout));
  }

  std::shared_ptr<uptls::sieve::server_options> opts_;
  stream_options lines_;
  drive_mode mode_;
  std::unique_ptr<tcp_listener> listener_;
  std::uint16_t port_ = 0;
  std::mutex m_;
  std::vector<std::string> trace_;
  result<> result_;
  std::thread thread_;
};

// The uptls ManageSieve client under test, each call driven to its end in the mode.
class client {
 public:
  client(smtp::under_test conn, uptls::sieve::client_options opts = {})
      : c_(std::move(conn.s), std::move(opts)), d_(std::move(conn.d)) {}

  result<> open(std::shared_ptr<const context> tls, const peer_options& peer) {
    return drive(c_.open(std::move(tls), peer));
  }
  result<> authenticate(std::string_view user, std::string_view password) {
    return drive(c_.authenticate(user, password));
  }
  result<> listscripts() { return drive(c_.listscripts()); }
  result<> logout() { return drive(c_.logout()); }

  uptls::sieve::client& unit() noexcept { return c_; }
  const std::vector<uptls::sieve::capability>& capabilities() const noexcept { return c_.capabilities(); }
  bool supports(std::string_view name) const { return c_.supports(name); }
  std::string capability_value(std::string_view name) const { return c_.capability_value(name); }
  stream& connection() noexcept { return c_.connection(); }

 private:
  result<> drive(result<> first) {
    bool started = false;
    return d_.run(c_.connection(), [&] {
      if (!started) {
        started = true;
        return first;
      }
      return c_.resume();
    });
  }
  uptls::sieve::client c_;
  driver d_;
};

inline smtp::under_test client_to(std::uint16_t port, stream_options opts = quick(), const std::string& host = "127.0.0.1") {
  auto t = tcp_connect(host, port, {2s});
  if (!t) throw std::runtime_error("connect failed: " + to_string(t));
  auto [s, d] = driver::make(mode(), std::move(t).value(), opts);
  return {std::move(s), std::move(d)};
}

// Reads lines up to and including a status line (OK / NO / BYE): all of them, "\n"-joined.
inline std::string read_response(stream& s) {
  std::string all;
  std::string line;
  for (int i = 0; i < 200; ++i) {
    if (const std::error_code ec = read_line(s, line)) return all + "ERR " + ec.message();
    all += line;
    if (line.rfind("OK", 0) == 0 || line.rfind("NO", 0) == 0 || line.rfind("BYE", 0) == 0) return all;
    all += "\n";
  }
  return all + "ERR too many lines";
}
inline std::string ask(stream& s, std::string_view command) {
  if (const result<> w = s.write(std::string(command) + "\r\n"); !w) return "ERR " + w.error().message();
  return read_response(s);
}

}  // namespace uptls::test::sieve
