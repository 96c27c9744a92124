// Test helpers for SMTP: a uptls SMTP server (or any scripted peer) on a loopback
// port in a thread, and client connections with short timeouts.
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

#include "support.hpp"
#include "uptls/smtp.hpp"

namespace uptls::test::smtp {

using namespace std::chrono_literals;

// Socket timeouts short enough that a broken test ends quickly.
inline socket_options quick(milliseconds io = 5s) { return socket_options{2s, io}; }

// A loopback listener whose first connection is handed to `body` in a thread.
class peer_thread {
 public:
  using body_fn = std::function<void(std::unique_ptr<socket_transport>)>;

  explicit peer_thread(body_fn body, socket_options opts = quick()) {
    auto l = tcp_listener::listen("127.0.0.1", 0);
    if (!l) throw std::runtime_error("listen failed: " + l.error().message());
    listener_ = std::make_unique<tcp_listener>(std::move(l).value());
    port_ = listener_->port();
    thread_ = std::thread([this, body = std::move(body), opts] {
      auto conn = listener_->accept(10s, opts);
      if (conn) body(std::move(conn).value());
    });
  }
  ~peer_thread() { join(); }
  peer_thread(const peer_thread&) = delete;
  peer_thread& operator=(const peer_thread&) = delete;

  std::uint16_t port() const { return port_; }
  // Waits for the body to finish (it is bounded by its socket timeouts).
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::unique_ptr<tcp_listener> listener_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// A uptls SMTP server for one connection, recording what it delivered, its trace
// ("C: ..." / "S: ..." / "*: ...") and why it ended.
class server_run {
 public:
  explicit server_run(uptls::smtp::server_options opts, socket_options sock = quick(),
                      stream_options lines = uptls::smtp::line_limits())
      : opts_(std::move(opts)),
        peer_([this, lines](std::unique_ptr<socket_transport> conn) {
          auto user_trace = opts_.trace;
          opts_.trace = [this, user_trace](std::string_view d, std::string_view l) {
            std::lock_guard lock(m_);
            trace_.push_back(std::string(d) + ": " + std::string(l));
            if (user_trace) user_trace(d, l);
          };
          const std::error_code ec = uptls::smtp::serve(stream(std::move(conn), lines), opts_,
                                                        [this](const uptls::smtp::message& msg) {
                                                          std::lock_guard lock(m_);
                                                          got_.push_back(msg);
                                                        });
          std::lock_guard lock(m_);
          result_ = ec;
        }, sock) {}

  std::uint16_t port() const { return peer_.port(); }
  // Waits for the session to end and returns why it ended.
  std::error_code finish() {
    peer_.join();
    std::lock_guard lock(m_);
    return result_;
  }
  std::vector<uptls::smtp::message> messages() {
    std::lock_guard lock(m_);
    return got_;
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

 private:
  uptls::smtp::server_options opts_;
  std::mutex m_;
  std::vector<uptls::smtp::message> got_;
  std::vector<std::string> trace_;
  std::error_code result_;
  peer_thread peer_;  // last: starts after the members it uses
};

// A plaintext stream to 127.0.0.1:port.
inline stream connect_to(std::uint16_t port, socket_options opts = quick()) {
  auto t = tcp_connect("127.0.0.1", port, opts);
  if (!t) throw std::runtime_error("connect failed: " + t.error().message());
  return stream(std::move(t).value(), uptls::smtp::line_limits());
}

// Everything the peer sends until it closes (or the timeout), as text. closed
// (optional) tells whether it ended on the peer's EOF rather than an error or timeout.
inline std::string drain(transport& t, bool* closed = nullptr) {
  std::string all;
  std::byte buf[4096];
  if (closed != nullptr) *closed = false;
  for (int i = 0; i < 10000; ++i) {
    const io_result r = t.read_some(buf);
    if (r.status == io_status::eof && closed != nullptr) *closed = true;
    if (r.status != io_status::ok) break;
    all.append(reinterpret_cast<const char*>(buf), r.bytes);
  }
  return all;
}

// Writes text on a transport (raw bytes, one write call where the kernel allows).
inline void raw_write(transport& t, std::string_view text) {
  (void)write_all(t, std::as_bytes(std::span(text.data(), text.size())));
}

// Reads one SMTP reply with the test's own parser: its lines joined by "\n", or
// "ERR <errc>" when the stream failed (eof, timeout, ...).
inline std::string read_reply(stream& s) {
  std::string all;
  std::string line;
  for (int i = 0; i < 100; ++i) {
    if (const std::error_code ec = s.read_line(line)) return all + "ERR " + ec.message();
    all += line;
    if (line.size() < 4 || line[3] != '-') return all;
    all += "\n";
  }
  return all + "ERR too many lines";
}

// Sends one command line and returns the reply as read_reply gives it.
inline std::string ask(stream& s, std::string_view command) {
  if (const std::error_code ec = s.write(std::string(command) + "\r\n")) return "ERR " + ec.message();
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
  if (!made) throw std::runtime_error("make_context failed: " + made.error().message());
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

}  // namespace uptls::test::smtp

namespace uptls::test::smtp {

// A transport that counts the writes made through it (for "a reply leaves in
// one write": a scanner that reads the EHLO reply with one recv() must see all of it).
class counting_transport final : public transport {
 public:
  explicit counting_transport(std::unique_ptr<transport> inner) : inner_(std::move(inner)) {}
  io_result read_some(std::span<std::byte> buf) override { return inner_->read_some(buf); }
  io_result write_some(std::span<const std::byte> buf) override {
    ++writes_;
    return inner_->write_some(buf);
  }
  void shutdown_write() noexcept override { inner_->shutdown_write(); }
  void close() noexcept override { inner_->close(); }
  // Shared so that the test can read it while the server owns the transport.
  std::shared_ptr<std::atomic<int>> counter() const { return writes_ptr_; }

 private:
  std::unique_ptr<transport> inner_;
  std::shared_ptr<std::atomic<int>> writes_ptr_ = std::make_shared<std::atomic<int>>(0);
  std::atomic<int>& writes_ = *writes_ptr_;
};

}  // namespace uptls::test::smtp
