// Test helpers for SMTP. The units under test (the uptls SMTP server and client)
// run in the program's mode (UPTLS_TEST_MODE: Meson runs every SMTP program in
// blocking, non-blocking and buffer-driven mode), so every test checks the same
// dialogue all three ways:
//   server_run   a uptls SMTP server for one connection: serve() over a blocking
//                stream, the event_server (epoll, one thread), or a
//                server_session over a buffer-driven stream pumped by its thread
//   client       the uptls SMTP client, each call driven to its end in the mode
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
#include "uptls/smtp.hpp"

namespace uptls::test::smtp {

using namespace std::chrono_literals;

// The mode of this program's units under test.
inline drive_mode mode() {
  static const drive_mode m = mode_from_environment();
  return m;
}

// Stream options short enough that a broken test ends quickly.
inline stream_options quick(milliseconds io = 5s) {
  stream_options o = uptls::smtp::line_limits();
  o.io_timeout = io;
  return o;
}

// A loopback listener whose first connection is handed to `body` in a thread.
class peer_thread {
 public:
  using body_fn = std::function<void(std::unique_ptr<socket_transport>)>;

  explicit peer_thread(body_fn body) {
    auto l = tcp_listener::listen("127.0.0.1", 0);
    if (!l) throw std::runtime_error("listen failed: " + to_string(l));
    listener_ = std::make_unique<tcp_listener>(std::move(l).value());
    port_ = listener_->port();
    thread_ = std::thread([this, body = std::move(body)] {
      auto conn = listener_->accept(10s);
      if (conn) body(std::move(conn).value());
    });
  }
  ~peer_thread() { join(); }
  peer_thread(const peer_thread&) = delete;
  peer_thread& operator=(const peer_thread&) = delete;

  std::uint16_t port() const { return port_; }
  // Waits for the body to finish (it is bounded by its streams' timeouts).
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::unique_ptr<tcp_listener> listener_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// A uptls SMTP server for one connection, run in the program's mode, recording
// what it delivered, its trace ("C: ..." / "S: ..." / "*: ...") and why it ended.
class server_run {
 public:
  explicit server_run(uptls::smtp::server_options opts, stream_options lines = quick(), drive_mode m = mode());
  ~server_run();
  server_run(const server_run&) = delete;
  server_run& operator=(const server_run&) = delete;

  std::uint16_t port() const { return port_; }
  // Waits for the session to end and returns why it ended.
  result<> finish();
  std::vector<uptls::smtp::message> messages();
  std::vector<std::string> trace();
  // The lines the server read from the client, in order.
  std::vector<std::string> received();

 private:
  void serve_blocking(std::unique_ptr<socket_transport> conn);
  void serve_buffer_driven(std::unique_ptr<socket_transport> conn);
  void serve_event_loop();
  void ended(result<> why);

  std::shared_ptr<uptls::smtp::server_options> opts_;
  stream_options lines_;
  drive_mode mode_;
  std::unique_ptr<tcp_listener> listener_;
  std::uint16_t port_ = 0;
  std::mutex m_;
  std::vector<uptls::smtp::message> got_;
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

// The connection of a unit under test: its stream in the program's mode, and
// the driver that drives it.
struct under_test {
  stream s;
  driver d;
};
inline under_test client_to(std::uint16_t port, stream_options opts = quick(), drive_mode m = mode()) {
  auto t = tcp_connect("127.0.0.1", port, {2s});
  if (!t) throw std::runtime_error("connect failed: " + to_string(t));
  auto [s, d] = driver::make(m, std::move(t).value(), opts);
  return {std::move(s), std::move(d)};
}

// The uptls SMTP client under test: each call is driven to its end in the mode
// (a non-blocking one is resumed after each wait, a buffer-driven one pumped).
class client {
 public:
  client(under_test conn, uptls::smtp::client_options opts)
      : c_(std::move(conn.s), std::move(opts)), d_(std::move(conn.d)) {}
  // Over a stream made elsewhere (the fallback ladder's), in its own mode.
  client(stream s, uptls::smtp::client_options opts)
      : c_(std::move(s), std::move(opts)),
        d_(driver::of(c_.connection().options().mode == io_mode::blocking ? drive_mode::blocking
                                                                           : drive_mode::non_blocking)) {}

  result<> open(std::shared_ptr<const context> tls, const peer_options& peer) {
    return drive(c_.open(std::move(tls), peer));
  }
  result<> open_implicit() { return drive(c_.open_implicit()); }
  result<> open_upgraded() { return drive(c_.open_upgraded()); }
  result<> send_mail(std::string_view from, const std::vector<std::string>& to, std::string_view data) {
    return drive(c_.send_mail(from, to, data));
  }
  result<> quit() { return drive(c_.quit()); }

  const std::vector<std::string>& capabilities() const noexcept { return c_.capabilities(); }
  bool supports(std::string_view keyword) const { return c_.supports(keyword); }
  bool tls_skipped() const noexcept { return c_.tls_skipped(); }
  std::error_code tls_skip_reason() const noexcept { return c_.tls_skip_reason(); }
  const std::vector<int>& recipient_replies() const noexcept { return c_.recipient_replies(); }
  stream& connection() noexcept { return c_.connection(); }
  const uptls::smtp::reply& last_reply() const noexcept { return c_.last_reply(); }
  // How often a call would block so far (0 in blocking mode).
  int blocked() const noexcept { return d_.blocked(); }
  // Sends a raw command line on the client's stream, behind the client's back,
  // and reads the reply (as read_reply gives it), in the mode.
  std::string ask(std::string_view command) {
    stream& s = c_.connection();
    if (const result<> w = s.write(std::string(command) + "\r\n"); !w) return "ERR " + w.error().message();
    std::string all;
    for (int i = 0; i < 100; ++i) {
      const result<std::string_view> line = d_.run(s, [&] { return s.read_line(); });
      if (!line) return all + "ERR " + line.error().message();
      all.append(*line);
      if (line->size() < 4 || (*line)[3] != '-') return all;
      all += "\n";
    }
    return all + "ERR too many lines";
  }

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

  uptls::smtp::client c_;
  driver d_;
};

// The SMTP prelude (greeting, EHLO, STARTTLS, 220) on a (blocking) stream;
// caps (optional) gets the pre-TLS EHLO keywords.
inline result<> run_prelude(stream& s, uptls::smtp::client_options o, std::vector<std::string>* caps = nullptr) {
  uptls::smtp::starttls_dialogue d(std::move(o));
  const result<> r = drive(s, [&] { return d.resume(s); });
  if (caps != nullptr) *caps = d.capabilities();
  return r;
}

// Everything the peer sends until it closes (or 5 s pass), as text. closed
// (optional) tells whether it ended on the peer's end of stream rather than an
// error or the time limit.
inline std::string drain(transport& t, bool* closed = nullptr) {
  std::string all;
  std::byte buf[4096];
  if (closed != nullptr) *closed = false;
  for (int i = 0; i < 10000; ++i) {
    const result<std::size_t> r = read_some_within(t, buf, 5s);
    if (r.ok() && *r == 0 && closed != nullptr) *closed = true;
    if (!r.ok() || *r == 0) break;
    all.append(reinterpret_cast<const char*>(buf), *r);
  }
  return all;
}

// Writes text on a transport (raw bytes, one write call where the kernel allows).
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

// Reads one SMTP reply with the test's own parser: its lines joined by "\n", or
// "ERR <message>" when the stream failed (eof, timeout, ...).
inline std::string read_reply(stream& s) {
  std::string all;
  std::string line;
  for (int i = 0; i < 100; ++i) {
    if (const std::error_code ec = read_line(s, line)) return all + "ERR " + ec.message();
    all += line;
    if (line.size() < 4 || line[3] != '-') return all;
    all += "\n";
  }
  return all + "ERR too many lines";
}

// Sends one command line and returns the reply as read_reply gives it.
inline std::string ask(stream& s, std::string_view command) {
  if (const result<> w = s.write(std::string(command) + "\r\n"); !w) return "ERR " + w.error().message();
  return read_reply(s);
}

// The reply code at the start of a reply, or 0.
inline int code_of(const std::string& reply) {
  if (reply.size() < 3 || reply[0] < '0' || reply[0] > '9') return 0;
  return std::stoi(reply.substr(0, 3));
}

// A compiled context or a test failure.
inline std::shared_ptr<const context> make_ctx(const backend& b, const tls_config& cfg, role side) {
  auto made = b.make_context(cfg, side);
  if (!made) throw std::runtime_error("make_context failed: " + to_string(made));
  return std::move(made).value();
}

// Contexts of the backend under test: a client trusting the test CA, a server with `leaf`.
inline std::shared_ptr<const context> client_ctx() {
  return make_ctx(backend_under_test(), client_config(), role::client);
}
inline std::shared_ptr<const context> server_ctx(const std::string& leaf = "server-rsa") {
  return make_ctx(backend_under_test(), server_config(leaf), role::server);
}
// Server options that offer STARTTLS with the backend under test.
inline uptls::smtp::server_options with_tls(const std::string& leaf = "server-rsa") {
  uptls::smtp::server_options o;
  o.tls = server_ctx(leaf);
  return o;
}
inline peer_options localhost() { return peer_options{"localhost"}; }

// A transport that counts the writes made through it (for "a reply leaves in
// one write": a scanner that reads the EHLO reply with one recv() must see all of it).
class counting_transport final : public transport {
 public:
  explicit counting_transport(std::unique_ptr<transport> inner) : inner_(std::move(inner)) {}
  result<std::size_t> read_some(std::span<std::byte> buf) override { return inner_->read_some(buf); }
  result<std::size_t> write_some(std::span<const std::byte> buf) override {
    ++*writes_;
    return inner_->write_some(buf);
  }
  void shutdown_write() noexcept override { inner_->shutdown_write(); }
  void close() noexcept override { inner_->close(); }
  result<> wait(wait_for w, clock::time_point deadline) override { return inner_->wait(w, deadline); }
  int native_handle() const noexcept override { return inner_->native_handle(); }
  // Shared so that the test can read it while the server owns the transport.
  std::shared_ptr<std::atomic<int>> counter() const { return writes_; }

 private:
  std::unique_ptr<transport> inner_;
  std::shared_ptr<std::atomic<int>> writes_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace uptls::test::smtp
