// The one-thread event server: many STARTTLS sessions at once on one thread,
// driven by many non-blocking uptls clients on one other thread; a stalled or
// silent client holds up nobody; past the connection limit a client is told 421.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "harness.hpp"

namespace uptls::test::smtp {
namespace {

using uptls::smtp::client_options;
using uptls::smtp::server_options;

// An event_server on its own thread, serving the SMTP sessions of opts.
class event_run {
 public:
  explicit event_run(server_options opts, event_server_options eo = {}) {
    auto l = tcp_listener::listen("127.0.0.1", 0);
    if (!l) throw std::runtime_error("listen: " + to_string(l));
    eo.stream = quick(10s);
    if (eo.busy_reply.empty()) eo.busy_reply = uptls::smtp::busy_reply;
    eo.on_session_end = [this](loop_session&, const result<>& why) {
      std::lock_guard lock(m_);
      ended_.push_back(why);
    };
    auto sink = [this](const uptls::smtp::message& m) {
      std::lock_guard lock(m_);
      got_.push_back(m);
    };
    auto made = event_server::make(std::move(l).value(),
                                   uptls::smtp::session_factory(std::make_shared<const server_options>(std::move(opts)), sink),
                                   std::move(eo));
    if (!made) throw std::runtime_error("event_server: " + to_string(made));
    server_ = std::move(made).value();
    port_ = server_->port();
    thread_ = std::thread([this] { result_ = server_->run(); });
  }
  ~event_run() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  std::vector<uptls::smtp::message> messages() {
    std::lock_guard lock(m_);
    return got_;
  }
  std::vector<result<>> ended() {
    std::lock_guard lock(m_);
    return ended_;
  }
  // The counters, read after stop() (the server's own thread owns them before).
  event_server_stats stats() const { return server_->stats(); }
  result<> run_result() const { return result_; }

 private:
  std::unique_ptr<event_server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex m_;
  std::vector<uptls::smtp::message> got_;
  std::vector<result<>> ended_;
  result<> result_;
};

// Many non-blocking uptls SMTP clients on one thread, each delivering one message
// ("n=<i>") over STARTTLS: the client side of an event loop, with poll().
struct many_clients {
  struct one {
    std::unique_ptr<uptls::smtp::client> c;
    int step = 0;  // 0 open, 1 send, 2 quit, 3 done
    result<> last;
    bool done = false;
  };

  // Runs n sessions to port, at most `at_once` open at a time; returns how many
  // ended well. on_progress (optional) is called after each session ends.
  static int run(std::uint16_t port, int n, int at_once, std::chrono::seconds limit,
                 const std::function<void(int finished)>& on_progress = {}) {
    auto ctx = client_ctx();
    std::vector<one> all(static_cast<std::size_t>(n));
    int started = 0;
    int finished = 0;
    int ok = 0;
    const auto end = std::chrono::steady_clock::now() + limit;
    const auto start_one = [&](int i) {
      auto t = tcp_connect("127.0.0.1", port, {5s, false});
      one& o = all[static_cast<std::size_t>(i)];
      if (!t) {
        o.done = true;
        o.last = t.status();
        ++finished;
        return;
      }
      stream_options so = quick(20s);
      so.mode = io_mode::non_blocking;
      o.c = std::make_unique<uptls::smtp::client>(stream(std::move(t).value(), so), client_options{});
      o.last = o.c->open(ctx, localhost());
    };
    const auto advance = [&](one& o, int i) {
      // Run this client as far as it goes without blocking.
      for (int k = 0; k < 8 && !o.done; ++k) {
        if (o.last.would_block()) return;
        if (!o.last.ok()) {
          o.done = true;
          ++finished;
          if (on_progress) on_progress(finished);
          return;
        }
        ++o.step;
        if (o.step == 1) {
          o.last = o.c->send_mail("many@example.org", {"rcpt@example.org"}, "n=" + std::to_string(i) + "\r\n");
        } else if (o.step == 2) {
          o.last = o.c->quit();
        } else {
          o.done = true;
          ++finished;
          ++ok;
          if (on_progress) on_progress(finished);
        }
      }
    };
    while (finished < n && std::chrono::steady_clock::now() < end) {
      while (started < n && started - finished < at_once) start_one(started++);
      std::vector<pollfd> fds;
      std::vector<int> who;
      for (int i = 0; i < started; ++i) {
        one& o = all[static_cast<std::size_t>(i)];
        if (o.done) continue;
        if (!o.last.would_block()) {
          advance(o, i);
          continue;
        }
        const short ev = o.last.wants() == wait_for::write ? POLLOUT : POLLIN;
        fds.push_back({o.c->connection().native_handle(), ev, 0});
        who.push_back(i);
      }
      if (fds.empty()) continue;
      (void)::poll(fds.data(), fds.size(), 50);
      for (std::size_t k = 0; k < fds.size(); ++k) {
        one& o = all[static_cast<std::size_t>(who[k])];
        // Ready, or a deadline may have passed: resume; it tells which.
        if (fds[k].revents != 0 || o.c->connection().next_deadline() <= clock::now()) {
          o.last = o.c->resume();
          advance(o, who[k]);
        }
      }
    }
    return ok;
  }
};

TEST(EventServer, TwoHundredConcurrentStarttlsSessionsOnOneThread) {
  event_run srv(with_tls());
  const int ok = many_clients::run(srv.port(), 200, 200, 120s);
  srv.stop();
  EXPECT_EQ(ok, 200);
  const auto got = srv.messages();
  ASSERT_EQ(got.size(), 200u);
  std::vector<bool> seen(200, false);
  for (const auto& m : got) {
    EXPECT_TRUE(m.over_tls);
    ASSERT_EQ(m.data.rfind("n=", 0), 0u) << m.data;
    const int i = std::stoi(m.data.substr(2));
    ASSERT_GE(i, 0);
    ASSERT_LT(i, 200);
    EXPECT_FALSE(seen[static_cast<std::size_t>(i)]) << "message " << i << " twice";
    seen[static_cast<std::size_t>(i)] = true;
  }
  const event_server_stats st = srv.stats();
  EXPECT_EQ(st.accepted, 200u);
  EXPECT_EQ(st.completed, 200u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_GT(st.peak, 1u);  // they were served at once, not one after another
  EXPECT_TRUE(srv.run_result().ok());
}

// A client that connects and says nothing, and one that stops in the middle of
// its handshake: while both hang, every other session is served to its end.
TEST(EventServer, StalledClientsDelayNobody) {
  server_options o = with_tls();
  o.timeouts.greeting = 60s;  // the stalled ones would be served long after the test
  event_run srv(o);
  auto silent = tcp_connect("127.0.0.1", srv.port(), {2s});
  ASSERT_TRUE(silent.ok());
  // The second one says EHLO and STARTTLS, then sends half a ClientHello and stops.
  stream half = connect_to(srv.port());
  ASSERT_EQ(code_of(read_reply(half)), 220);
  ASSERT_EQ(code_of(ask(half, "EHLO stalled.example")), 250);
  ASSERT_EQ(code_of(ask(half, "STARTTLS")), 220);
  const unsigned char hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01};
  ASSERT_TRUE(write_all(half.lower(), std::as_bytes(std::span(hello_start))).ok());

  const int ok = many_clients::run(srv.port(), 40, 10, 60s);
  EXPECT_EQ(ok, 40);
  EXPECT_EQ(srv.messages().size(), 40u);
  // The stalled two are still there, still waiting: nothing about them ended.
  // (The server ends a session just after its 221 left: wait for the last one.)
  for (int i = 0; i < 500 && srv.ended().size() < 40; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(srv.ended().size(), 40u);
  std::byte buf[256];
  const auto greeting = read_some_within(**silent, buf, 2s);
  ASSERT_TRUE(greeting.ok());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 3), "220");
  EXPECT_TRUE((*silent)->read_some(buf).would_block());  // and the server has not hung up
  srv.stop();
}

TEST(EventServer, GreetingTimeoutEndsOnlyTheSilentSession) {
  server_options o = with_tls();
  o.timeouts.greeting = 300ms;
  event_run srv(o);
  stream silent = connect_to(srv.port(), quick(5s));
  EXPECT_EQ(code_of(read_reply(silent)), 220);
  // It says nothing: after the greeting timeout the server says 421 and closes.
  EXPECT_EQ(read_reply(silent), "421 4.4.2 localhost timeout, closing");
  EXPECT_EQ(read_reply(silent).rfind("ERR", 0), 0u);
  // Meanwhile (and after) others are served.
  EXPECT_EQ(many_clients::run(srv.port(), 5, 5, 30s), 5);
  srv.stop();
  const auto ended = srv.ended();
  EXPECT_EQ(std::count(ended.begin(), ended.end(), result<>(errc::timeout)), 1);
}

TEST(EventServer, ConnectionsPastTheLimitAreToldToComeBackLater) {
  event_server_options eo;
  eo.max_connections = 3;
  event_run srv(with_tls(), eo);
  std::vector<stream> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(connect_to(srv.port()));
    EXPECT_EQ(code_of(read_reply(idle.back())), 220);
  }
  // A flood past the limit: each gets the 421 and the end of the connection.
  for (int i = 0; i < 5; ++i) {
    stream extra = connect_to(srv.port());
    EXPECT_EQ(read_reply(extra), "421 4.7.0 too many connections, try again later");
    EXPECT_EQ(read_reply(extra).rfind("ERR", 0), 0u);
  }
  // One leaves; the next one is served.
  EXPECT_EQ(code_of(ask(idle.front(), "QUIT")), 221);
  idle.erase(idle.begin());
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    stream next = connect_to(srv.port());
    const std::string greeting = read_reply(next);
    served = code_of(greeting) == 220;
    if (!served) std::this_thread::sleep_for(20ms);  // the server had not seen the QUIT's end yet
  }
  EXPECT_TRUE(served);
  srv.stop();
  EXPECT_GE(srv.stats().refused_busy, 5u);
}

// A process out of descriptors: accept() fails with EMFILE while the connection
// waits in the backlog, and the listener stays readable. The server counts the
// failure and rests instead of spinning, then serves the connection once
// descriptors are free again.
TEST(EventServer, OutOfDescriptorsTheServerRestsThenServes) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(l) << to_string(l);
  event_server_options eo;
  eo.stream = quick(10s);
  auto made = event_server::make(
      std::move(l).value(),
      uptls::smtp::session_factory(std::make_shared<const server_options>(with_tls()), [](const uptls::smtp::message&) {}),
      eo);
  ASSERT_TRUE(made) << to_string(made);
  event_server& srv = **made;
  stream client = connect_to(srv.port());  // complete in the backlog; not accepted yet

  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;  // every descriptor below the limit, taken
  for (int i = 0; i < 256; ++i) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    fillers.push_back(fd);
  }
  int rounds = 0;
  const auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until && rounds < 10'000) {
    (void)srv.run_once(100ms);
    ++rounds;
  }
  const event_server_stats starved = srv.stats();
  for (const int fd : fillers) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);

  EXPECT_GE(starved.accept_errors, 1u);
  EXPECT_EQ(starved.accepted, 0u);
  EXPECT_LT(rounds, 50) << "the loop spun on a listener it could not accept from";
  for (int i = 0; i < 20 && srv.stats().accepted == 0; ++i) (void)srv.run_once(50ms);
  EXPECT_EQ(srv.stats().accepted, 1u);
  EXPECT_EQ(code_of(read_reply(client)), 220);
}

}  // namespace
}  // namespace uptls::test::smtp
