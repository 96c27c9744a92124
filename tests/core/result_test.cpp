// result<T>: ok, would-block and failed are three different outcomes, and each
// reads as itself however it is asked.
#include <gtest/gtest.h>

#include <string>

#include "support.hpp"

using namespace uptls;

TEST(Result, OkHoldsTheValue) {
  result<int> r = 7;
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_FALSE(r.would_block());
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(*r, 7);
  EXPECT_EQ(r.wants(), wait_for::none);
  EXPECT_FALSE(r.error());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r, std::error_code{});
}

TEST(Result, WouldBlockIsNeitherOkNorAnError) {
  const auto r = result<std::size_t>::blocked(wait_for::write);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.would_block());
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(r.wants(), wait_for::write);
  EXPECT_FALSE(r.error());  // empty: would-block is no error, and no timeout
  EXPECT_NE(r, std::error_code{});
  EXPECT_NE(r, errc::timeout);
  EXPECT_EQ(to_string(r), "would block (write)");
}

TEST(Result, FailureCarriesTheError) {
  const result<> r = errc::cert_expired;
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.failed());
  EXPECT_FALSE(r.would_block());
  EXPECT_EQ(r.error(), errc::cert_expired);
  EXPECT_EQ(r, errc::cert_expired);
  EXPECT_NE(r, errc::cert_untrusted);
  EXPECT_EQ(to_string(r), "error uptls:cert_expired: peer certificate has expired");
}

TEST(Result, EmptyErrorCodeIsOkForResultsWithoutValue) {
  const result<> r = std::error_code{};
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(to_string(r), "ok");
}

TEST(Result, StatusPassesOnBlockedAndFailedOutcomes) {
  const result<std::string> blocked = result<>::blocked(wait_for::read);
  EXPECT_TRUE(blocked.would_block());
  EXPECT_EQ(blocked.wants(), wait_for::read);
  const result<std::string> failed = result<>(errc::eof);
  EXPECT_EQ(failed.error(), errc::eof);
  EXPECT_EQ(failed.status(), errc::eof);
}

TEST(ResultDeathTest, ValueOfAFailureIsABrokenContract) {
  const result<int> r = errc::eof;
  EXPECT_DEATH((void)r.value(), "contract violated");
}
