// What the resumable architecture owes at the engine level, on every backend:
// a connection whose every byte costs a would-block ends as an ordinary one
// does; a write that would block is finished by offering the same bytes again,
// and none of them arrives twice or goes missing; a close that would block is
// resumed and the peer sees close_notify, not truncation.
#include <vector>

#include "harness.hpp"

namespace uptls::test {
namespace {

// Every byte in its own chunk, and a would-block before each next chunk: each
// byte costs a wait, in both directions, for both ends.
pipe_options one_byte_per_wakeup() {
  pipe_options p;
  p.max_chunk = 1;
  p.pause_after_chunk = true;
  return p;
}

// Slow pipes move one byte per wake-up: give every call room on a busy machine.
constexpr milliseconds slow_limit{30'000};

struct version_case {
  bool cap12;  // the client stops at TLS 1.2 (else: the best both have)
};

std::string version_name(const ::testing::TestParamInfo<version_case>& info) {
  return info.param.cap12 ? "tls12" : "best";
}

tls_config client_for(const version_case& v) {
  tls_config cc = client_config();
  if (v.cap12) cc.max_version = tls_version::tls1_2;
  // ALPN too where the backend has it: one more fact that must come out the same.
  if (backend_under_test().caps().alpn) cc.alpn = {"smtp"};
  return cc;
}

tls_config server_for() {
  tls_config sc = server_config("server-rsa");
  if (backend_under_test().caps().alpn) sc.alpn = {"smtp"};
  return sc;
}

// What one connection did, for comparing two of them.
struct connection_run {
  session_info client;
  session_info server;
  handshake_results handshake;
  int client_write_blocked = 0;
  int server_read_blocked = 0;
  int server_write_blocked = 0;
  int client_read_blocked = 0;
};

constexpr std::size_t payload = 20'000;  // more than one record, each way

// A handshake, payload bytes each way (checked), and a clean close both ways,
// over io. Fresh contexts each time: a second connection from the same client
// context would resume, and that is not what is compared here.
connection_run run_connection(const version_case& v, transport_pair io) {
  connection_run out;
  auto c = client_ctx(client_for(v));
  auto s = server_ctx(server_for());
  if (!c || !s) return out;
  engine_pair p = make_engines(*c, *s, std::move(io));
  if (!p.client || !p.server) return out;
  const milliseconds limit = p.io.io_timeout;
  out.handshake = handshake_both(p);
  EXPECT_TRUE(is_ok(out.handshake.client)) << p.client->failure().text;
  EXPECT_TRUE(is_ok(out.handshake.server)) << p.server->failure().text;
  if (!out.handshake.client.ok() || !out.handshake.server.ok()) return out;
  out.client = p.client->session();
  out.server = p.server->session();

  std::vector<std::byte> up(payload);
  std::vector<std::byte> down(payload);
  fill_pattern(up, 11);
  fill_pattern(down, 12);
  // The server reads all, then answers; the client sends all, then reads.
  auto server = in_thread([&] {
    std::vector<std::byte> got(payload);
    std::span<std::byte> rest(got);
    while (!rest.empty()) {
      const result<std::size_t> r = finish(*p.io.server, [&] { return p.server->read(rest); }, limit,
                                           &out.server_read_blocked);
      if (!r.ok() || *r == 0) return r.ok() ? result<>(errc::eof) : r.status();
      rest = rest.subspan(*r);
    }
    if (got != up) return result<>(errc::bad_message);  // here: what arrived is not what was sent
    std::span<const std::byte> left(down);
    while (!left.empty()) {
      const result<std::size_t> r = finish(*p.io.server, [&] { return p.server->write(left); }, limit,
                                           &out.server_write_blocked);
      if (!r.ok()) return r.status();
      left = left.subspan(*r);
    }
    return result<>{};
  });
  std::span<const std::byte> left(up);
  result<> sent;
  while (!left.empty() && sent.ok()) {
    const result<std::size_t> r = finish(*p.io.client, [&] { return p.client->write(left); }, limit,
                                         &out.client_write_blocked);
    if (r.ok()) left = left.subspan(*r);
    else sent = r.status();
  }
  EXPECT_TRUE(is_ok(sent)) << "client write";
  if (!sent.ok()) p.io.client->shutdown_write();  // the server ends at once, not at its bound
  std::vector<std::byte> got(payload);
  std::span<std::byte> rest(got);
  while (!rest.empty() && sent.ok()) {
    const result<std::size_t> r = finish(*p.io.client, [&] { return p.client->read(rest); }, limit,
                                         &out.client_read_blocked);
    if (!r.ok() || *r == 0) {
      ADD_FAILURE() << "client read: " << (r.ok() ? "close_notify before the last byte" : to_string(r));
      break;
    }
    rest = rest.subspan(*r);
  }
  EXPECT_TRUE(is_ok(server.get())) << "server: read the client's bytes intact, then answer (bad_message: they differ)";
  EXPECT_TRUE(got == down) << "the client got the server's bytes intact";

  // The clean end, each way: close_notify, and the peer reads 0.
  std::byte buf[64];
  EXPECT_TRUE(is_ok(finish(*p.io.client, [&] { return p.client->close(); }, limit)));
  const result<std::size_t> server_end = finish(*p.io.server, [&] { return p.server->read(buf); }, limit);
  EXPECT_TRUE(is_ok(server_end)) << "the server sees close_notify";
  if (server_end.ok()) {
    EXPECT_EQ(*server_end, 0u) << "close_notify, not more data";
  }
  EXPECT_TRUE(is_ok(finish(*p.io.server, [&] { return p.server->close(); }, limit)));
  const result<std::size_t> client_end = finish(*p.io.client, [&] { return p.client->read(buf); }, limit);
  EXPECT_TRUE(is_ok(client_end)) << "the client sees close_notify";
  if (client_end.ok()) {
    EXPECT_EQ(*client_end, 0u) << "close_notify, not more data";
  }
  return out;
}

void expect_same_facts(const session_info& slow, const session_info& ordinary) {
  EXPECT_EQ(slow.version, ordinary.version);
  EXPECT_EQ(slow.suite.name, ordinary.suite.name);
  EXPECT_EQ(slow.kx, ordinary.kx);
  EXPECT_EQ(slow.group, ordinary.group);
  EXPECT_EQ(slow.forward_secret, ordinary.forward_secret);
  EXPECT_EQ(slow.resumed, ordinary.resumed);
  EXPECT_EQ(slow.verified, ordinary.verified);
  EXPECT_EQ(slow.suite.id, ordinary.suite.id);
  EXPECT_EQ(slow.peer_certificate_der(), ordinary.peer_certificate_der());
  EXPECT_EQ(slow.sni, ordinary.sni);
  EXPECT_EQ(slow.alpn, ordinary.alpn);
  EXPECT_EQ(slow.backend, ordinary.backend);
}

class OneByteWakeups : public ::testing::TestWithParam<version_case> {};

// Both engines, client and server, over a pipe where every byte costs a
// would-block: each call is resumed again and again, and the connection ends
// exactly as one over an ordinary pipe does.
TEST_P(OneByteWakeups, HandshakeDataAndCloseEndAsOverAnOrdinaryPipe) {
  transport_pair slow_io = memory_pair(one_byte_per_wakeup());
  slow_io.io_timeout = slow_limit;
  const connection_run slow = run_connection(GetParam(), std::move(slow_io));
  if (HasFailure()) return;
  const connection_run ordinary = run_connection(GetParam(), memory_pair());
  if (HasFailure()) return;

  // Every byte the peer sent needed a wake-up of its own: a flight of about a
  // kilobyte in the handshake, then payload bytes and their record overhead.
  EXPECT_GT(slow.handshake.client_blocked, 100);
  EXPECT_GT(slow.handshake.server_blocked, 100);
  EXPECT_GE(slow.server_read_blocked, static_cast<int>(payload) - 1);
  EXPECT_GE(slow.client_read_blocked, static_cast<int>(payload) - 1);
  // And every byte written, after the first of each call, was a would-block
  // the writer resumed with the same bytes.
  EXPECT_GE(slow.client_write_blocked, static_cast<int>(payload) - 1);
  EXPECT_GE(slow.server_write_blocked, static_cast<int>(payload) - 1);

  SCOPED_TRACE("client facts");
  expect_same_facts(slow.client, ordinary.client);
  SCOPED_TRACE("server facts");
  expect_same_facts(slow.server, ordinary.server);
  // Facts that tell a real handshake from an empty one.
  EXPECT_TRUE(slow.client.verified);
  EXPECT_FALSE(slow.client.suite.name.empty());
  EXPECT_EQ(slow.client.sni, "localhost");
  EXPECT_EQ(slow.server.sni, "localhost");
  if (backend_under_test().caps().alpn) {
    EXPECT_EQ(slow.client.alpn, "smtp");
  }
  if (GetParam().cap12) {
    EXPECT_EQ(slow.client.version, tls_version::tls1_2);
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, OneByteWakeups, ::testing::Values(version_case{false}, version_case{true}),
                         version_name);

// How the transport pushes back on a writer.
struct pushback {
  const char* name;
  pipe_options pipe;
};

class PartialWrite : public ::testing::TestWithParam<pushback> {};

// A write that would block may already hold part of a record; the engine
// contract is that the caller offers the same bytes again, and the engine
// neither sends them twice nor drops any. 1 MiB through a transport that
// pushes back all the time, checked on the other side byte for byte.
TEST_P(PartialWrite, FinishedWithTheSameBytesArrivesExactlyOnce) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  transport_pair io = memory_pair(GetParam().pipe);
  io.io_timeout = slow_limit;
  engine_pair p = connected(*c, *s, std::move(io));
  ASSERT_TRUE(p.client && p.server);
  ASSERT_FALSE(HasFailure());

  constexpr std::size_t total = 1u << 20;
  std::vector<std::byte> data(total);
  fill_pattern(data, 2024);
  const std::uint64_t sent_sum = fnv1a(data);

  // The server reads until close_notify: what it counts is every byte that
  // arrived, so a byte sent twice shows as too many, one lost as too few.
  struct received {
    result<> end;
    std::size_t bytes = 0;
    std::uint64_t sum = fnv1a_start;
  };
  auto reader = in_thread([&p] {
    received got;
    std::vector<std::byte> buf(50'000);
    for (;;) {
      const result<std::size_t> r = finish(*p.io.server, [&] { return p.server->read(buf); }, slow_limit);
      if (!r.ok()) {
        got.end = r.status();
        return got;
      }
      if (*r == 0) return got;  // close_notify
      got.sum = fnv1a(std::span(buf).first(*r), got.sum);
      got.bytes += *r;
    }
  });

  int blocked = 0;
  int calls_resumed = 0;  // write calls that would block at least once
  std::size_t taken = 0;
  std::span<const std::byte> left(data);
  while (!left.empty()) {
    const int before = blocked;
    // finish() offers `left` again, unchanged, after every would-block.
    const result<std::size_t> r = finish(*p.io.client, [&] { return p.client->write(left); }, slow_limit, &blocked);
    ASSERT_TRUE(is_ok(r)) << "after " << taken << " bytes";
    ASSERT_GT(*r, 0u) << "an ok write takes something";
    ASSERT_LE(*r, left.size()) << "and never more than it was offered";
    if (blocked > before) ++calls_resumed;
    taken += *r;
    left = left.subspan(*r);
  }
  EXPECT_EQ(taken, total);
  ASSERT_TRUE(is_ok(finish(*p.io.client, [&] { return p.client->close(); }, slow_limit)));
  const received got = reader.get();
  EXPECT_TRUE(is_ok(got.end)) << "the reader ends at close_notify";
  EXPECT_EQ(got.bytes, total) << "each byte exactly once";
  EXPECT_EQ(got.sum, sent_sum) << "the same bytes, in order";
  // The point of the test: writes did stop half-way and were resumed.
  EXPECT_GT(blocked, 0);
  EXPECT_GT(calls_resumed, 0);
}

pipe_options chunked(std::size_t max_chunk, bool pause) {
  pipe_options p;
  p.max_chunk = max_chunk;
  p.pause_after_chunk = pause;
  return p;
}

pipe_options small(std::size_t capacity) {
  pipe_options p;
  p.capacity = capacity;
  return p;
}

INSTANTIATE_TEST_SUITE_P(
    Pushback, PartialWrite,
    // Pausing chunks (a would-block after every 1000 and after every 777
    // bytes, deterministic, mid-record since records are up to 16 KiB), and a
    // full pipe (smaller than one record, drained by the reader at its pace).
    ::testing::Values(pushback{"chunks_of_1000", chunked(1000, true)}, pushback{"chunks_of_777", chunked(777, true)},
                      pushback{"capacity_4096", small(4096)}),
    [](const auto& info) { return std::string(info.param.name); });

class ResumedClose : public ::testing::TestWithParam<version_case> {};

// close() that would block part-way through its close_notify is called again
// and finishes the alert: the peer reads 0 (close_notify), not errc::truncated.
// (An OpenSSL BIO that answered a retry with 0 instead of -1 made SSL_shutdown
// report the alert sent while it was not.) Both roles close this way.
TEST_P(ResumedClose, PeerSeesCloseNotifyNotTruncation) {
  auto c = client_ctx(client_for(GetParam()));
  auto s = server_ctx(server_for());
  ASSERT_TRUE(c && s);
  transport_pair io = memory_pair(one_byte_per_wakeup());
  io.io_timeout = slow_limit;
  engine_pair p = connected(*c, *s, std::move(io));
  ASSERT_TRUE(p.client && p.server);
  ASSERT_FALSE(HasFailure());
  // Some data first, so that the close follows application records.
  ASSERT_TRUE(is_ok(engine_write_text(*p.client, *p.io.client, "QUIT\r\n", slow_limit)));
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*p.server, *p.io.server, 6, got, slow_limit)));
  EXPECT_EQ(got, "QUIT\r\n");

  const struct {
    const char* who;
    engine& closing;
    transport& closing_io;
    engine& peer;
    transport& peer_io;
  } sides[] = {{"client closes", *p.client, *p.io.client, *p.server, *p.io.server},
               {"server closes", *p.server, *p.io.server, *p.client, *p.io.client}};
  for (const auto& side : sides) {
    SCOPED_TRACE(side.who);
    // Its first call cannot finish: the alert record is far more than one byte.
    const result<> first = side.closing.close();
    ASSERT_TRUE(first.would_block()) << to_string(first);
    EXPECT_EQ(first.wants(), wait_for::write);
    int blocked = 0;
    ASSERT_TRUE(is_ok(finish(side.closing_io, [&] { return side.closing.close(); }, slow_limit, &blocked)));
    // An alert record is at least a 5-byte header and 2 bytes, and each byte
    // waited for a wake-up of its own (the first call's would-block included).
    EXPECT_GE(1 + blocked, 7);
    const std::byte one[1]{};
    EXPECT_EQ(side.closing.write(one), errc::usage) << "nothing after close_notify";

    std::byte buf[64];
    const result<std::size_t> end = finish(side.peer_io, [&] { return side.peer.read(buf); }, slow_limit);
    ASSERT_TRUE(is_ok(end)) << "the peer must see close_notify (truncated: the alert was cut short)";
    EXPECT_EQ(*end, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, ResumedClose, ::testing::Values(version_case{false}, version_case{true}),
                         version_name);

}  // namespace
}  // namespace uptls::test
