// The profiles as GnuTLS compiles them: which suites, in which order.
#include "priority.hpp"

#include <gnutls/gnutls.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace uptls::detail::gtls {
namespace {

// The TLS suite ids a priority string enables, in GnuTLS's order.
std::vector<std::uint16_t> suites_of(const std::string& prio) {
  gnutls_priority_t cache = nullptr;
  const char* err = nullptr;
  EXPECT_EQ(gnutls_priority_init2(&cache, prio.c_str(), &err, 0), 0) << prio << " at " << (err ? err : "?");
  std::vector<std::uint16_t> out;
  if (cache == nullptr) return out;
  for (unsigned i = 0; i < 512; ++i) {
    unsigned sidx = 0;
    const int rc = gnutls_priority_get_cipher_suite_index(cache, i, &sidx);
    if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
    if (rc < 0) continue;  // a suite the version list rules out
    unsigned char id[2]{};
    if (gnutls_cipher_suite_info(sidx, id, nullptr, nullptr, nullptr, nullptr) == nullptr) continue;
    out.push_back(static_cast<std::uint16_t>((id[0] << 8) | id[1]));
  }
  gnutls_priority_deinit(cache);
  return out;
}

tls_config with(profile p) {
  tls_config c;
  c.security = p;
  return c;
}

bool tls13_suite(std::uint16_t id) { return id >= 0x1301 && id <= 0x1303; }
bool ecdhe_aead(std::uint16_t id) {
  for (std::uint16_t s : {0xC02B, 0xC02C, 0xC02F, 0xC030, 0xCCA8, 0xCCA9}) {
    if (id == s) return true;
  }
  return false;
}
bool ecdhe_cbc(std::uint16_t id) {
  for (std::uint16_t s : {0xC009, 0xC00A, 0xC013, 0xC014, 0xC023, 0xC027}) {
    if (id == s) return true;
  }
  return false;
}
bool rsa_kx(std::uint16_t id) {
  for (std::uint16_t s : {0x009C, 0x009D, 0x002F, 0x0035, 0x003C, 0x003D}) {
    if (id == s) return true;
  }
  return false;
}
bool contains(const std::vector<std::uint16_t>& v, std::uint16_t id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

TEST(Priority, StrictIsForwardSecretAeadOnly) {
  for (const role side : {role::client, role::server}) {
    const auto suites = suites_of(priority_string(with(profile::strict), side));
    ASSERT_FALSE(suites.empty());
    for (const auto id : suites) EXPECT_TRUE(tls13_suite(id) || ecdhe_aead(id)) << std::hex << id;
    EXPECT_EQ(suites.size(), 9u) << "3 TLS 1.3 suites, 6 ECDHE AEAD suites";
    EXPECT_EQ(suites.front(), 0x1301) << "TLS_AES_128_GCM_SHA256 first";
  }
}

TEST(Priority, LegacyAppendsPlainRsaAfterEveryForwardSecretSuite) {
  const auto suites = suites_of(priority_string(with(profile::legacy), role::client));
  std::size_t first_rsa = suites.size();
  std::size_t last_fs = 0;
  for (std::size_t i = 0; i < suites.size(); ++i) {
    const auto id = suites[i];
    // GnuTLS names families, not suites: AES-CBC for RSA brings ECDHE with AES-CBC too.
    EXPECT_TRUE(tls13_suite(id) || ecdhe_aead(id) || ecdhe_cbc(id) || rsa_kx(id)) << std::hex << id;
    if (rsa_kx(id)) first_rsa = std::min(first_rsa, i);
    if (tls13_suite(id) || ecdhe_aead(id) || ecdhe_cbc(id)) last_fs = i;
  }
  EXPECT_LT(last_fs, first_rsa);
  for (std::uint16_t id : {0x009C, 0x009D, 0x002F, 0x0035, 0x003C, 0x003D}) {
    EXPECT_TRUE(contains(suites, id)) << std::hex << id;
  }
}

TEST(Priority, NeverWeakSuitesOrDhe) {
  for (const profile p : {profile::strict, profile::legacy}) {
    for (const auto id : suites_of(priority_string(with(p), role::client))) {
      EXPECT_TRUE(tls13_suite(id) || ecdhe_aead(id) || ecdhe_cbc(id) || rsa_kx(id))
          << std::hex << id << " (3DES, RC4, NULL, DHE, anon and export are never on)";
    }
  }
}

TEST(Priority, VersionBoundsShapeTheString) {
  tls_config c = with(profile::strict);
  EXPECT_NE(priority_string(c, role::client).find("+VERS-TLS1.3:+VERS-TLS1.2"), std::string::npos);
  c.max_version = tls_version::tls1_2;
  EXPECT_EQ(priority_string(c, role::client).find("VERS-TLS1.3"), std::string::npos);
  const auto only12 = suites_of(priority_string(c, role::client));
  for (const auto id : only12) EXPECT_FALSE(tls13_suite(id)) << std::hex << id;
  c.max_version = std::nullopt;
  c.min_version = tls_version::tls1_3;
  EXPECT_EQ(priority_string(c, role::client).find("VERS-TLS1.2"), std::string::npos);
  for (const auto id : suites_of(priority_string(c, role::client))) EXPECT_TRUE(tls13_suite(id)) << std::hex << id;
}

TEST(Priority, OnlyTheServerTakesItsOwnOrder) {
  EXPECT_NE(priority_string(with(profile::strict), role::server).find("%SERVER_PRECEDENCE"), std::string::npos);
  EXPECT_EQ(priority_string(with(profile::strict), role::client).find("%SERVER_PRECEDENCE"), std::string::npos);
}

}  // namespace
}  // namespace uptls::detail::gtls
