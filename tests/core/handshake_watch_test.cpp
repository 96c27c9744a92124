// The wire watcher classifies what a peer sent during a handshake. It is fed
// real byte sequences through a memory pipe, in one piece and byte by byte.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/handshake_watch.hpp"
#include "support.hpp"

using namespace uptls;
using namespace std::chrono_literals;
using detail::handshake_watch;
using detail::wire_facts;

namespace {

std::vector<std::byte> raw(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

// Sends `wire` to the watched end in slices of `slice` bytes, reads it all.
wire_facts watch(const std::vector<std::byte>& wire, std::size_t slice, bool then_eof = true) {
  auto [peer, ours] = make_memory_pipe({.capacity = 1 << 20});
  handshake_watch w(*ours);
  std::byte buf[64];
  for (std::size_t off = 0; off < wire.size(); off += slice) {
    const auto n = std::min(slice, wire.size() - off);
    EXPECT_TRUE(test::write_all(*peer, std::span(wire).subspan(off, n)).ok());
    std::size_t got = 0;
    while (got < n) {
      auto r = w.read_some(std::span(buf, std::min<std::size_t>(sizeof buf, n - got)));
      if (!r.ok() || *r == 0) break;
      got += *r;
    }
  }
  if (then_eof) {
    peer->shutdown_write();
    (void)w.read_some(buf);
  }
  return w.facts();
}

const auto alert40 = raw({0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28});
// A (truncated-body) ServerHello record header with a 4-byte body.
const auto hello = raw({0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00});

}  // namespace

TEST(HandshakeWatch, FatalAlertFirstIsRecorded) {
  for (std::size_t slice : {alert40.size(), std::size_t{1}, std::size_t{3}}) {
    const auto f = watch(alert40, slice);
    EXPECT_EQ(f.first_alert, 40) << "slice " << slice;
    EXPECT_FALSE(f.handshake_seen);
    EXPECT_FALSE(f.not_tls);
    EXPECT_TRUE(f.any_byte);
    EXPECT_TRUE(f.eof);
  }
}

TEST(HandshakeWatch, AlertAfterServerHelloIsNotAFirstAlert) {
  auto wire = hello;
  wire.insert(wire.end(), alert40.begin(), alert40.end());
  for (std::size_t slice : {wire.size(), std::size_t{1}}) {
    const auto f = watch(wire, slice);
    EXPECT_TRUE(f.handshake_seen);
    EXPECT_EQ(f.first_alert, -1);
  }
}

TEST(HandshakeWatch, WarningAlertIsNotFatal) {
  const auto f = watch(raw({0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00}), 7);
  EXPECT_EQ(f.first_alert, -1);
}

TEST(HandshakeWatch, Insufficient71IsRecorded) {
  EXPECT_EQ(watch(raw({0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 71}), 2).first_alert, 71);
}

TEST(HandshakeWatch, PlaintextGreetingIsNotTls) {
  const std::string smtp = "220 mail.example ESMTP\r\n";
  std::vector<std::byte> wire(reinterpret_cast<const std::byte*>(smtp.data()),
                              reinterpret_cast<const std::byte*>(smtp.data()) + smtp.size());
  const auto f = watch(wire, 4);
  EXPECT_TRUE(f.not_tls);
  EXPECT_FALSE(f.handshake_seen);
}

TEST(HandshakeWatch, WrongMajorVersionIsNotTls) {
  EXPECT_TRUE(watch(raw({0x16, 0x02, 0x00, 0x00, 0x01, 0x00}), 6).not_tls);
}

// Found by the handshake-watch fuzz target: a peer that framed a whole TLS record
// and then sent bytes that cannot start one was called "not TLS", which the stream
// reports as plaintext_injection after STARTTLS. It speaks TLS, badly.
TEST(HandshakeWatch, GarbageAfterAWholeRecordIsNotPlaintext) {
  auto wire = raw({0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x46});
  const std::string junk = "220 plain text\r\n";
  for (char c : junk) wire.push_back(static_cast<std::byte>(c));
  for (std::size_t slice : {wire.size(), std::size_t{1}, std::size_t{5}}) {
    const auto f = watch(wire, slice);
    EXPECT_FALSE(f.not_tls) << "slice " << slice;
    EXPECT_TRUE(f.framed);
    EXPECT_TRUE(f.handshake_seen);
    EXPECT_EQ(f.first_alert, -1);
  }
  // And an alert after the garbage is not read out of it.
  auto with_alert = wire;
  for (int b : {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28}) with_alert.push_back(static_cast<std::byte>(b));
  EXPECT_EQ(watch(with_alert, 3).plain_alert, -1);
}

TEST(HandshakeWatch, SilentCloseIsEofWithoutBytes) {
  const auto f = watch({}, 1);
  EXPECT_TRUE(f.eof);
  EXPECT_FALSE(f.any_byte);
  EXPECT_EQ(f.first_alert, -1);
}

TEST(HandshakeWatch, TransportErrorIsKept) {
  auto [peer, ours] = make_memory_pipe();
  handshake_watch w(*ours);
  peer->close();  // a write now fails as a reset
  const std::byte one[1] = {std::byte{0x16}};
  EXPECT_EQ(w.write_some(one), errc::connection_reset);
  EXPECT_EQ(w.facts().transport_error, errc::connection_reset);
}

TEST(HandshakeWatch, WouldBlockIsNoEvent) {
  auto [peer, ours] = make_memory_pipe();
  handshake_watch w(*ours);
  std::byte buf[4];
  EXPECT_TRUE(w.read_some(buf).would_block());
  EXPECT_FALSE(w.facts().transport_error);
  EXPECT_FALSE(w.facts().eof);
  EXPECT_FALSE(w.facts().any_byte);
}

TEST(HandshakeWatch, StoppedWatchOnlyForwards) {
  auto [peer, ours] = make_memory_pipe();
  handshake_watch w(*ours);
  w.stop();
  ASSERT_TRUE(test::write_all(*peer, alert40).ok());
  std::byte buf[16];
  EXPECT_EQ(*w.read_some(buf), alert40.size());
  EXPECT_EQ(w.facts().first_alert, -1);
  EXPECT_FALSE(w.facts().any_byte);
}

TEST(HandshakeWatch, PlaintextAlertAfterHandshakeRecordsIsRecorded) {
  // A TLS 1.3 client that refuses the certificate: ClientHello, then unknown_ca (48) in the clear.
  auto wire = hello;
  const auto unknown_ca = raw({0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x30});
  wire.insert(wire.end(), unknown_ca.begin(), unknown_ca.end());
  for (std::size_t slice : {wire.size(), std::size_t{1}, std::size_t{4}}) {
    const auto f = watch(wire, slice);
    EXPECT_EQ(f.plain_alert, 48) << "slice " << slice;
    EXPECT_EQ(f.first_alert, -1) << "not before the first handshake record";
    EXPECT_TRUE(f.handshake_seen);
  }
}

TEST(HandshakeWatch, EncryptedAlertIsNotReadAsPlaintext) {
  // An alert record whose body is longer than two bytes is encrypted: nothing to read in it.
  auto wire = hello;
  const auto sealed = raw({0x15, 0x03, 0x03, 0x00, 0x04, 0x02, 0x28, 0x99, 0x98});
  wire.insert(wire.end(), sealed.begin(), sealed.end());
  const auto f = watch(wire, 1);
  EXPECT_EQ(f.plain_alert, -1);
}
