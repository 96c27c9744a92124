// TLS settings with the same meaning on every backend. A tls_config is turned into
// an immutable, shareable context by backend::make_context; per-connection facts
// (the peer's name) go in peer_options.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uptls {

// Which end of the handshake we play.
enum class role { client, server };

// Named security profiles (docs/architecture.md "Profiles"):
//  strict: TLS 1.2-1.3, forward-secret key exchange only (ECDHE, TLS 1.3), AEAD only.
//  legacy: strict's list first, then plain RSA key exchange with AES-GCM and AES-CBC.
// No profile ever allows SSL, TLS 1.0/1.1, RC4, 3DES, NULL, export or anonymous suites.
enum class profile { strict, legacy };

enum class tls_version { tls1_2, tls1_3 };

// Whether a server asks its clients for a certificate. optional: a certificate
// the client presents must still verify; only its absence is accepted.
enum class client_auth { none, optional, required };

struct tls_config {
  profile security = profile::strict;
  // Lowest version; TLS 1.2 unless raised to 1.3 (refused where the backend has no TLS 1.3).
  tls_version min_version = tls_version::tls1_2;
  // Highest version; nullopt = the highest the backend can do. Setting tls1_3 on a
  // backend without TLS 1.3 is refused with errc::unsupported.
  std::optional<tls_version> max_version;

  // Where certificates, keys and trust come from. Each item comes from one
  // place: a file (*_file) or PEM text held in memory (*_pem), never both
  // (errc::invalid_config). The certificate and its key come as a pair: both
  // files or both PEM. The PEM text is copied when the context is made.
  // make_context's `why` names the field at fault when one is refused.

  /// Trust: a PEM file of CA certificates.
  std::string ca_file;
  /// Trust: CA certificates as PEM text (one or more); instead of ca_file.
  std::string ca_pem;
  /// Trust: the system's CA store, as well as ca_file / ca_pem.
  bool system_trust = false;
  /// Our certificate chain (PEM file: the leaf first, then its intermediates).
  /// Servers need one; clients may present one.
  std::string cert_file;
  /// The private key of cert_file's leaf (PEM file; encrypted: see key_password).
  std::string key_file;
  /// Our certificate chain as PEM text (the leaf first, then its intermediates);
  /// instead of cert_file.
  std::string cert_pem;
  /// The private key of cert_pem's leaf as PEM text; instead of key_file.
  std::string key_pem;
  /// The password of an encrypted private key (key_file or key_pem): PKCS#8
  /// where the backend can read it, and traditional "Proc-Type: 4,ENCRYPTED"
  /// PEM on every backend. Empty: the key is not encrypted. A wrong or missing
  /// password is errc::invalid_config naming the key's field; the backend never
  /// asks on a terminal. Set without a key: errc::invalid_config.
  std::string key_password;

  // Server: whether to ask for a client certificate (verified against ca_file/system).
  client_auth client_certificates = client_auth::none;

  // ALPN protocols in preference order; empty = no ALPN. A server with a list
  // refuses clients that offer ALPN with none in common.
  std::vector<std::string> alpn;

  /// Session resumption: a client offers the session it kept for the same
  /// server name, a server resumes what it issued (TLS 1.3 tickets; TLS 1.2
  /// tickets or session IDs). false: every handshake is a full one.
  bool resumption = true;
  /// TLS 1.2 session tickets (RFC 5077), with resumption on. false: a client
  /// asks for none and a server issues none, so TLS 1.2 sessions resume by
  /// session ID only (the server keeps them, bounded and expiring, in its
  /// context). TLS 1.3 resumes by ticket alone (RFC 8446 has no session IDs)
  /// and is governed by `resumption` only.
  bool session_tickets = true;

  // Lower memory for idle connections (OpenSSL SSL_MODE_RELEASE_BUFFERS and the like);
  // refused with errc::unsupported where the backend has no such switch.
  bool release_buffers = false;

  // Bound on the whole handshake (on top of the transport's per-call timeout).
  std::chrono::milliseconds handshake_timeout{30'000};

  // Turns off verification of the peer's certificate and name. For tests of
  // hostile peers only; the session facts report verified = false.
  bool dangerous_skip_verification = false;
};

// Facts about one connection's peer.
struct peer_options {
  // Client: the name to send as SNI and to check the certificate against (a DNS
  // name, or an IP literal: then no SNI is sent and the IP address SAN is checked).
  // Empty on a client is a broken contract unless dangerous_skip_verification is set.
  std::string server_name;
};

// The text form of the enums, e.g. "strict", "TLSv1.3", "client".
std::string_view to_string(profile p) noexcept;
std::string_view to_string(tls_version v) noexcept;
std::string_view to_string(role r) noexcept;

}  // namespace uptls
