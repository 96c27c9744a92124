// Test helpers for POP3, on top of the SMTP harness's connection helpers. The
// units under test (the uptls POP3 server and client) run in the program's
// mode (UPTLS_TEST_MODE), so every test checks the same dialogue each way:
//   server_run   a uptls POP3 server for one connection: serve() over a blocking
//                stream, the event_server, or a server_session over a
//                buffer-driven stream pumped by its thread
//   client       the uptls POP3 client, each call driven to its end in the mode
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"  // tests/smtp: peer_thread, connect_to, client_to, contexts
#include "uptls/pop3.hpp"

namespace uptls::test::pop3 {

using namespace std::chrono_literals;
using smtp::client_ctx;
using smtp::connect_to;
using smtp::drain;
using smtp::localhost;
using smtp::make_ctx;
using smtp::mode;
using smtp::peer_thread;
using smtp::raw_write;
using smtp::server_ctx;
using smtp::under_test;

// Stream options short enough that a broken test ends quickly.
inline stream_options quick(milliseconds io = 5s) {
  stream_options o = uptls::pop3::line_limits();
  o.io_timeout = io;
  return o;
}

inline under_test client_to(std::uint16_t port, stream_options opts = quick(), drive_mode m = mode()) {
  return smtp::client_to(port, opts, m);
}

// The mailbox every test serves: alice / her password, and three messages.
inline const std::string user = "alice";
inline const std::string password = "alice-Secret-4711";
inline const std::vector<std::string>& messages() {
  static const std::vector<std::string> m = {
      "Subject: first\r\n\r\nhello\r\n",
      "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n",
      "Subject: lf only\n\nbare LF lines\nsecond\n",
  };
  return m;
}

// What the sessions' maildrops saw (shared by every maildrop of one server).
struct drop_log {
  std::mutex m;
  int made = 0;                      // maildrops made (one per PASS)
  std::vector<std::string> logins;   // "user/password tls|plain" of each login() call
  int retrieved = 0;                 // retrieve() calls
};

// A read-only maildrop over messages(), logging what it is asked.
class test_drop final : public uptls::pop3::maildrop {
 public:
  explicit test_drop(std::shared_ptr<drop_log> log) : log_(std::move(log)) {}
  bool login(const uptls::pop3::login_request& who) override {
    std::lock_guard lock(log_->m);
    log_->logins.push_back(std::string(who.user) + "/" + std::string(who.password) + (who.over_tls ? " tls" : " plain"));
    return who.user == user && who.password == password;
  }
  std::size_t count() const override { return messages().size(); }
  std::size_t size(std::size_t n) const override { return uptls::pop3::wire_size(messages().at(n - 1)); }
  std::string retrieve(std::size_t n) override {
    std::lock_guard lock(log_->m);
    ++log_->retrieved;
    return messages().at(n - 1);
  }

 private:
  std::shared_ptr<drop_log> log_;
};

inline uptls::pop3::maildrop_factory drops_of(std::shared_ptr<drop_log> log) {
  return [log]() -> std::unique_ptr<uptls::pop3::maildrop> {
    {
      std::lock_guard lock(log->m);
      ++log->made;
    }
    return std::make_unique<test_drop>(log);
  };
}

// A uptls POP3 server for one connection, run in the program's mode,
// recording its trace ("C: ..." / "S: ..." / "*: ...") and why it ended.
class server_run {
 public:
  explicit server_run(uptls::pop3::server_options opts, stream_options lines = quick(), drive_mode m = mode());
  ~server_run();
  server_run(const server_run&) = delete;
  server_run& operator=(const server_run&) = delete;

  std::uint16_t port() const { return port_; }
  result<> finish();
  std::vector<std::string> trace();
  // The lines the server read from the client, in order.
  std::vector<std::string> received();
  std::shared_ptr<drop_log> log() const { return log_; }

 private:
  void ended(result<> why);

  std::shared_ptr<uptls::pop3::server_options> opts_;
  stream_options lines_;
  drive_mode mode_;
  std::shared_ptr<drop_log> log_ = std::make_shared<drop_log>();
  std::unique_ptr<tcp_listener> listener_;
  std::uint16_t port_ = 0;
  std::mutex m_;
  std::vector<std::string> trace_;
  result<> result_;
  std::thread thread_;
};

// Server options offering STLS with the backend under test.
inline uptls::pop3::server_options with_tls(const std::string& leaf = "server-rsa") {
  uptls::pop3::server_options o;
  o.tls = server_ctx(leaf);
  return o;
}

// The uptls POP3 client under test: each call driven to its end in the mode.
class client {
 public:
  client(under_test conn, uptls::pop3::client_options opts = {})
      : c_(std::move(conn.s), std::move(opts)), d_(std::move(conn.d)) {}
  client(stream s, uptls::pop3::client_options opts)
      : c_(std::move(s), std::move(opts)),
        d_(driver::of(c_.connection().options().mode == io_mode::blocking ? drive_mode::blocking
                                                                           : drive_mode::non_blocking)) {}

  result<> open(std::shared_ptr<const context> tls, const peer_options& peer = localhost()) {
    return drive(c_.open(std::move(tls), peer));
  }
  result<> open_implicit() { return drive(c_.open_implicit()); }
  result<> open_upgraded() { return drive(c_.open_upgraded()); }
  result<> login(std::string_view u, std::string_view p) { return drive(c_.login(u, p)); }
  result<> stat() { return drive(c_.stat()); }
  result<> retr(std::size_t n) { return drive(c_.retr(n)); }
  result<> quit() { return drive(c_.quit()); }
  uptls::pop3::client& unit() { return c_; }

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
  uptls::pop3::client c_;
  driver d_;
};

// Reads one status line with the test's own parser ("ERR <message>" when the stream failed).
inline std::string read_status(stream& s) {
  std::string line;
  if (const std::error_code ec = smtp::read_line(s, line)) return "ERR " + ec.message();
  return line;
}
// Reads a dot-terminated list: its lines (without the ".") joined by "\n".
inline std::string read_list(stream& s) {
  std::string all;
  std::string line;
  for (int i = 0; i < 1000; ++i) {
    if (const std::error_code ec = smtp::read_line(s, line)) return all + "ERR " + ec.message();
    if (line == ".") return all;
    all += (all.empty() ? "" : "\n") + line;
  }
  return all + "ERR too many lines";
}
// Sends a command and returns its status line.
inline std::string ask(stream& s, std::string_view command) {
  if (const result<> w = s.write(std::string(command) + "\r\n"); !w) return "ERR " + w.error().message();
  return read_status(s);
}
inline bool starts(const std::string& text, std::string_view prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace uptls::test::pop3
