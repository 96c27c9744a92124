// Bulk and odd-sized data through the engines: 64 MiB each way at once with a
// checksum, and writes around the record size boundaries.
#include <poll.h>

#include <chrono>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace uptls::test {
namespace {

constexpr std::size_t chunk = 1 << 20;
constexpr std::size_t bulk_chunks = 64;  // 64 MiB each way

// One side of a full-duplex transfer on a non-blocking transport: sends its
// chunks and receives the peer's, waiting on the transport only when neither
// direction made progress. A write that would block is offered the same bytes
// again on the next round (the engine contract).
struct duplex_side {
  engine* e = nullptr;
  transport* io = nullptr;
  std::uint64_t seed = 0;
  std::uint64_t sent_sum = fnv1a_start;
  std::uint64_t received_sum = fnv1a_start;
  std::size_t received = 0;
  result<> outcome;

  void run(std::size_t expect, std::chrono::steady_clock::time_point deadline) {
    std::vector<std::byte> out(chunk);
    std::vector<std::byte> in(64 * 1024);
    std::size_t chunks_sent = 0;
    std::size_t offset = chunk;  // start by making chunk 0
    while (chunks_sent < bulk_chunks || received < expect) {
      if (std::chrono::steady_clock::now() > deadline) {
        outcome = errc::timeout;
        return;
      }
      bool progress = false;
      short events = 0;
      const auto want = [&events](wait_for w) { events |= w == wait_for::read ? POLLIN : POLLOUT; };
      if (chunks_sent < bulk_chunks) {
        if (offset == chunk) {
          fill_pattern(out, seed * 1000 + chunks_sent);
          sent_sum = fnv1a(out, sent_sum);
          offset = 0;
        }
        const result<std::size_t> w = e->write(std::span(out).subspan(offset));
        if (w.ok()) {
          if (*w == 0 || *w > chunk - offset) {
            outcome = errc::internal;  // took nothing, or more than it was offered
            return;
          }
          offset += *w;
          if (offset == chunk) ++chunks_sent;
          progress = true;
        } else if (w.would_block()) {
          want(w.wants());
        } else {
          outcome = w.status();
          return;
        }
      }
      if (received < expect) {
        const result<std::size_t> r = e->read(in);
        if (r.ok() && *r > 0) {
          received_sum = fnv1a(std::span(in).first(*r), received_sum);
          received += *r;
          progress = true;
        } else if (r.would_block()) {
          want(r.wants());
        } else {
          outcome = r.ok() ? result<>(errc::eof) : r.status();  // close_notify before all came
          return;
        }
      }
      if (progress) continue;
      // Both directions wait: a socket is polled for either; a memory pipe end
      // can wait for one, so it waits for the first that is wanted, briefly,
      // and the loop tries both again (wait returns as soon as it is ready).
      const int fd = io->native_handle();
      if (fd >= 0) {
        pollfd p{fd, events, 0};
        (void)::poll(&p, 1, 100);
      } else {
        (void)io->wait((events & POLLIN) != 0 ? wait_for::read : wait_for::write, clock::now() + milliseconds{10});
      }
    }
  }
};

void full_duplex(engine_pair& p) {
  ASSERT_TRUE(p.client && p.server);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const std::size_t total = chunk * bulk_chunks;
  duplex_side c;
  c.e = p.client.get();
  c.io = p.io.client.get();
  c.seed = 1;
  duplex_side s;
  s.e = p.server.get();
  s.io = p.io.server.get();
  s.seed = 2;
  auto server = in_thread([&] { s.run(total, deadline); });
  c.run(total, deadline);
  server.get();
  ASSERT_TRUE(is_ok(c.outcome));
  ASSERT_TRUE(is_ok(s.outcome));
  EXPECT_EQ(c.received, total);
  EXPECT_EQ(s.received, total);
  EXPECT_EQ(c.received_sum, s.sent_sum);
  EXPECT_EQ(s.received_sum, c.sent_sum);
  EXPECT_NE(c.sent_sum, s.sent_sum);
}

// Both handshakes pumped from one thread, never waiting inside a call: each
// round calls whichever is not done, and waits only when both would block.
void pump_handshakes(engine_pair& p) {
  ASSERT_TRUE(p.client && p.server);
  bool cdone = false;
  bool sdone = false;
  int rounds = 0;
  const auto deadline = clock::now() + call_limit;
  while (!(cdone && sdone) && clock::now() < deadline) {
    ++rounds;
    if (!cdone) {
      const result<> r = p.client->handshake();
      ASSERT_FALSE(r.failed()) << "client: " << to_string(r) << " " << p.client->failure().text;
      cdone = r.ok();
    }
    if (!sdone) {
      const result<> r = p.server->handshake();
      ASSERT_FALSE(r.failed()) << "server: " << to_string(r) << " " << p.server->failure().text;
      sdone = r.ok();
    }
    if (cdone && sdone) break;
    const int fds[2] = {p.io.client->native_handle(), p.io.server->native_handle()};
    if (fds[0] >= 0 && fds[1] >= 0) {
      pollfd pf[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
      (void)::poll(pf, 2, 10);
    }
    // A memory pipe needs no wait: what one end wrote is there for the other now.
  }
  ASSERT_TRUE(cdone && sdone) << "not done after " << rounds << " rounds";
  EXPECT_GT(rounds, 1) << "a handshake needs more than one flight";
}

TEST(Data, SixtyFourMebibytesEachWayAtOnceOverSockets) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("server-ecdsa"));
  ASSERT_TRUE(c && s);
  // The sockets driven as an event loop would: non-blocking calls, poll.
  engine_pair p = make_engines(*c, *s, socket_pair());
  pump_handshakes(p);
  if (HasFatalFailure()) return;
  full_duplex(p);
}

TEST(Data, SixtyFourMebibytesEachWayAtOnceOverTheMemoryPipe) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(c && s);
  // A big buffer lets each side's loop both send and receive.
  engine_pair p = make_engines(*c, *s, memory_pair({.capacity = 4u << 20}));
  pump_handshakes(p);
  if (HasFatalFailure()) return;
  full_duplex(p);
}

// Sizes around the 16 KiB record limit and odd ones, each read back intact.
TEST(Data, SmallAndOddSizedWrites) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  // Room for the biggest write: one thread writes it all, then reads it.
  engine_pair p = connected(*c, *s, memory_pair({.capacity = 1u << 20}));
  ASSERT_TRUE(p.client && p.server);
  std::uint64_t seed = 7;
  for (const std::size_t n : {1u, 2u, 17u, 255u, 16383u, 16384u, 16385u, 32769u, 65537u, 100'003u}) {
    SCOPED_TRACE(n);
    std::vector<std::byte> out(n);
    fill_pattern(out, ++seed);
    ASSERT_TRUE(is_ok(engine_write_all(*p.client, *p.io.client, out)));
    std::vector<std::byte> in(n);
    ASSERT_TRUE(is_ok(engine_read_exact(*p.server, *p.io.server, in)));
    EXPECT_EQ(in, out);
    // And back the other way.
    ASSERT_TRUE(is_ok(engine_write_all(*p.server, *p.io.server, out)));
    ASSERT_TRUE(is_ok(engine_read_exact(*p.client, *p.io.client, in)));
    EXPECT_EQ(in, out);
  }
}

TEST(Data, ManyOneByteWritesArriveInOrder) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair({.capacity = 1u << 20}));
  ASSERT_TRUE(p.client && p.server);
  std::string text;
  for (int i = 0; i < 500; ++i) text.push_back(static_cast<char>('a' + i % 26));
  for (const char ch : text) ASSERT_TRUE(is_ok(engine_write_text(*p.client, *p.io.client, std::string_view(&ch, 1))));
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*p.server, *p.io.server, text.size(), got)));
  EXPECT_EQ(got, text);
}

TEST(Data, PendingCountsDecryptedBytesNotYetRead) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  ASSERT_TRUE(is_ok(engine_write_text(*p.client, *p.io.client, "0123456789")));
  EXPECT_EQ(p.server->pending(), 0u) << "nothing is decrypted before it is read";
  std::byte one[1];
  const result<std::size_t> r = finish(*p.io.server, [&] { return p.server->read(one); });
  ASSERT_TRUE(is_ok(r));
  EXPECT_EQ(*r, 1u);
  EXPECT_EQ(p.server->pending(), 9u);
  std::string rest;
  ASSERT_TRUE(is_ok(engine_read_text(*p.server, *p.io.server, 9, rest)));
  EXPECT_EQ(rest, "123456789");
  EXPECT_EQ(p.server->pending(), 0u);
}

}  // namespace
}  // namespace uptls::test
