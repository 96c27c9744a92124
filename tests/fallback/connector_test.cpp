// The ladder as a state machine (fallback_connector): driven from a poll() loop
// like an event loop would, two of them at once on one thread; the deadlines of
// its connect and prelude phases; and the mode of the stream it hands back.
// Built once per backend; what a backend cannot do is asked from caps().
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ladder_support.hpp"
#include "smtp_prelude.hpp"

namespace uptls::test {
namespace {

using std::chrono::steady_clock;

class Connector : public ::testing::Test {
 protected:
  const backend& b = backend_under_test();
  std::vector<rung> strict_then_legacy() const { return {{&b, profile::strict}, {&b, profile::legacy}}; }
  std::vector<rung> full_ladder() const {
    return has_rsa(b) ? strict_then_legacy() : std::vector<rung>{{&b, profile::strict}};
  }
};

// One ladder in the test's event loop, and what the loop saw of it.
struct looped {
  looped(char n, fallback_request req) : name(n), ladder(std::move(req)) {}
  char name;
  fallback_connector ladder;
  int blocked = 0;       // resume() returned would-block
  int broken = 0;        // ... without a socket, a direction or a deadline to wait for
  std::optional<result<>> outcome;

  // One resume(), as the loop makes it when the socket is ready or the deadline came.
  void step(std::string& trace) {
    trace += name;
    const result<> r = ladder.resume();
    if (!r.would_block()) {
      outcome = r;
      return;
    }
    ++blocked;
    // What an event loop needs to park it: a socket, what to wait for, and until when.
    if (ladder.native_handle() < 0 || ladder.wants() == wait_for::none || r.wants() != ladder.wants() ||
        !ladder.next_deadline()) {
      ++broken;
    }
  }
};

// The event loop: poll() every unfinished ladder's socket for what it wants, at
// most until the earliest deadline, and resume those that are ready or due.
// Bounded by limit in all.
void run_loop(std::vector<looped*> all, std::string& trace, std::chrono::milliseconds limit) {
  const auto end = steady_clock::now() + limit;
  for (;;) {
    std::vector<looped*> waiting;
    std::vector<pollfd> fds;
    auto wake = end;
    for (looped* l : all) {
      if (l->outcome) continue;
      waiting.push_back(l);
      const short events = l->ladder.wants() == wait_for::read ? POLLIN : POLLOUT;
      fds.push_back({l->ladder.native_handle(), events, 0});
      if (const auto d = l->ladder.next_deadline(); d && *d < wake) wake = *d;
    }
    if (waiting.empty() || steady_clock::now() >= end) return;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake - steady_clock::now()).count();
    (void)::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(ms, 0)));
    const auto now = steady_clock::now();
    for (std::size_t i = 0; i < waiting.size(); ++i) {
      const auto d = waiting[i]->ladder.next_deadline();
      if (fds[i].revents != 0 || (d && now >= *d)) waiting[i]->step(trace);
    }
  }
}

// 1. The connector from a poll() loop climbs down exactly as the blocking call
// does, and while one ladder waits for its server, another one on the same
// thread makes progress.
TEST_F(Connector, PollLoopClimbsDownLikeTheBlockingCallWhileASecondLadderProgresses) {
  if (!b.caps().rsa_key_exchange) GTEST_SKIP() << "no RSA key exchange here: there is no legacy rung to climb down to";
  auto legacy = start_smtpd("legacy");  // TLS 1.2 RSA only; hangs up on a strict ClientHello
  UPTLS_REQUIRE_PEER(legacy);
  auto modern = start_openssl_modern();
  UPTLS_REQUIRE_PEER(modern);
  // Both servers sit behind slow paths, so that every reply keeps its ladder
  // waiting however quickly the server answers (on loopback a reply can be there
  // before the client looks): A's replies come 10 ms late, B's 40 ms, so that A
  // has steps to take while B waits for its ServerHello. The relays also count
  // the connections and record what the client sent.
  relay mitm(legacy.port);
  mitm.set_latency(10ms);
  relay slow_b(modern.port);
  slow_b.set_latency(40ms);

  auto req = smtp_request_to(mitm.port(), strict_then_legacy());
  req.eof_is_trigger = true;  // asyncio hangs up without an alert: EOF is its refusal
  // The reference: the blocking loop over the same machine.
  const fallback_result reference = connect_with_fallback(req);
  ASSERT_TRUE(reference.ok()) << reference.report.to_string();
  ASSERT_EQ(mitm.connections(), 2);

  mitm.tamper(relay::mode::pass);  // counts afresh from here
  std::vector<attempt_report> observed;
  auto observed_req = req;
  observed_req.observer = [&](const attempt_report& a) { observed.push_back(a); };
  looped a('A', observed_req);
  std::string trace;
  a.step(trace);
  // Dialling and the greeting take a round trip: the first step cannot finish.
  ASSERT_FALSE(a.outcome.has_value()) << to_string(*a.outcome);

  // The second ladder starts only now, while the first one waits for its server.
  looped other('B', request_to(slow_b.port(), full_ladder()));
  other.step(trace);
  run_loop({&a, &other}, trace, 30s);
  std::cout << "resumed in this order: " << trace << "\n";  // for the test log

  ASSERT_TRUE(a.outcome.has_value()) << "the first ladder did not finish: " << trace;
  ASSERT_TRUE(other.outcome.has_value()) << "the second ladder did not finish: " << trace;
  EXPECT_EQ(*a.outcome, std::error_code{}) << a.ladder.report().to_string();
  EXPECT_EQ(*other.outcome, std::error_code{}) << other.ladder.report().to_string();
  // A waits for some nine replies (greeting, EHLO, STARTTLS and the server's
  // handshake answer, per attempt) and B for its ServerHello: resume() returns
  // would-block many times (half of them is the margin for a loaded machine, on
  // which a reply may be there before the client looks), each time with a
  // socket, a direction and a deadline for the loop.
  EXPECT_GE(a.blocked, 4) << trace;
  EXPECT_GE(other.blocked, 1) << trace;
  EXPECT_EQ(a.broken, 0) << trace;
  EXPECT_EQ(other.broken, 0) << trace;
  // Interleaved by the loop, not only by the kick-off ("AB"): the turn passed
  // from one ladder to the other at least three times, so the loop resumed B
  // between two steps of A. Ladders that blocked inside resume() would read
  // "ABA" (A, then B to its end, then A to its end).
  int turns = 0;
  for (std::size_t i = 1; i < trace.size(); ++i) turns += trace[i] != trace[i - 1] ? 1 : 0;
  EXPECT_GE(turns, 3) << trace;

  // The same climb as the blocking call, with the same report, attempt by attempt.
  fallback_result res = a.ladder.take();
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  const fallback_report& r = res.report;
  EXPECT_EQ(r.to_string(), reference.report.to_string());
  ASSERT_EQ(r.attempts.size(), 2u);
  ASSERT_EQ(observed.size(), 2u);
  EXPECT_EQ(observed[0].to_string(), r.attempts[0].to_string());
  EXPECT_EQ(observed[1].to_string(), r.attempts[1].to_string());
  EXPECT_EQ(r.attempts[0].stage, attempt_stage::handshake);
  EXPECT_EQ(r.attempts[0].error, errc::eof);
  EXPECT_TRUE(r.attempts[0].failure.eof_before_server_hello);
  EXPECT_TRUE(r.attempts[0].allows_next);
  EXPECT_EQ(r.attempts[1].stage, attempt_stage::done);
  ASSERT_TRUE(r.attempts[1].session.has_value());
  EXPECT_EQ(r.attempts[1].session->suite.name, "TLS_RSA_WITH_AES_128_GCM_SHA256");
  EXPECT_FALSE(r.attempts[1].session->forward_secret);
  EXPECT_TRUE(r.fell_back());
  EXPECT_EQ(r.to_string(),
            "attempt 1/2 " + rung_text(b, profile::strict) + ": handshake failed: eof (peer closed the connection" +
                sent_part(r.attempts[0].failure) + "; EOF before ServerHello" + library_part(r.attempts[0].failure) +
                ") -> next rung: the server closed the connection before ServerHello (EOF is a trigger by the "
                "caller's choice)\n" +
                legacy_rsa_win_line(2, 2, b) + "\noutcome 127.0.0.1:" + std::to_string(mitm.port()) +
                ": ok: attempt 2 (" + rung_text(b, profile::legacy) + ") won after a fallback from attempt 1 (" +
                rung_text(b, profile::strict) + ")");
  // A fresh connection per rung, each replaying the whole prelude before its handshake.
  EXPECT_EQ(mitm.connections(), 2);
  ASSERT_TRUE(res.connection.has_value());
  expect_ehlo_over_tls(*res.connection);
  (void)res.connection->close();
  for (int n = 1; n <= 2; ++n) {
    EXPECT_EQ(mitm.client_sent(n).rfind("EHLO client.test\r\nSTARTTLS\r\n\x16", 0), 0u) << n;
  }

  // The second ladder won strict on its first rung, and its stream is live.
  fallback_result second = other.ladder.take();
  ASSERT_TRUE(second.ok()) << second.report.to_string();
  ASSERT_EQ(second.report.attempts.size(), 1u);
  EXPECT_FALSE(second.report.fell_back());
  ASSERT_TRUE(second.report.attempts[0].session.has_value());
  EXPECT_TRUE(second.report.attempts[0].session->forward_secret);
  ASSERT_EQ(second.connection->write("the other ladder\n"), std::error_code{});
  EXPECT_TRUE(modern.process->wait_for_output("the other ladder", 5s));
  EXPECT_EQ(slow_b.connections(), 1);
}

// 2. A connect that never completes ends its attempt at the connect bound, at
// stage connect with errc::timeout, and is never retried.
TEST_F(Connector, ConnectThatNeverCompletesTimesOutAndIsNotRetried) {
  // Nothing on loopback leaves a SYN unanswered, except a full accept queue: a
  // listener that never accepts, with the smallest backlog, filled first. The
  // kernel then drops every new SYN, and a connect stays pending.
  auto listener = tcp_listener::listen("127.0.0.1", 0, 0);
  ASSERT_TRUE(listener.ok()) << to_string(listener);
  std::vector<std::unique_ptr<socket_transport>> fillers;
  bool full = false;
  for (int i = 0; i < 16 && !full; ++i) {
    auto c = tcp_connect("127.0.0.1", listener->port(), {.connect_timeout = 300ms});
    if (c) {
      fillers.push_back(std::move(c).value());
      continue;
    }
    ASSERT_EQ(c, errc::timeout) << "filling the backlog";
    full = true;
  }
  ASSERT_TRUE(full) << "the accept queue never filled, so a connect would not hang";

  constexpr auto bound = 500ms;
  auto req = request_to(listener->port(), full_ladder());
  req.socket.connect_timeout = bound;
  const std::string rungs = std::to_string(req.ladder.size());
  const std::string expected =
      "attempt 1/" + rungs + " " + rung_text(b, profile::strict) +
      ": connect failed: timeout (timed out waiting for the peer) -> stop: connection failures are never "
      "retried\noutcome 127.0.0.1:" + std::to_string(listener->port()) + ": failed: timeout: attempt 1 (" +
      rung_text(b, profile::strict) + ") failed in a way that is never retried";

  // The blocking call.
  const auto began = steady_clock::now();
  const fallback_result res = connect_with_fallback(req);
  const auto took = steady_clock::now() - began;
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::timeout) << res.report.to_string();
  ASSERT_EQ(res.report.attempts.size(), 1u) << res.report.to_string();
  const attempt_report& a = res.report.attempts[0];
  EXPECT_EQ(a.stage, attempt_stage::connect);
  EXPECT_EQ(a.error, errc::timeout);
  EXPECT_FALSE(a.allows_next);
  EXPECT_FALSE(a.session.has_value());
  EXPECT_EQ(res.report.to_string(), expected);
  EXPECT_GE(a.elapsed, bound - 50ms);  // the bound, not an error, ended it
  EXPECT_LT(took, 2 * bound);          // and no second dial waited out a bound of its own

  // The machine: while the connect is pending it waits to write (the connect
  // completing), with the connect bound as its deadline.
  fallback_connector ladder(req);
  const auto started = steady_clock::now();
  const result<> first = ladder.resume();
  ASSERT_TRUE(first.would_block()) << to_string(first);
  EXPECT_EQ(first.wants(), wait_for::write);
  EXPECT_GE(ladder.native_handle(), 0);
  ASSERT_TRUE(ladder.next_deadline().has_value());
  EXPECT_LE(*ladder.next_deadline(), started + bound + 50ms);
  EXPECT_GE(*ladder.next_deadline(), started + bound - 50ms);
  result<> r = first;
  for (int i = 0; i < 100 && r.would_block(); ++i) {
    (void)ladder.wait();
    r = ladder.resume();
  }
  EXPECT_EQ(r, errc::timeout);
  EXPECT_EQ(ladder.report().to_string(), expected);
}

// A server that sends its greeting one byte at a time, each well within the I/O
// timeout, and never ends the line.
class trickle_server {
 public:
  explicit trickle_server(std::chrono::milliseconds every)
      : listener_(std::move(tcp_listener::listen("127.0.0.1", 0)).value()) {
    thread_ = std::thread([this, every] {
      auto conn = listener_.accept(10s);
      if (!conn) return;
      const std::string greeting = "220 trickle.test ESMTP " + std::string(900, 'x');
      for (const char c : greeting) {
        if (!write_all(**conn, std::string_view(&c, 1), 1s)) return;
        ++sent_;
        // The pace: wait for the client for one interval. It says nothing before
        // the greeting ends, so anything it does (closing) ends the trickle.
        std::byte buf[64];
        if (read_some_within(**conn, buf, every).ok()) return;
      }
    });
  }
  ~trickle_server() { thread_.join(); }
  std::uint16_t port() const { return listener_.port(); }
  int sent() const { return sent_; }
  // Whether a second connection came (a retry): never waited for.
  bool dialled_again() { return !listener_.try_accept().would_block(); }

 private:
  tcp_listener listener_;
  std::atomic<int> sent_{0};
  std::thread thread_;
};

// 3. A greeting trickled slower than any line may take, yet fast enough for the
// I/O timeout, is cut off by the prelude's bound (the handshake timeout), at
// stage prelude with errc::timeout, and not retried.
TEST_F(Connector, TrickledGreetingIsCutOffByThePreludeBound) {
  trickle_server srv(50ms);
  auto req = smtp_request_to(srv.port(), full_ladder());
  req.stream_opts.io_timeout = 5s;       // never reached: a byte comes every 50 ms
  req.base.handshake_timeout = 800ms;    // the prelude's bound
  const auto began = steady_clock::now();
  const fallback_result res = connect_with_fallback(req);
  const auto took = steady_clock::now() - began;

  EXPECT_FALSE(res.ok());
  const fallback_report& r = res.report;
  EXPECT_EQ(r.error, errc::timeout) << r.to_string();
  ASSERT_EQ(r.attempts.size(), 1u) << r.to_string();
  const attempt_report& a = r.attempts[0];
  EXPECT_EQ(a.stage, attempt_stage::prelude);
  EXPECT_EQ(a.error, errc::timeout);
  EXPECT_FALSE(a.allows_next);
  EXPECT_EQ(r.to_string(),
            "attempt 1/" + std::to_string(req.ladder.size()) + " " + rung_text(b, profile::strict) +
                ": prelude failed: timeout (timed out waiting for the peer) -> stop: the plaintext dialogue failed "
                "(STARTTLS missing or refused, or a bad reply): never retried\noutcome 127.0.0.1:" +
                std::to_string(srv.port()) + ": failed: timeout: attempt 1 (" + rung_text(b, profile::strict) +
                ") failed in a way that is never retried");
  // The bound ended it: after the handshake timeout, long before the I/O
  // timeout, while the server was still making progress byte by byte.
  EXPECT_GE(a.elapsed, 750ms);
  EXPECT_LT(took, 4s);
  EXPECT_GE(srv.sent(), 5) << "the server made no progress, so this proves nothing about the bound";
  EXPECT_FALSE(srv.dialled_again());
}

// 4. The stream handed back is in the mode the request asked for.
TEST_F(Connector, NonBlockingRequestGetsANonBlockingStream) {
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  auto req = request_to(srv.port, full_ladder());
  req.stream_opts.mode = io_mode::non_blocking;
  fallback_result res = connect_with_fallback(req);
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  stream& s = *res.connection;
  EXPECT_TRUE(s.is_tls());
  EXPECT_EQ(s.options().mode, io_mode::non_blocking);
  // Nothing was sent: the read says so at once (a blocking stream never does).
  const result<std::string_view> nothing = s.read_line();
  EXPECT_TRUE(nothing.would_block()) << to_string(nothing);
  EXPECT_EQ(nothing.wants(), wait_for::read);
  EXPECT_EQ(s.wants(), wait_for::read);
  EXPECT_GE(s.native_handle(), 0);
  // And it is live: what s_server's operator types arrives, read from a poll loop.
  srv.process->write_stdin("typed at the server\n");
  int blocked = 0;
  const result<std::string_view> line = drive(s, [&] { return s.read_line(); }, 5s, &blocked);
  ASSERT_TRUE(line.ok()) << to_string(line);
  EXPECT_EQ(*line, "typed at the server");
  EXPECT_EQ(drive(s, [&] { return s.close(); }, 5s), std::error_code{});
}

TEST_F(Connector, BlockingRequestGetsABlockingStream) {
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  auto req = request_to(srv.port, full_ladder());
  req.stream_opts.mode = io_mode::blocking;
  req.stream_opts.io_timeout = 300ms;
  fallback_result res = connect_with_fallback(req);
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  stream& s = *res.connection;
  EXPECT_EQ(s.options().mode, io_mode::blocking);
  // Nothing was sent: the read waits for its I/O timeout inside, and never says would-block.
  const auto began = steady_clock::now();
  const result<std::string_view> nothing = s.read_line();
  EXPECT_EQ(nothing, errc::timeout);
  EXPECT_GE(steady_clock::now() - began, 250ms);
  // A read timeout leaves the stream usable: the next line still comes.
  srv.process->write_stdin("typed at the server\n");
  s.set_io_timeout(5s);
  const result<std::string_view> line = s.read_line();
  ASSERT_TRUE(line.ok()) << to_string(line);
  EXPECT_EQ(*line, "typed at the server");
  EXPECT_EQ(s.close(), std::error_code{});
}


// stream.hpp: "each call may wait for the peer at most io_timeout without
// progress (a byte moved); a handshake at most tls_config::handshake_timeout in
// all". So a server whose handshake keeps moving, but takes longer in all than
// the I/O timeout, still completes within the handshake timeout. (Handshake
// bytes moving once did not restart the idle clock: the I/O timeout bounded the
// whole handshake, and this failed with a timeout at stage handshake.)
TEST(HandshakeBound, HandshakeThatKeepsMovingIsBoundByTheHandshakeTimeoutNotTheIoTimeout) {
  const backend& b = backend_under_test();
  auto srv = start_openssl_modern();
  UPTLS_REQUIRE_PEER(srv);
  // The server's first flight (some 1.5 kB) comes 100 bytes per 100 ms: a byte
  // moves far more often than every io_timeout, yet the flight takes over 1 s.
  relay slow(srv.port);
  slow.set_pace(100, 100ms);
  auto req = request_to(slow.port(), {{&b, profile::strict}});
  req.stream_opts.io_timeout = 600ms;
  req.base.handshake_timeout = 10s;
  const auto began = std::chrono::steady_clock::now();
  fallback_result res = connect_with_fallback(req);
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_TRUE(res.ok()) << res.report.to_string();
  ASSERT_EQ(res.report.attempts.size(), 1u);
  EXPECT_EQ(res.report.attempts[0].stage, attempt_stage::done);
  // It meant something: the handshake took longer than the I/O timeout.
  EXPECT_GT(took, req.stream_opts.io_timeout);
  EXPECT_LT(took, req.base.handshake_timeout);
}

}  // namespace
}  // namespace uptls::test
