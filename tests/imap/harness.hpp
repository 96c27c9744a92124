// Test helpers for IMAP. The units under test (the uptls IMAP server and
// client) run in the program's mode (UPTLS_TEST_MODE: Meson runs every IMAP
// program in blocking, non-blocking and buffer-driven mode), as for SMTP:
//   server_run   a uptls IMAP server for one connection: serve() over a blocking
//                stream, the event_server (epoll, one thread), or a
//                server_session over a buffer-driven stream pumped by its thread
//   client       the uptls IMAP client, each call driven to its end in the mode
// Scripted peers (peer_thread) and hand-driven connections (connect_to) are the
// test's own side and stay blocking.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "driven.hpp"
#include "support.hpp"
#include "uptls/imap.hpp"

namespace uptls::test::imap {

using namespace std::chrono_literals;

inline drive_mode mode() {
  static const drive_mode m = mode_from_environment();
  return m;
}

// Stream options short enough that a broken test ends quickly.
inline stream_options quick(milliseconds io = 5s) {
  stream_options o = uptls::imap::line_limits();
  o.io_timeout = io;
  return o;
}

// The messages of the test mailbox (INBOX), CRLF line ends.
inline const std::vector<std::string>& inbox_messages() {
  static const std::vector<std::string> m = {
      "From: a@example.org\r\nTo: alice@localhost\r\nSubject: first\r\n\r\nbody one 4f1e\r\n",
      "From: b@example.org\r\nTo: alice@localhost\r\nSubject: second\r\n\r\nbody two\r\n.leading dot\r\n"
      "{5}\r\nnot a literal\r\n",
  };
  return m;
}

// One login the test store saw.
struct login_seen {
  std::string user;
  bool over_tls = false;
};

// The application side for the tests: user "alice", password "s3cret pass",
// one INBOX with inbox_messages(). Thread-safe record of every login.
class mail_store {
 public:
  static constexpr const char* user = "alice";
  static constexpr const char* password = "s3cret \"pass\"";
  // A second user whose password needs no quoting (for clients that send it as an atom).
  static constexpr const char* plain_user = "bob";
  static constexpr const char* plain_password = "bob-pw-77";
  uptls::imap::login_handler handler();
  std::vector<login_seen> logins();

 private:
  std::mutex m_;
  std::vector<login_seen> logins_;
};

// A loopback listener whose first connection is handed to `body` in a thread.
class peer_thread {
 public:
  using body_fn = std::function<void(std::unique_ptr<socket_transport>)>;
  explicit peer_thread(body_fn body);
  ~peer_thread() { join(); }
  peer_thread(const peer_thread&) = delete;
  peer_thread& operator=(const peer_thread&) = delete;
  std::uint16_t port() const { return port_; }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::unique_ptr<tcp_listener> listener_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// A uptls IMAP server for one connection, run in the program's mode, backed by
// a mail_store, recording its trace ("C: ..." / "S: ..." / "*: ...") and why it ended.
class server_run {
 public:
  explicit server_run(uptls::imap::server_options opts, stream_options lines = quick(), drive_mode m = mode());
  ~server_run();
  server_run(const server_run&) = delete;
  server_run& operator=(const server_run&) = delete;

  std::uint16_t port() const { return port_; }
  result<> finish();
  std::vector<std::string> trace();
  // The command lines the server read, in order.
  std::vector<std::string> received();
  mail_store& store() { return store_; }

 private:
  void serve_blocking(std::unique_ptr<socket_transport> conn);
  void serve_buffer_driven(std::unique_ptr<socket_transport> conn);
  void serve_event_loop();
  void ended(result<> why);

  std::shared_ptr<uptls::imap::server_options> opts_;
  stream_options lines_;
  drive_mode mode_;
  mail_store store_;
  std::unique_ptr<tcp_listener> listener_;
  std::uint16_t port_ = 0;
  std::mutex m_;
  std::vector<std::string> trace_;
  result<> result_;
  std::thread thread_;
};

// A hand-driven (test-side) blocking stream to 127.0.0.1:port.
inline stream connect_to(std::uint16_t port, stream_options opts = quick()) {
  auto t = tcp_connect("127.0.0.1", port, {2s});
  if (!t) throw std::runtime_error("connect failed: " + to_string(t));
  opts.mode = io_mode::blocking;
  return stream(std::move(t).value(), opts);
}

struct under_test {
  stream s;
  driver d;
};
inline under_test client_to(const std::string& host, std::uint16_t port, stream_options opts = quick(),
                            drive_mode m = mode()) {
  auto t = tcp_connect(host, port, {2s});
  if (!t) throw std::runtime_error("connect failed: " + to_string(t));
  auto [s, d] = driver::make(m, std::move(t).value(), opts);
  return {std::move(s), std::move(d)};
}
inline under_test client_to(std::uint16_t port, stream_options opts = quick(), drive_mode m = mode()) {
  return client_to("127.0.0.1", port, opts, m);
}

// The uptls IMAP client under test: each call is driven to its end in the mode.
class client {
 public:
  client(under_test conn, uptls::imap::client_options opts)
      : c_(std::move(conn.s), std::move(opts)), d_(std::move(conn.d)) {}
  client(stream s, uptls::imap::client_options opts)
      : c_(std::move(s), std::move(opts)),
        d_(driver::of(c_.connection().options().mode == io_mode::blocking ? drive_mode::blocking
                                                                           : drive_mode::non_blocking)) {}

  result<> open(std::shared_ptr<const context> tls, const peer_options& peer) {
    return drive(c_.open(std::move(tls), peer));
  }
  result<> open_implicit() { return drive(c_.open_implicit()); }
  result<> open_upgraded() { return drive(c_.open_upgraded()); }
  result<> login(std::string_view u, std::string_view p) { return drive(c_.login(u, p)); }
  result<> select(std::string_view m) { return drive(c_.select(m)); }
  result<> fetch(std::uint32_t n) { return drive(c_.fetch(n)); }
  result<> noop() { return drive(c_.noop()); }
  result<> logout() { return drive(c_.logout()); }

  uptls::imap::client& unit() noexcept { return c_; }
  const std::vector<std::string>& capabilities() const noexcept { return c_.capabilities(); }
  bool supports(std::string_view c) const { return c_.supports(c); }
  bool tls_skipped() const noexcept { return c_.tls_skipped(); }
  std::error_code tls_skip_reason() const noexcept { return c_.tls_skip_reason(); }
  stream& connection() noexcept { return c_.connection(); }
  const uptls::imap::response& last_response() const noexcept { return c_.last_response(); }
  int blocked() const noexcept { return d_.blocked(); }

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
  uptls::imap::client c_;
  driver d_;
};

// The IMAP prelude on a (blocking) stream; caps (optional) gets the pre-TLS capabilities.
inline result<> run_prelude(stream& s, uptls::imap::client_options o, std::vector<std::string>* caps = nullptr) {
  uptls::imap::starttls_dialogue d(std::move(o));
  const result<> r = drive(s, [&] { return d.resume(s); });
  if (caps != nullptr) *caps = d.capabilities();
  return r;
}

// Everything the peer sends until it closes (or 5 s pass), as text.
std::string drain(transport& t, bool* closed = nullptr);
inline void raw_write(transport& t, std::string_view text) { (void)write_all(t, text); }

// read_line for scripts: the line (copied) into line; empty on success, else the error.
inline std::error_code read_line(stream& s, std::string& line) {
  const result<std::string_view> r = s.read_line();
  if (!r) {
    line.clear();
    return r.error() ? r.error() : make_error_code(errc::timeout);
  }
  line.assign(*r);
  return {};
}

// Reads lines until one starts with "tag " (or the stream fails): all of them
// joined by "\n", "ERR <message>" appended on failure.
std::string read_until_tagged(stream& s, const std::string& tag);
// Sends "tag command" and returns read_until_tagged.
std::string ask(stream& s, const std::string& tag, const std::string& command);
// The last line of a reply (the tagged one).
std::string last_line(const std::string& reply);

std::shared_ptr<const context> make_ctx(const backend& b, const tls_config& cfg, role side);
inline std::shared_ptr<const context> client_ctx() {
  return make_ctx(backend_under_test(), client_config(), role::client);
}
inline std::shared_ptr<const context> server_ctx(const std::string& leaf = "server-rsa") {
  return make_ctx(backend_under_test(), server_config(leaf), role::server);
}
inline uptls::imap::server_options with_tls(bool required = false) {
  uptls::imap::server_options o;
  o.tls = server_ctx();
  o.require_tls = required;
  return o;
}
inline peer_options localhost() { return peer_options{"localhost"}; }

}  // namespace uptls::test::imap
