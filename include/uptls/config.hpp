/// @file
/// TLS settings with the same meaning on every backend. A tls_config is turned into
/// an immutable, shareable context by backend::make_context; per-connection facts
/// (the peer's name) go in peer_options.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uptls {

/// Which end of the handshake we play.
enum class role {
  client,  ///< starts the handshake and checks the server's certificate against its name
  server   ///< answers with its certificate; asks for the client's per client_certificates
};

/// Named security profiles (docs/architecture.md "Profiles"). No profile ever
/// allows SSL, TLS 1.0/1.1, RC4, 3DES, NULL, export or anonymous suites.
enum class profile {
  /// TLS 1.2-1.3, forward-secret key exchange only (ECDHE, TLS 1.3), AEAD only.
  strict,
  /// strict's list first, then plain RSA key exchange with AES-GCM and AES-CBC.
  /// Refused with errc::unsupported where the backend has no RSA key exchange.
  legacy
};

/// A TLS protocol version; TLS 1.2 is the lowest uptls speaks.
enum class tls_version {
  tls1_2,  ///< TLS 1.2 (RFC 5246)
  tls1_3   ///< TLS 1.3 (RFC 8446); not on every backend (capabilities::tls13)
};

/// Whether a server asks its clients for a certificate.
enum class client_auth {
  none,      ///< asks for none
  /// Asks for one; a certificate the client presents must still verify, only
  /// its absence is accepted.
  optional,
  /// Asks for one and fails the handshake (errc::cert_required) when the client sends none.
  required
};

/// TLS settings for one role, the same on every backend; backend::make_context
/// compiles them into a context. A setting the backend cannot honour is refused
/// with errc::unsupported (never silently ignored), one that cannot work with
/// errc::invalid_config.
///
/// Where certificates, keys and trust come from: each item comes from one
/// place, a file (*_file) or PEM text held in memory (*_pem), never both
/// (errc::invalid_config). The certificate and its key come as a pair: both
/// files or both PEM. The PEM text is copied when the context is made.
/// make_context's `why` names the field at fault when one is refused.
struct tls_config {
  /// The security profile; strict by default.
  profile security = profile::strict;
  /// Lowest version; TLS 1.2 unless raised to 1.3 (refused with errc::unsupported
  /// where the backend has no TLS 1.3).
  tls_version min_version = tls_version::tls1_2;
  /// Highest version; nullopt (the default) = the highest the backend can do.
  /// Setting tls1_3 on a backend without TLS 1.3 is refused with errc::unsupported;
  /// below min_version is errc::invalid_config.
  std::optional<tls_version> max_version;

  /// Trust: a PEM file of CA certificates.
  std::string ca_file;
  /// Trust: CA certificates as PEM text (one or more); instead of ca_file.
  std::string ca_pem;
  /// Trust: the system's CA store, as well as ca_file / ca_pem; off by default.
  /// errc::unsupported where the backend finds no system store.
  bool system_trust = false;
  /// Our certificate chain (PEM file: the leaf first, then its intermediates).
  /// Servers need one (errc::invalid_config without); clients may present one.
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

  /// Server: whether to ask for a client certificate (verified against ca_file,
  /// ca_pem or the system store); none by default. Other than none, it is
  /// errc::invalid_config without any trust set, and errc::unsupported where the
  /// backend has no client certificates. Clients ignore it.
  client_auth client_certificates = client_auth::none;

  /// ALPN protocols in preference order; empty (the default) = no ALPN. A server
  /// with a list refuses clients that offer ALPN with none in common
  /// (errc::no_application_protocol). An empty name or one over 255 bytes is
  /// errc::invalid_config; a list where the backend has no ALPN, or more than it
  /// can hold (GnuTLS: 8 names of at most 31 bytes), is errc::unsupported.
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

  /// Lower memory for idle connections (OpenSSL SSL_MODE_RELEASE_BUFFERS and the like);
  /// off by default; refused with errc::unsupported where the backend has no such switch.
  bool release_buffers = false;

  /// Bound on the whole handshake (on top of the transport's per-call timeout);
  /// 30 seconds by default. Running out fails the handshake with errc::timeout;
  /// zero or less is errc::invalid_config.
  std::chrono::milliseconds handshake_timeout{30'000};

  /// Turns off verification of the peer's certificate and name; off by default.
  /// For tests of hostile peers only; the session facts report verified = false.
  /// Without it a client needs some trust (ca_file, ca_pem or system_trust), else
  /// errc::invalid_config.
  bool dangerous_skip_verification = false;
};

/// Facts about one connection's peer.
struct peer_options {
  /// Client: the name to send as SNI and to check the certificate against (a DNS
  /// name, or an IP literal: then no SNI is sent and the IP address SAN is checked).
  /// Empty on a client is a broken contract unless dangerous_skip_verification is set.
  /// A server ignores it.
  std::string server_name;
};

/// The text form of a profile: "strict" or "legacy".
std::string_view to_string(profile p) noexcept;
/// The text form of a version: "TLSv1.2" or "TLSv1.3".
std::string_view to_string(tls_version v) noexcept;
/// The text form of a role: "client" or "server".
std::string_view to_string(role r) noexcept;

}  // namespace uptls
