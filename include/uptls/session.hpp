// What a finished handshake negotiated, and why the last TLS operation failed:
// typed facts, computed the same way on every backend.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uptls/config.hpp"

namespace uptls {

namespace detail {
class certificate_source;
struct session_access;
}  // namespace detail

/// How the session's keys were agreed.
enum class key_exchange : std::uint8_t {
  unknown,  ///< a suite uptls does not know (never negotiated by its profiles)
  rsa,      ///< TLS 1.2 plain RSA key transport: no forward secrecy (legacy profile only)
  dhe,      ///< finite-field Diffie-Hellman (TLS 1.2 DHE suites, TLS 1.3 ffdhe groups)
  ecdhe,    ///< elliptic-curve Diffie-Hellman (TLS 1.2 ECDHE suites, TLS 1.3 EC groups)
  psk,      ///< TLS 1.3 resumption without a key share (psk_ke): no forward secrecy
};

/// "RSA", "DHE", "ECDHE", "PSK" or "unknown".
std::string_view to_string(key_exchange k) noexcept;
/// True for the ephemeral key exchanges (dhe, ecdhe): a stolen server key does not
/// decrypt recorded traffic.
constexpr bool is_forward_secret(key_exchange k) noexcept {
  return k == key_exchange::dhe || k == key_exchange::ecdhe;
}

/// A key-exchange group by its number in the IANA "TLS Supported Groups" registry
/// (RFC 8446 4.2.7). Any 16-bit value can be held; the named ones are those the
/// backends offer.
enum class named_group : std::uint16_t {
  none = 0,  ///< no key was exchanged in this handshake (RSA key exchange, a resumed TLS 1.2 session, psk)
  secp256r1 = 23,   ///< NIST P-256
  secp384r1 = 24,   ///< NIST P-384
  secp521r1 = 25,   ///< NIST P-521
  x25519 = 29,      ///< Curve25519 (RFC 7748)
  x448 = 30,        ///< Curve448 (RFC 7748)
  ffdhe2048 = 256,  ///< RFC 7919 2048-bit finite field
  ffdhe3072 = 257,  ///< RFC 7919 3072-bit finite field
  ffdhe4096 = 258,  ///< RFC 7919 4096-bit finite field
  ffdhe6144 = 259,  ///< RFC 7919 6144-bit finite field
  ffdhe8192 = 260,  ///< RFC 7919 8192-bit finite field
};

/// The registry name ("x25519", "secp256r1", "ffdhe2048", ...), "none", or "unknown"
/// for a number not listed above.
std::string_view to_string(named_group g) noexcept;

/// A cipher suite as the IANA "TLS Cipher Suites" registry lists it.
struct cipher_suite {
  std::uint16_t id = 0;  ///< the registry number, e.g. 0x1301; 0 when unknown
  std::string name;      ///< the registry name, e.g. "TLS_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256"
  bool aead = false;     ///< records are protected by an AEAD (GCM, CCM, ChaCha20-Poly1305), not CBC + HMAC
};

/// The kind of public key a certificate carries.
enum class key_type : std::uint8_t {
  unknown,  ///< another algorithm
  rsa,      ///< RSA (PKCS#1 or RSASSA-PSS)
  ecdsa,    ///< an elliptic-curve key for ECDSA
  ed25519,  ///< Ed25519
  ed448,    ///< Ed448
};

/// "RSA", "ECDSA", "Ed25519", "Ed448" or "unknown".
std::string_view to_string(key_type k) noexcept;

/// What the peer's leaf certificate says, read the same way on every backend.
struct certificate_info {
  std::string subject;                    ///< RFC 2253 form, last RDN first: "CN=localhost,O=uptls tests"
  std::string issuer;                     ///< the issuer's name, in the same form
  std::vector<std::string> dns_names;     ///< subjectAltName dNSName entries, in certificate order
  std::vector<std::string> ip_addresses;  ///< subjectAltName iPAddress entries as text ("127.0.0.1", "::1")
  std::string serial;                     ///< the serial number in upper-case hex, as `openssl x509 -serial` prints it
  std::chrono::system_clock::time_point not_before;  ///< start of validity (UTC)
  std::chrono::system_clock::time_point not_after;   ///< end of validity (UTC)
  key_type key = key_type::unknown;       ///< the subject's public key algorithm
  unsigned key_bits = 0;                  ///< its size in bits (2048 for RSA-2048, 256 for P-256)
  std::string sha256;                     ///< SHA-256 of the DER certificate, 64 upper-case hex digits
};

/// What a finished handshake negotiated. The stream builds it on first use after the
/// upgrade; the peer certificate's facts are read only when peer_certificate() is
/// first called, so a session that never asks never pays for parsing.
struct session_info {
  tls_version version = tls_version::tls1_2;  ///< the protocol version
  cipher_suite suite;                          ///< the cipher suite, by IANA number and name
  key_exchange kx = key_exchange::unknown;     ///< how the keys were agreed (TLS 1.3: from the group)
  named_group group = named_group::none;       ///< the group of this handshake's key exchange
  bool forward_secret = false;                 ///< is_forward_secret(kx)
  bool resumed = false;                        ///< an earlier session was resumed (ticket or session ID)
  /// The peer's certificate was checked and passed (false with dangerous_skip_verification,
  /// and on a server whose client sent none).
  bool verified = false;
  std::string sni;      ///< client: the server name it sent; server: the one it received (empty: none)
  std::string alpn;     ///< the agreed application protocol, empty if none
  std::string backend;  ///< which backend ran the handshake ("openssl", "gnutls", "mbedtls")

  /// The peer's leaf certificate, read on the first call and kept (the facts stay
  /// valid after the connection is closed, and in copies of this session_info);
  /// nullptr when the peer sent none (a server whose client presented no certificate).
  const certificate_info* peer_certificate() const;
  /// The leaf's DER bytes as received; empty when the peer sent none.
  std::string_view peer_certificate_der() const noexcept;

  /// @cond INTERNAL
 private:
  friend struct detail::session_access;  // how a backend attaches the certificate
  std::shared_ptr<const detail::certificate_source> peer_;
  /// @endcond
};

/// Why the last TLS operation failed, beyond its errc: the library's raw code and
/// text and what the record layer saw. Filled by the backend and by the stream.
struct failure_info {
  std::error_code library;  ///< in the backend's own category ("openssl", "gnutls", "mbedtls")
  std::string text;         ///< the library's own words
  int alert_received = -1;  ///< the fatal alert number the peer sent, -1 if none
  int alert_sent = -1;      ///< the fatal alert we sent, -1 if none or unknown
  /// Client side, from the records the stream carried: a handshake record from the
  /// server arrived before the failure.
  bool server_handshake_seen = false;
  /// Client side: the connection ended before the server sent any record.
  bool eof_before_server_hello = false;
};

}  // namespace uptls
