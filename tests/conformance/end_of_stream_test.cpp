// The three ends of a TLS stream (close_notify, truncation, need more data),
// sticky fatal errors, transport failures passed through under their own name,
// and a silent peer, which is would-block until the caller's deadline.
#include "harness.hpp"

namespace uptls::test {
namespace {

struct Connected : ::testing::Test {
  void SetUp() override {
    c = client_ctx(client_config());
    s = server_ctx(server_config());
    ASSERT_TRUE(c && s);
    p = connected(*c, *s, memory_pair({.capacity = 256 * 1024}));
    ASSERT_TRUE(p.client && p.server);
  }
  // One call of the client's (server's) engine, run to its end.
  template <class Step>
  auto on_client(Step step, milliseconds limit = call_limit) {
    return finish(*p.io.client, step, limit);
  }
  template <class Step>
  auto on_server(Step step, milliseconds limit = call_limit) {
    return finish(*p.io.server, step, limit);
  }
  std::shared_ptr<const context> c, s;
  engine_pair p;
};

TEST_F(Connected, CloseNotifyIsACleanEnd) {
  ASSERT_TRUE(is_ok(engine_write_text(*p.client, *p.io.client, "bye")));
  ASSERT_TRUE(is_ok(on_client([&] { return p.client->close(); })));
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*p.server, *p.io.server, 3, got)));
  EXPECT_EQ(got, "bye");
  std::byte buf[16];
  // 0 = the peer's close_notify: ok with no bytes, neither an error nor a wait.
  const result<std::size_t> end = on_server([&] { return p.server->read(buf); });
  ASSERT_TRUE(is_ok(end));
  EXPECT_EQ(*end, 0u);
  const result<std::size_t> again = p.server->read(buf);
  ASSERT_TRUE(is_ok(again)) << "closed stays closed, without touching the transport";
  EXPECT_EQ(*again, 0u);
  // Our side may still answer with its own close_notify.
  EXPECT_TRUE(is_ok(on_server([&] { return p.server->close(); })));
  const result<std::size_t> theirs = on_client([&] { return p.client->read(buf); });
  ASSERT_TRUE(is_ok(theirs));
  EXPECT_EQ(*theirs, 0u);
}

TEST_F(Connected, CloseTwiceIsHarmlessAndWriteAfterCloseIsUsage) {
  ASSERT_TRUE(is_ok(on_client([&] { return p.client->close(); })));
  EXPECT_TRUE(is_ok(p.client->close())) << "done at once the second time";
  const std::byte one[1]{};
  EXPECT_EQ(p.client->write(one), errc::usage);
  // The peer sees one clean end, and nothing after it.
  std::byte buf[16];
  const result<std::size_t> end = on_server([&] { return p.server->read(buf); });
  ASSERT_TRUE(is_ok(end));
  EXPECT_EQ(*end, 0u);
}

// Harmless means no I/O: a second close() must not send a second close_notify.
// Over a non-blocking transport a second alert could would-block, and over a
// transport shut down after the first close it would fail (and that failure
// would be sticky), where the caller had nothing left to do.
TEST(CloseTwice, TheSecondCloseSendsNothing) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  transport_pair io = memory_pair();
  counting_transport* const wire = count_client_writes(io);
  engine_pair p = connected(*c, *s, std::move(io));
  ASSERT_TRUE(p.client && p.server);
  ASSERT_FALSE(HasFailure());
  const std::size_t before_close = wire->written();
  ASSERT_TRUE(is_ok(finish(*p.io.client, [&] { return p.client->close(); })));
  const std::size_t alert = wire->written() - before_close;
  EXPECT_GE(alert, 7u) << "a close_notify record: a 5-byte header and at least 2 bytes";
  const result<> second = p.client->close();
  EXPECT_TRUE(is_ok(second));
  EXPECT_EQ(wire->written() - before_close, alert) << "the second close() wrote another " << (wire->written() - before_close - alert) << " bytes";
  // What the shut-down transport shows: the second close has nothing to write.
  p.io.client->shutdown_write();
  EXPECT_TRUE(is_ok(p.client->close())) << "after the transport was shut down too";
  std::byte buf[16];
  const result<std::size_t> end = finish(*p.io.server, [&] { return p.server->read(buf); });
  ASSERT_TRUE(is_ok(end));
  EXPECT_EQ(*end, 0u);
  std::byte raw[64];
  const result<std::size_t> after = p.io.server->read_some(raw);
  EXPECT_TRUE(after.ok() && *after == 0) << "nothing but the end of the stream after the one close_notify: "
                                          << (after.ok() ? std::to_string(*after) + " bytes" : to_string(after));
}

TEST_F(Connected, TransportEndWithoutCloseNotifyIsTruncation) {
  ASSERT_TRUE(is_ok(engine_write_text(*p.client, *p.io.client, "partial")));
  p.io.client->close();  // the connection ends without close_notify
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*p.server, *p.io.server, 7, got)));
  EXPECT_EQ(got, "partial") << "bytes before the cut are still delivered";
  std::byte buf[16];
  const result<std::size_t> r = on_server([&] { return p.server->read(buf); });
  EXPECT_TRUE(r.failed()) << to_string(r);
  EXPECT_EQ(r, errc::truncated) << to_string(r);
  // Sticky: every later call reports the same error, at once.
  EXPECT_EQ(p.server->read(buf), errc::truncated);
  EXPECT_EQ(p.server->write(std::span<const std::byte>(buf, 1)), errc::truncated);
  EXPECT_EQ(p.server->close(), errc::truncated);
  EXPECT_EQ(p.server->handshake(), errc::truncated);
}

TEST_F(Connected, HalfCloseWithoutCloseNotifyIsTruncationToo) {
  p.io.server->shutdown_write();
  std::byte buf[16];
  const result<std::size_t> r = on_client([&] { return p.client->read(buf); });
  EXPECT_TRUE(r.failed()) << to_string(r);
  EXPECT_EQ(r, errc::truncated) << to_string(r);
}

// A transport no longer times out: a silent peer is would-block, for as long
// as it stays silent. The timeout is the caller's (here the driver's deadline;
// uptls::stream has its own, tested in stream_test.cpp), and it does not break
// the engine: would-block is not an error, so nothing is sticky and the
// connection carries on once the peer speaks.
TEST_F(Connected, SilentPeerIsWouldBlockAndTheCallersDeadlineIsTheTimeout) {
  std::byte buf[16];
  // Drain what the handshake left for the server (nothing, or a client's
  // TLS 1.3 post-handshake bytes), so that the next reads have nothing.
  for (int i = 0; i < 10; ++i) {
    const result<std::size_t> r = p.server->read(buf);
    if (r.would_block()) break;
    ASSERT_TRUE(is_ok(r));
  }
  const result<std::size_t> now = p.server->read(buf);
  ASSERT_TRUE(now.would_block()) << to_string(now);
  EXPECT_EQ(now.wants(), wait_for::read);
  const auto start = clock::now();
  const result<std::size_t> r = on_server([&] { return p.server->read(buf); }, milliseconds{100});
  const auto took = clock::now() - start;
  EXPECT_EQ(r, errc::timeout) << to_string(r);
  EXPECT_GE(took, milliseconds{100}) << "the deadline, not an early error";
  EXPECT_LT(took, milliseconds{5'000}) << "and no longer";
  // Again: still a timeout from the deadline, still no error from the engine.
  EXPECT_EQ(on_server([&] { return p.server->read(buf); }, milliseconds{50}), errc::timeout);
  EXPECT_TRUE(p.server->read(buf).would_block()) << "a wait is never sticky like an error";
  // The engine is intact both ways.
  ASSERT_TRUE(is_ok(engine_write_text(*p.server, *p.io.server, "late")));
  std::string got;
  ASSERT_TRUE(is_ok(engine_read_text(*p.client, *p.io.client, 4, got)));
  EXPECT_EQ(got, "late");
  ASSERT_TRUE(is_ok(engine_write_text(*p.client, *p.io.client, "ping")));
  ASSERT_TRUE(is_ok(engine_read_text(*p.server, *p.io.server, 4, got)));
  EXPECT_EQ(got, "ping");
}

TEST_F(Connected, WriteToAGonePeerIsConnectionReset) {
  p.io.server->close();
  std::vector<std::byte> big(64 * 1024);
  result<std::size_t> r = std::size_t{0};
  for (int i = 0; i < 8 && !r.failed(); ++i) r = on_client([&] { return p.client->write(big); });
  EXPECT_TRUE(r.failed()) << to_string(r);
  EXPECT_EQ(r, errc::connection_reset) << to_string(r);
  EXPECT_EQ(p.client->write(big), errc::connection_reset) << "sticky";
}

// On a non-blocking transport, "no bytes yet" is would-block (wants read),
// never an error, and the engine carries on once the bytes come.
TEST(NeedMoreData, WouldBlockIsAStatusNotAnError) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair({.capacity = 256 * 1024}));
  ASSERT_TRUE(p.client && p.server);

  // The server has nothing to read before the client speaks.
  const result<> first = p.server->handshake();
  EXPECT_TRUE(first.would_block()) << to_string(first);
  EXPECT_EQ(first.wants(), wait_for::read);
  EXPECT_FALSE(first.failed());
  bool cdone = false;
  bool sdone = false;
  int rounds = 0;
  for (; rounds < 100 && !(cdone && sdone); ++rounds) {
    const result<> cr = p.client->handshake();
    ASSERT_FALSE(cr.failed()) << to_string(cr);
    cdone = cr.ok();
    const result<> sr = p.server->handshake();
    ASSERT_FALSE(sr.failed()) << to_string(sr);
    sdone = sr.ok();
  }
  ASSERT_TRUE(cdone && sdone);
  EXPECT_GT(rounds, 1) << "a handshake needs more than one flight";

  // Drain whatever the client still has to process (TLS 1.3 tickets), then the
  // next read has to wait for data.
  std::byte buf[64];
  for (int i = 0; i < 10; ++i) {
    const result<std::size_t> r = p.client->read(buf);
    if (r.would_block()) break;
    ASSERT_FALSE(r.failed()) << to_string(r);
  }
  result<std::size_t> r = p.server->read(buf);
  EXPECT_TRUE(r.would_block()) << to_string(r);
  EXPECT_EQ(r.wants(), wait_for::read);
  EXPECT_TRUE(p.server->read(buf).would_block()) << "would-block is not sticky like an error";
  const result<std::size_t> w = p.client->write(std::as_bytes(std::span("ping", 4)));
  ASSERT_TRUE(is_ok(w));
  EXPECT_EQ(*w, 4u);
  r = p.server->read(buf);
  ASSERT_TRUE(is_ok(r));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf), *r), "ping");
}

// A fatal handshake error stays: every later call returns the same error.
TEST(StickyErrors, FailedHandshakeMakesTheEngineUnusable) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("wronghost"));
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  const handshake_results r = handshake_both(p);
  ASSERT_TRUE(r.client.failed()) << to_string(r.client);
  const std::error_code first = r.client.error();
  EXPECT_EQ(first, errc::cert_name_mismatch) << name_of(first);
  std::byte buf[8]{};
  EXPECT_EQ(p.client->handshake(), first);
  EXPECT_EQ(p.client->read(buf), first);
  EXPECT_EQ(p.client->write(buf), first);
  EXPECT_EQ(p.client->close(), first);
  EXPECT_TRUE(p.client->handshake().failed());
  ASSERT_TRUE(r.server.failed()) << to_string(r.server);
  EXPECT_EQ(p.server->handshake(), r.server.error());
  EXPECT_FALSE(p.client->failure().text.empty()) << "the library's words are kept";
  EXPECT_TRUE(p.client->failure().library) << "the library's own code is kept";
}

}  // namespace
}  // namespace uptls::test
