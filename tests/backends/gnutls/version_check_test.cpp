// The server's own look at a ClientHello's versions, hostile input included.
#include "version_check.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace uptls::detail::gtls {
namespace {

using bytes = std::vector<std::uint8_t>;

// A ClientHello body with the given legacy_version and, when `versions` is not
// empty, a supported_versions extension listing them (after a dummy extension).
bytes hello(std::uint16_t legacy, const std::vector<std::uint16_t>& versions, bool with_ext_block = true) {
  bytes b{static_cast<std::uint8_t>(legacy >> 8), static_cast<std::uint8_t>(legacy)};
  b.insert(b.end(), 32, 0xAB);                   // random
  b.push_back(0);                                // session id
  b.insert(b.end(), {0x00, 0x04, 0x13, 0x01, 0xC0, 0x2F});  // two suites
  b.insert(b.end(), {0x01, 0x00});               // null compression
  if (!with_ext_block) return b;
  bytes exts{0x00, 0x0A, 0x00, 0x02, 0x00, 0x00};  // supported_groups, empty-ish
  if (!versions.empty()) {
    const auto n = static_cast<std::uint8_t>(versions.size() * 2);
    exts.insert(exts.end(), {0x00, 0x2B, 0x00, static_cast<std::uint8_t>(n + 1), n});
    for (auto v : versions) exts.insert(exts.end(), {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)});
  }
  b.push_back(static_cast<std::uint8_t>(exts.size() >> 8));
  b.push_back(static_cast<std::uint8_t>(exts.size()));
  b.insert(b.end(), exts.begin(), exts.end());
  return b;
}

constexpr auto v12 = tls_version::tls1_2;
constexpr auto v13 = tls_version::tls1_3;

TEST(VersionCheck, SupportedVersionsDecides) {
  EXPECT_EQ(check_client_versions(hello(0x0303, {0x0304}), v12, v13), version_offer::acceptable);
  EXPECT_EQ(check_client_versions(hello(0x0303, {0x0304}), v12, v12), version_offer::none);
  EXPECT_EQ(check_client_versions(hello(0x0303, {0x0304, 0x0303}), v12, v12), version_offer::acceptable);
  EXPECT_EQ(check_client_versions(hello(0x0303, {0x0A0A, 0x0304}), v13, v13), version_offer::acceptable)
      << "GREASE is skipped";
  EXPECT_EQ(check_client_versions(hello(0x0303, {0x0302, 0x0301}), v12, v13), version_offer::none);
}

TEST(VersionCheck, LegacyVersionWithoutTheExtension) {
  EXPECT_EQ(check_client_versions(hello(0x0303, {}), v12, v13), version_offer::acceptable);
  EXPECT_EQ(check_client_versions(hello(0x0303, {}, false), v12, v12), version_offer::acceptable);
  EXPECT_EQ(check_client_versions(hello(0x0303, {}), v13, v13), version_offer::none)
      << "TLS 1.3 is only ever offered through supported_versions";
  EXPECT_EQ(check_client_versions(hello(0x0302, {}), v12, v13), version_offer::none) << "a TLS 1.1 client";
  EXPECT_EQ(check_client_versions(hello(0x0301, {}, false), v12, v13), version_offer::none);
}

TEST(VersionCheck, MalformedHellosAreLeftToGnutls) {
  const bytes good = hello(0x0303, {0x0304});
  EXPECT_EQ(check_client_versions({}, v12, v13), version_offer::malformed);
  for (std::size_t cut : {1u, 20u, 35u, 38u, 45u}) {
    EXPECT_EQ(check_client_versions(bytes(good.begin(), good.begin() + cut), v12, v13), version_offer::malformed)
        << "cut at " << cut;
  }
  bytes long_ext = good;
  long_ext[43] = 0xFF;  // extension block (after 2+32+1+6+2 bytes) longer than the message
  EXPECT_EQ(check_client_versions(long_ext, v12, v13), version_offer::malformed);
  bytes bad_list = good;
  bad_list[bad_list.size() - 3] = 0x7F;  // supported_versions list longer than its extension
  EXPECT_EQ(check_client_versions(bad_list, v12, v13), version_offer::malformed);
}

}  // namespace
}  // namespace uptls::detail::gtls
