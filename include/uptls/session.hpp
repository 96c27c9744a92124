// What a finished handshake negotiated, the same fields on every backend.
#pragma once

#include <string>
#include <system_error>
#include <vector>

#include "uptls/config.hpp"

namespace uptls {

struct session_info {
  tls_version version = tls_version::tls1_2;
  std::string cipher;        // IANA name, e.g. "TLS_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256"
  std::string key_exchange;  // "ECDHE", "DHE", "RSA" (TLS 1.2) or "(EC)DHE" (TLS 1.3)
  std::string group;         // e.g. "x25519", "secp256r1"; empty when the handshake exchanged no key (RSA key exchange, resumed TLS 1.2)
  bool forward_secret = false;
  bool resumed = false;
  bool verified = false;     // the peer's certificate was checked (false only with dangerous_skip_verification or no client cert)
  std::string peer_subject;  // RFC 2253-ish subject of the peer's leaf certificate, empty if none
  std::vector<std::string> peer_names;  // the leaf's subjectAltName DNS names and IP addresses
  std::string sni;           // client: what it sent; server: what it received
  std::string alpn;          // agreed protocol, empty if none
  std::string backend;       // which backend ran the handshake
};

// Why the last TLS operation failed, beyond its errc: the library's raw code and text
// and what the record layer saw. Filled by the backend and by the stream.
struct failure_info {
  std::error_code library;         // in the backend's own category ("openssl", "gnutls", ...)
  std::string text;                // the library's own words
  int alert_received = -1;         // fatal alert number the peer sent, -1 if none
  int alert_sent = -1;             // fatal alert we sent, -1 if none/unknown
  // Client side, filled by the stream from the records it carried: whether any
  // handshake record from the server arrived before the failure.
  bool server_handshake_seen = false;
  // Client side: the connection ended before the server sent any record.
  bool eof_before_server_hello = false;
};

}  // namespace uptls
