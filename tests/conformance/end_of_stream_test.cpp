// The three ends of a TLS stream (close_notify, truncation, need more data),
// sticky fatal errors, and transport failures passed through under their own name.
#include "harness.hpp"

namespace uptls::test {
namespace {

struct Connected : ::testing::Test {
  void SetUp() override {
    c = client_ctx(client_config());
    s = server_ctx(server_config());
    ASSERT_TRUE(c && s);
    p = connected(*c, *s, memory_pair({milliseconds{5'000}, 256 * 1024}));
    ASSERT_TRUE(p.client && p.server);
  }
  std::shared_ptr<const context> c, s;
  engine_pair p;
};

TEST_F(Connected, CloseNotifyIsACleanEnd) {
  ASSERT_FALSE(engine_write_text(*p.client, "bye"));
  ASSERT_EQ(p.client->close().status, tls_status::ok);
  std::string got;
  ASSERT_FALSE(engine_read_text(*p.server, 3, got));
  EXPECT_EQ(got, "bye");
  std::byte buf[16];
  EXPECT_EQ(p.server->read(buf).status, tls_status::closed);
  EXPECT_EQ(p.server->read(buf).status, tls_status::closed) << "closed stays closed";
  // Our side may still answer with its own close_notify.
  EXPECT_EQ(p.server->close().status, tls_status::ok);
  EXPECT_EQ(p.client->read(buf).status, tls_status::closed);
}

TEST_F(Connected, CloseTwiceIsHarmlessAndWriteAfterCloseIsUsage) {
  ASSERT_EQ(p.client->close().status, tls_status::ok);
  EXPECT_EQ(p.client->close().status, tls_status::ok);
  const std::byte one[1]{};
  const op_result w = p.client->write(one);
  EXPECT_EQ(w.status, tls_status::error);
  EXPECT_EQ(w.error, errc::usage);
}

TEST_F(Connected, TransportEndWithoutCloseNotifyIsTruncation) {
  ASSERT_FALSE(engine_write_text(*p.client, "partial"));
  p.io.client->close();  // the connection ends without close_notify
  std::string got;
  ASSERT_FALSE(engine_read_text(*p.server, 7, got));
  EXPECT_EQ(got, "partial") << "bytes before the cut are still delivered";
  std::byte buf[16];
  const op_result r = p.server->read(buf);
  EXPECT_EQ(r.status, tls_status::error);
  EXPECT_EQ(r.error, errc::truncated) << name_of(r.error);
  // Sticky: every later call reports the same error.
  EXPECT_EQ(p.server->read(buf).error, errc::truncated);
  EXPECT_EQ(p.server->write(std::span<const std::byte>(buf, 1)).error, errc::truncated);
  EXPECT_EQ(p.server->close().error, errc::truncated);
}

TEST_F(Connected, HalfCloseWithoutCloseNotifyIsTruncationToo) {
  p.io.server->shutdown_write();
  std::byte buf[16];
  const op_result r = p.client->read(buf);
  EXPECT_EQ(r.status, tls_status::error);
  EXPECT_EQ(r.error, errc::truncated) << name_of(r.error);
}

TEST_F(Connected, TransportTimeoutIsReportedAsTimeoutAndIsSticky) {
  // Nobody writes: the transport's deadline is the only way out (a short one, set
  // after the handshake so that a loaded machine cannot trip it early).
  p.io.server->set_deadline(clock::now() + milliseconds{100});
  std::byte buf[16];
  const op_result r = p.server->read(buf);
  EXPECT_EQ(r.status, tls_status::error);
  EXPECT_EQ(r.error, errc::timeout) << name_of(r.error);
  EXPECT_EQ(p.server->read(buf).error, errc::timeout);
  EXPECT_EQ(p.server->write(std::span<const std::byte>(buf, 1)).error, errc::timeout);
}

TEST_F(Connected, WriteToAGonePeerIsConnectionReset) {
  p.io.server->close();
  std::vector<std::byte> big(64 * 1024);
  op_result r;
  for (int i = 0; i < 8 && r.status != tls_status::error; ++i) r = p.client->write(big);
  EXPECT_EQ(r.status, tls_status::error);
  EXPECT_EQ(r.error, errc::connection_reset) << name_of(r.error);
}

// On a non-blocking transport, "no bytes yet" is want_read, never an error, and
// the engine carries on once the bytes come.
TEST(NeedMoreData, WantReadIsAStatusNotAnError) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config());
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair({milliseconds{0}, 256 * 1024}));
  ASSERT_TRUE(p.client && p.server);

  // The server has nothing to read before the client speaks.
  EXPECT_EQ(p.server->handshake().status, tls_status::want_read);
  bool cdone = false;
  bool sdone = false;
  int rounds = 0;
  for (; rounds < 100 && !(cdone && sdone); ++rounds) {
    const op_result cr = p.client->handshake();
    ASSERT_NE(cr.status, tls_status::error) << name_of(cr.error);
    cdone = cr.status == tls_status::ok;
    const op_result sr = p.server->handshake();
    ASSERT_NE(sr.status, tls_status::error) << name_of(sr.error);
    sdone = sr.status == tls_status::ok;
  }
  ASSERT_TRUE(cdone && sdone);
  EXPECT_GT(rounds, 1) << "a handshake needs more than one flight";

  // Drain whatever the client still has to process (TLS 1.3 tickets), then the
  // next read has to wait for data.
  std::byte buf[64];
  for (int i = 0; i < 10; ++i) {
    const op_result r = p.client->read(buf);
    if (r.status == tls_status::want_read) break;
    ASSERT_NE(r.status, tls_status::error) << name_of(r.error);
  }
  op_result r = p.server->read(buf);
  EXPECT_EQ(r.status, tls_status::want_read);
  EXPECT_EQ(p.server->read(buf).status, tls_status::want_read) << "want_read is not sticky like an error";
  ASSERT_EQ(p.client->write(std::as_bytes(std::span("ping", 4))).status, tls_status::ok);
  r = p.server->read(buf);
  ASSERT_EQ(r.status, tls_status::ok) << name_of(r.error);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf), r.bytes), "ping");
}

// A fatal handshake error stays: every later call returns the same error.
TEST(StickyErrors, FailedHandshakeMakesTheEngineUnusable) {
  auto c = client_ctx(client_config());
  auto s = server_ctx(server_config("wronghost"));
  ASSERT_TRUE(c && s);
  engine_pair p = make_engines(*c, *s, memory_pair());
  ASSERT_TRUE(p.client && p.server);
  const handshake_results r = handshake_both(p);
  ASSERT_EQ(r.client.status, tls_status::error);
  const std::error_code first = r.client.error;
  EXPECT_EQ(first, errc::cert_name_mismatch) << name_of(first);
  std::byte buf[8]{};
  EXPECT_EQ(p.client->handshake().error, first);
  EXPECT_EQ(p.client->read(buf).error, first);
  EXPECT_EQ(p.client->write(buf).error, first);
  EXPECT_EQ(p.client->close().error, first);
  EXPECT_EQ(p.client->handshake().status, tls_status::error);
  EXPECT_EQ(p.server->handshake().error, r.server.error);
  EXPECT_FALSE(p.client->failure().text.empty()) << "the library's words are kept";
  EXPECT_TRUE(p.client->failure().library) << "the library's own code is kept";
}

}  // namespace
}  // namespace uptls::test
