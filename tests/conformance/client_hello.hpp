// Reads what a client offers in its ClientHello, straight off the wire, so that
// the profiles can be checked on every backend the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace uptls::test {

struct client_hello {
  std::uint16_t legacy_version = 0;
  std::vector<std::uint16_t> cipher_suites;
  std::vector<std::uint16_t> groups;              // supported_groups, in order
  std::vector<std::uint16_t> supported_versions;  // empty when the extension is absent
  bool has_alpn = false;
  bool has_sni = false;
};

// Parses the first handshake record of a connection; nullopt if it is not a ClientHello.
std::optional<client_hello> parse_client_hello(std::span<const std::byte> wire);

// Suite ids by family (IANA TLS Cipher Suites registry).
bool is_tls13_suite(std::uint16_t id);
bool is_ecdhe_aead_suite(std::uint16_t id);     // ECDHE with AES-GCM or ChaCha20-Poly1305
bool is_ecdhe_cbc_suite(std::uint16_t id);      // ECDHE with AES-CBC (forward secret, not AEAD)
bool is_rsa_kx_legacy_suite(std::uint16_t id);  // TLS_RSA_WITH_AES_{128,256}_{GCM,CBC} as in "legacy"
bool is_signalling_suite(std::uint16_t id);     // TLS_EMPTY_RENEGOTIATION_INFO_SCSV, TLS_FALLBACK_SCSV

}  // namespace uptls::test
