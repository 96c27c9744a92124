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
// chunks and receives the peer's, waiting on the socket (or yielding on the
// memory pipe) only when neither direction made progress.
struct duplex_side {
  engine* e = nullptr;
  int fd = -1;  // socket to poll, or -1 for the memory pipe
  std::uint64_t seed = 0;
  std::uint64_t sent_sum = 1469598103934665603ull;
  std::uint64_t received_sum = 1469598103934665603ull;
  std::size_t received = 0;
  std::error_code error;

  void run(std::size_t expect, std::chrono::steady_clock::time_point deadline) {
    std::vector<std::byte> out(chunk);
    std::vector<std::byte> in(64 * 1024);
    std::size_t chunks_sent = 0;
    std::size_t offset = chunk;  // start by making chunk 0
    while (chunks_sent < bulk_chunks || received < expect) {
      if (std::chrono::steady_clock::now() > deadline) {
        error = errc::timeout;
        return;
      }
      bool progress = false;
      short events = 0;
      if (chunks_sent < bulk_chunks) {
        if (offset == chunk) {
          fill_pattern(out, seed * 1000 + chunks_sent);
          sent_sum = fnv1a(out, sent_sum);
          offset = 0;
        }
        const op_result w = e->write(std::span(out).subspan(offset));
        if (w.status == tls_status::ok) {
          offset += w.bytes;
          if (offset == chunk) ++chunks_sent;
          progress = true;
        } else if (w.status == tls_status::want_write) {
          events |= POLLOUT;
        } else if (w.status == tls_status::want_read) {
          events |= POLLIN;
        } else {
          error = w.error ? w.error : make_error_code(errc::eof);
          return;
        }
      }
      if (received < expect) {
        const op_result r = e->read(in);
        if (r.status == tls_status::ok) {
          received_sum = fnv1a(std::span(in).first(r.bytes), received_sum);
          received += r.bytes;
          progress = true;
        } else if (r.status == tls_status::want_read) {
          events |= POLLIN;
        } else if (r.status == tls_status::want_write) {
          events |= POLLOUT;
        } else {
          error = r.error ? r.error : make_error_code(errc::eof);
          return;
        }
      }
      if (progress) continue;
      if (fd >= 0) {
        pollfd p{fd, events, 0};
        (void)::poll(&p, 1, 100);
      } else {
        std::this_thread::yield();
      }
    }
  }
};

void full_duplex(engine_pair& p, int client_fd, int server_fd) {
  ASSERT_TRUE(p.client && p.server);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const std::size_t total = chunk * bulk_chunks;
  duplex_side c;
  c.e = p.client.get();
  c.fd = client_fd;
  c.seed = 1;
  duplex_side s;
  s.e = p.server.get();
  s.fd = server_fd;
  s.seed = 2;
  auto server = in_thread([&] { s.run(total, deadline); });
  c.run(total, deadline);
  server.get();
  ASSERT_FALSE(c.error) << name_of(c.error);
  ASSERT_FALSE(s.error) << name_of(s.error);
  EXPECT_EQ(c.received, total);
  EXPECT_EQ(s.received, total);
  EXPECT_EQ(c.received_sum, s.sent_sum);
  EXPECT_EQ(s.received_sum, c.sent_sum);
  EXPECT_NE(c.sent_sum, s.sent_sum);
}

TEST(Data, SixtyFourMebibytesEachWayAtOnceOverSockets) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("server-ecdsa"));
  ASSERT_TRUE(c && s);
  // Blocking for the handshake, then the same sockets driven as an event loop.
  auto listener = tcp_listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok());
  auto ct = tcp_connect("127.0.0.1", listener->port(), {milliseconds{5000}, milliseconds{0}});
  auto st = listener->accept(milliseconds{5000}, {milliseconds{5000}, milliseconds{0}});
  ASSERT_TRUE(ct.ok() && st.ok());
  const int cfd = (*ct)->native_handle();
  const int sfd = (*st)->native_handle();
  engine_pair p = make_engines(*c, *s, {std::move(*ct), std::move(*st)});
  ASSERT_TRUE(p.client && p.server);
  // Non-blocking handshake: pump both ends from one thread until both are done.
  bool cdone = false;
  bool sdone = false;
  for (int i = 0; i < 100000 && !(cdone && sdone); ++i) {
    if (!cdone) {
      const op_result r = p.client->handshake();
      ASSERT_NE(r.status, tls_status::error) << name_of(r.error);
      cdone = r.status == tls_status::ok;
    }
    if (!sdone) {
      const op_result r = p.server->handshake();
      ASSERT_NE(r.status, tls_status::error) << name_of(r.error);
      sdone = r.status == tls_status::ok;
    }
    if (!(cdone && sdone)) {
      pollfd fds[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
      (void)::poll(fds, 2, 10);
    }
  }
  ASSERT_TRUE(cdone && sdone);
  full_duplex(p, cfd, sfd);
}

TEST(Data, SixtyFourMebibytesEachWayAtOnceOverTheMemoryPipe) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("server-rsa"));
  ASSERT_TRUE(c && s);
  // Blocking pipe for the handshake would need threads; a non-blocking one with a
  // big buffer lets each side's loop both send and receive.
  engine_pair p = make_engines(*c, *s, memory_pair({milliseconds{0}, 4u << 20}));
  ASSERT_TRUE(p.client && p.server);
  bool cdone = false;
  bool sdone = false;
  for (int i = 0; i < 10000 && !(cdone && sdone); ++i) {
    if (!cdone) {
      const op_result r = p.client->handshake();
      ASSERT_NE(r.status, tls_status::error) << name_of(r.error);
      cdone = r.status == tls_status::ok;
    }
    if (!sdone) {
      const op_result r = p.server->handshake();
      ASSERT_NE(r.status, tls_status::error) << name_of(r.error);
      sdone = r.status == tls_status::ok;
    }
  }
  ASSERT_TRUE(cdone && sdone);
  full_duplex(p, -1, -1);
}

// Sizes around the 16 KiB record limit and odd ones, each read back intact.
TEST(Data, SmallAndOddSizedWrites) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair({milliseconds{10'000}, 1u << 20}));
  ASSERT_TRUE(p.client && p.server);
  std::uint64_t seed = 7;
  for (const std::size_t n : {1u, 2u, 17u, 255u, 16383u, 16384u, 16385u, 32769u, 65537u, 100'003u}) {
    SCOPED_TRACE(n);
    std::vector<std::byte> out(n);
    fill_pattern(out, ++seed);
    ASSERT_FALSE(engine_write_all(*p.client, out));
    std::vector<std::byte> in(n);
    ASSERT_FALSE(engine_read_exact(*p.server, in));
    EXPECT_EQ(in, out);
    // And back the other way.
    ASSERT_FALSE(engine_write_all(*p.server, out));
    ASSERT_FALSE(engine_read_exact(*p.client, in));
    EXPECT_EQ(in, out);
  }
}

TEST(Data, ManyOneByteWritesArriveInOrder) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair({milliseconds{10'000}, 1u << 20}));
  ASSERT_TRUE(p.client && p.server);
  std::string text;
  for (int i = 0; i < 500; ++i) text.push_back(static_cast<char>('a' + i % 26));
  for (const char ch : text) ASSERT_FALSE(engine_write_text(*p.client, std::string_view(&ch, 1)));
  std::string got;
  ASSERT_FALSE(engine_read_text(*p.server, text.size(), got));
  EXPECT_EQ(got, text);
}

TEST(Data, PendingCountsDecryptedBytesNotYetRead) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = connected(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  ASSERT_FALSE(engine_write_text(*p.client, "0123456789"));
  std::byte one[1];
  const op_result r = p.server->read(one);
  ASSERT_EQ(r.status, tls_status::ok);
  EXPECT_EQ(r.bytes, 1u);
  EXPECT_EQ(p.server->pending(), 9u);
  std::string rest;
  ASSERT_FALSE(engine_read_text(*p.server, 9, rest));
  EXPECT_EQ(rest, "123456789");
  EXPECT_EQ(p.server->pending(), 0u);
}

}  // namespace
}  // namespace uptls::test
