// The GnuTLS server's session-ID store: bounded, expiring, exact keys, safe
// under concurrent use. The handshakes that use it are in the conformance suite.
#include "server_session_store.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace uptls::detail::gtls {
namespace {

using namespace std::chrono_literals;
using bytes = std::vector<unsigned char>;
const server_session_store::clock::time_point t0{};

bytes id(unsigned char n) { return bytes(32, n); }

TEST(ServerSessionStore, GivesBackWhatWasStoredUnderTheSameIdOnly) {
  server_session_store s(8, 60s);
  ASSERT_TRUE(s.store(id(1), bytes{1, 2, 3}, t0));
  EXPECT_EQ(s.retrieve(id(1), t0), (bytes{1, 2, 3}));
  EXPECT_FALSE(s.retrieve(id(2), t0).has_value());
  bytes shorter = id(1);
  shorter.pop_back();
  EXPECT_FALSE(s.retrieve(shorter, t0).has_value()) << "a prefix of an ID is another ID";
}

TEST(ServerSessionStore, ASecondStoreUnderOneIdReplacesTheFirst) {
  server_session_store s(8, 60s);
  ASSERT_TRUE(s.store(id(1), bytes{1}, t0));
  ASSERT_TRUE(s.store(id(1), bytes{2}, t0));
  EXPECT_EQ(s.retrieve(id(1), t0), (bytes{2}));
  EXPECT_EQ(s.size(), 1u);
}

TEST(ServerSessionStore, RefusesEmptyAndOverlongIdsAndEmptyData) {
  server_session_store s(8, 60s);
  EXPECT_FALSE(s.store(bytes{}, bytes{1}, t0));
  EXPECT_FALSE(s.store(bytes(33, 7), bytes{1}, t0)) << "RFC 5246: a session ID is at most 32 bytes";
  EXPECT_FALSE(s.store(id(1), bytes{}, t0));
  EXPECT_EQ(s.size(), 0u);
  EXPECT_FALSE(s.retrieve(bytes{}, t0).has_value());
}

TEST(ServerSessionStore, AnEntryExpiresAfterItsLifetime) {
  server_session_store s(8, 60s);
  ASSERT_TRUE(s.store(id(1), bytes{1}, t0));
  EXPECT_TRUE(s.retrieve(id(1), t0 + 59s).has_value());
  EXPECT_FALSE(s.retrieve(id(1), t0 + 60s).has_value());
  EXPECT_EQ(s.size(), 0u) << "an expired entry is dropped when found";
}

TEST(ServerSessionStore, WhenFullTheOldestGoes) {
  server_session_store s(3, 60s);
  for (unsigned char n = 1; n <= 4; ++n) ASSERT_TRUE(s.store(id(n), bytes{n}, t0 + std::chrono::seconds(n)));
  EXPECT_EQ(s.size(), 3u);
  EXPECT_FALSE(s.retrieve(id(1), t0 + 5s).has_value());
  for (unsigned char n = 2; n <= 4; ++n) EXPECT_EQ(s.retrieve(id(n), t0 + 5s), (bytes{n}));
}

TEST(ServerSessionStore, ExpiredEntriesMakeRoomBeforeLiveOnes) {
  server_session_store s(100, 10s);
  ASSERT_TRUE(s.store(id(1), bytes{1}, t0));
  ASSERT_TRUE(s.store(id(2), bytes{2}, t0 + 5s));
  ASSERT_TRUE(s.store(id(3), bytes{3}, t0 + 12s));  // id 1 is dead by now
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.retrieve(id(2), t0 + 12s).has_value());
}

TEST(ServerSessionStore, RemoveForgetsAndSaysWhetherThereWasOne) {
  server_session_store s(8, 60s);
  ASSERT_TRUE(s.store(id(1), bytes{1}, t0));
  EXPECT_TRUE(s.remove(id(1)));
  EXPECT_FALSE(s.remove(id(1)));
  EXPECT_FALSE(s.retrieve(id(1), t0).has_value());
  ASSERT_TRUE(s.store(id(2), bytes{2}, t0));  // the order index stays consistent
  EXPECT_EQ(s.size(), 1u);
}

TEST(ServerSessionStore, ManyThreadsAtOnceKeepItBoundedAndConsistent) {
  server_session_store s(64, 60s);
  std::vector<std::thread> threads;
  for (unsigned char t = 0; t < 4; ++t) {
    threads.emplace_back([&s, t] {
      for (int i = 0; i < 2000; ++i) {
        bytes key = id(static_cast<unsigned char>(i % 200));
        key[0] = t;
        (void)s.store(key, bytes{t}, t0);
        if (auto got = s.retrieve(key, t0)) {
          EXPECT_EQ((*got)[0], t);
        }
        if (i % 7 == 0) (void)s.remove(key);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(s.size(), 64u);
}

}  // namespace
}  // namespace uptls::detail::gtls
