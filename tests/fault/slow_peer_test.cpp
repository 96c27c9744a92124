// Slow and silent peers against the event_server's SMTP server (short timeouts
// here): a client that never sends anything, one that stops in the middle of
// the TLS handshake, and one that trickles a command one byte per second. Each
// meets its own timeout with a clear error (421 4.4.2 and errc::timeout for the
// dialogue, errc::timeout for the handshake), while other clients of the same
// server, on the same thread, are served meanwhile with a small latency.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "harness.hpp"

using namespace uptls;
using namespace uptls::test;
using namespace uptls::test::smtp;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// The server's configured bounds: short, so that the test takes seconds.
constexpr auto greeting_timeout = 1500ms;
constexpr auto command_timeout = 2500ms;
constexpr auto handshake_timeout = 1500ms;
constexpr auto stream_io_timeout = 1500ms;  // per wait without a byte moving
// Slack for a loaded machine (the sanitizer build, other tests at once).
constexpr auto slack = 1500ms;

std::uint16_t port_of(int fd, bool peer) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                      : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (rc != 0 || a.ss_family != AF_INET) return 0;
  return ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

// The event server on its own thread, recording why each session ended, by the
// client's port.
class server_thread {
 public:
  server_thread() {
    tls_config cfg = server_config();
    cfg.handshake_timeout = handshake_timeout;
    auto opts = std::make_shared<uptls::smtp::server_options>();
    opts->hostname = "mx.test";
    opts->tls = make_ctx(backend_under_test(), cfg, role::server);
    opts->require_tls = true;
    opts->timeouts = {greeting_timeout, command_timeout, command_timeout};
    event_server_options eo;
    eo.stream = quick(stream_io_timeout);
    // Sessions are told apart by the client's port, noted as each one starts
    // (by the time it ends its socket may be closed).
    eo.on_session_end = [this](loop_session& s, const result<>& why) {
      const std::lock_guard lock(m_);
      ended_[ports_[&s]] = why;
      ports_.erase(&s);
    };
    auto l = tcp_listener::listen("127.0.0.1", 0);
    if (!l) throw std::runtime_error("listen: " + to_string(l));
    auto inner = uptls::smtp::session_factory(opts, [this](const uptls::smtp::message&) { ++delivered_; });
    auto factory = [this, inner](stream s) {
      const std::uint16_t client_port = port_of(s.native_handle(), true);
      auto session = inner(std::move(s));
      const std::lock_guard lock(m_);
      ports_[session.get()] = client_port;
      return session;
    };
    auto srv = event_server::make(std::move(l).value(), factory, eo);
    if (!srv) throw std::runtime_error("event_server: " + to_string(srv));
    server_ = std::move(srv).value();
    port_ = server_->port();
    thread_ = std::thread([this] { run_result_ = server_->run(); });
  }
  ~server_thread() {
    server_->stop();
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  int delivered() const { return delivered_; }
  // Why the session of the client on local port `client_port` ended, waiting up to `limit`.
  std::optional<result<>> why(std::uint16_t client_port, std::chrono::milliseconds limit = 5s) {
    const auto end = steady::now() + limit;
    for (;;) {
      {
        const std::lock_guard lock(m_);
        if (const auto it = ended_.find(client_port); it != ended_.end()) return it->second;
      }
      if (steady::now() > end) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
  }

 private:
  std::unique_ptr<event_server> server_;
  std::uint16_t port_ = 0;
  std::mutex m_;
  std::map<std::uint16_t, result<>> ended_;
  std::map<const loop_session*, std::uint16_t> ports_;
  std::atomic<int> delivered_{0};
  result<> run_result_;
  std::thread thread_;
};

// A raw client, the test's own: a socket and what it read.
struct raw_client {
  std::unique_ptr<socket_transport> t;
  std::uint16_t port = 0;
  std::string got;
  explicit raw_client(std::uint16_t server) {
    auto c = tcp_connect("127.0.0.1", server, {2s});
    if (!c) throw std::runtime_error("connect: " + to_string(c));
    t = std::move(c).value();
    port = port_of(t->native_handle(), false);
  }
  // Reads until `needle` shows up or the peer closes or limit passes; true when closed.
  bool read_until_closed(std::chrono::milliseconds limit) {
    const auto end = steady::now() + limit;
    std::byte buf[4096];
    while (steady::now() < end) {
      const auto r = read_some_within(*t, buf, std::chrono::duration_cast<std::chrono::milliseconds>(end - steady::now()));
      if (!r.ok()) return r.error() == errc::connection_reset;
      if (*r == 0) return true;
      got.append(reinterpret_cast<const char*>(buf), *r);
    }
    return false;
  }
  bool read_line_with(const std::string& needle, std::chrono::milliseconds limit) {
    const auto end = steady::now() + limit;
    std::byte buf[4096];
    while (got.find(needle) == std::string::npos && steady::now() < end) {
      const auto r = read_some_within(*t, buf, std::chrono::duration_cast<std::chrono::milliseconds>(end - steady::now()));
      if (!r.ok() || *r == 0) return false;
      got.append(reinterpret_cast<const char*>(buf), *r);
    }
    return got.find(needle) != std::string::npos;
  }
};

// Well-behaved clients served while the slow ones wait: whole sessions one after
// another, each timed.
struct good_clients {
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<long long> worst_ms{0};
  std::string first_failure;
  std::thread thread;
  explicit good_clients(std::uint16_t port) {
    thread = std::thread([this, port] {
      auto ctx = make_ctx(backend_under_test(), client_config(), role::client);
      while (!stop) {
        const auto start = steady::now();
        uptls::smtp::client_options co;
        co.ehlo_name = "good.test";
        auto t = tcp_connect("127.0.0.1", port, {2s});
        result<> r = t.status();
        if (t) {
          stream_options so = quick(3s);
          uptls::smtp::client c(stream(std::move(t).value(), so), co);
          peer_options peer;
          peer.server_name = "localhost";
          r = c.open(ctx, peer);
          if (r) r = c.send_mail("a@test", {"b@test"}, "hello\r\n");
          if (r) r = c.quit();
        }
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count();
        if (r) {
          ++ok;
          worst_ms = std::max<long long>(worst_ms, ms);
        } else {
          if (failed++ == 0) first_failure = to_string(r);
        }
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  ~good_clients() {
    stop = true;
    thread.join();
  }
};

// A ClientHello as the backend under test sends it (from a buffer-driven stream).
std::string client_hello() {
  stream s = stream::buffer_driven();
  peer_options peer;
  peer.server_name = "localhost";
  const auto r = s.start_tls(make_ctx(backend_under_test(), client_config(), role::client), peer);
  EXPECT_TRUE(r.would_block());
  const auto out = s.output();
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

std::chrono::milliseconds since(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t);
}

TEST(SlowPeers, EachMeetsItsTimeoutWhileOthersAreServed) {
  server_thread server;
  const std::string hello = client_hello();
  ASSERT_GT(hello.size(), 60u);
  good_clients good(server.port());

  // Silent: connects and never sends a byte.
  std::thread silent([&] {
    raw_client c(server.port());
    const auto start = steady::now();
    EXPECT_TRUE(c.read_until_closed(greeting_timeout + slack));
    const auto took = since(start);
    EXPECT_EQ(c.got.rfind("220 ", 0), 0u) << c.got;
    EXPECT_NE(c.got.find("\r\n421 4.4.2 mx.test timeout, closing\r\n"), std::string::npos) << c.got;
    EXPECT_GE(took, greeting_timeout - 100ms);
    EXPECT_LT(took, greeting_timeout + slack);
    const auto why = server.why(c.port);
    ASSERT_TRUE(why.has_value());
    EXPECT_EQ(why->error(), make_error_code(errc::timeout)) << to_string(*why);
  });

  // Stops in the middle of the handshake: half a ClientHello, then nothing.
  std::thread stalled([&] {
    raw_client c(server.port());
    ASSERT_TRUE(c.read_line_with("220 ", 2s));
    ASSERT_TRUE(write_all(*c.t, "EHLO stall.test\r\n").ok());
    ASSERT_TRUE(c.read_line_with("250 ", 2s));
    ASSERT_TRUE(write_all(*c.t, "STARTTLS\r\n").ok());
    ASSERT_TRUE(c.read_line_with("220 2.0.0", 2s)) << c.got;
    c.got.clear();
    ASSERT_TRUE(write_all(*c.t, std::string_view(hello).substr(0, hello.size() / 2)).ok());
    const auto start = steady::now();
    EXPECT_TRUE(c.read_until_closed(handshake_timeout + slack));
    const auto took = since(start);
    // No plaintext reply inside the handshake: the server only closes.
    EXPECT_EQ(c.got.find("421"), std::string::npos) << c.got;
    EXPECT_LT(took, handshake_timeout + slack);
    EXPECT_GE(took, std::min(handshake_timeout, stream_io_timeout) - 100ms);
    const auto why = server.why(c.port);
    ASSERT_TRUE(why.has_value());
    EXPECT_EQ(why->error(), make_error_code(errc::timeout)) << to_string(*why);
  });

  // Trickles one byte per second after EHLO: each byte is within the stream's
  // io_timeout, but the command as a whole is not within the command timeout.
  std::thread trickle([&] {
    raw_client c(server.port());
    ASSERT_TRUE(c.read_line_with("220 ", 2s));
    ASSERT_TRUE(write_all(*c.t, "EHLO trickle.test\r\n").ok());
    ASSERT_TRUE(c.read_line_with("250 ", 2s));
    c.got.clear();
    const auto start = steady::now();
    const std::string line = "NOOP\r\n";
    bool closed = false;
    for (char ch : line) {
      if (!write_all(*c.t, std::string_view(&ch, 1)).ok()) {
        closed = true;
        break;
      }
      std::byte buf[512];
      const auto r = read_some_within(*c.t, buf, 1000ms);
      if (r.ok() && *r > 0) c.got.append(reinterpret_cast<const char*>(buf), *r);
      if (r.ok() && *r == 0) {
        closed = true;
        break;
      }
      if (c.got.find("421") != std::string::npos) break;
    }
    if (!closed) closed = c.read_until_closed(slack);
    const auto took = since(start);
    EXPECT_TRUE(closed);
    EXPECT_NE(c.got.find("421 4.4.2 mx.test timeout, closing\r\n"), std::string::npos) << c.got;
    // Never answered as a command: it did not come whole in time.
    EXPECT_EQ(c.got.find("250"), std::string::npos) << c.got;
    EXPECT_GE(took, command_timeout - 100ms);
    EXPECT_LT(took, command_timeout + slack);
    const auto why = server.why(c.port);
    ASSERT_TRUE(why.has_value());
    EXPECT_EQ(why->error(), make_error_code(errc::timeout)) << to_string(*why);
  });

  silent.join();
  stalled.join();
  trickle.join();
  good.stop = true;
  good.thread.join();
  good.thread = std::thread([] {});
  // The well-behaved clients went on being served, quickly, all along.
  EXPECT_EQ(good.failed.load(), 0) << good.first_failure;
  EXPECT_GE(good.ok.load(), 5);
  EXPECT_LT(good.worst_ms.load(), 1000) << "a good session waited behind a slow one";
  EXPECT_GE(server.delivered(), good.ok.load());
  std::printf("%d good sessions served meanwhile, the slowest in %lld ms\n", good.ok.load(), good.worst_ms.load());
}

}  // namespace
