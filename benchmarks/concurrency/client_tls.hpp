// The load generator's TLS, behind a small interface so that the SMTP dialogue
// driver (load.cpp) never calls a TLS library: today raw OpenSSL
// (client_tls_openssl.cpp); a uptls-based client slots in by implementing these
// two classes and adding its name to make_client_tls (client_tls.cpp).
//
// The driver owns the socket: it connects it (non-blocking), does the plaintext
// part of STARTTLS over it, then attaches a session, which does TLS over the same
// fd and never closes it. Every call returns at once: `want_read` / `want_write`
// tell the driver what to wait for in epoll before calling again.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace conc {

enum class tls_status {
  ok,          // handshake(): complete and the server authenticated;
               // read()/write(): `bytes` moved (always > 0)
  want_read,   // call again (the same call) when the socket is readable
  want_write,  // call again (the same call) when the socket is writable
  closed,      // the server ended the TLS session (close_notify) or the connection
  failed,      // fatal; error() says what
};

struct tls_result {
  tls_status status = tls_status::failed;
  std::size_t bytes = 0;
};

// One client TLS session over a connected, non-blocking socket.
class client_tls_session {
 public:
  virtual ~client_tls_session() = default;

  // Drives the handshake. `ok` means it is complete and the server's chain was
  // verified against the CA file and its name against the configured host.
  virtual tls_result handshake() = 0;

  // Decrypted bytes into buf. Records that carry no application data (TLS 1.3
  // session tickets) are consumed inside and give want_read.
  virtual tls_result read(std::span<char> buf) = 0;

  // Encrypts and sends some or all of buf. After want_read / want_write the
  // driver calls again with exactly the same bytes (OpenSSL's retry rule).
  virtual tls_result write(std::span<const char> buf) = 0;

  // Sends close_notify, best effort, without waiting for the server's.
  virtual void close_notify() = 0;

  // The last failure in words: library errors, the certificate verification result.
  virtual std::string error() const = 0;

  // What the handshake negotiated: "TLSv1.3 TLS_AES_256_GCM_SHA384 x25519".
  virtual std::string negotiated() const = 0;
};

struct client_tls_config {
  std::string ca_file;              // the trust anchor: DIR/ca.pem of the test PKI
  std::string host = "localhost";   // sent as SNI and checked against the certificate
  std::string version;              // "1.2" or "1.3" to pin it; empty: the highest both do
};

// Compiled configuration, shared by all sessions and by all of the load
// generator's threads (attach() must be thread-safe).
class client_tls {
 public:
  virtual ~client_tls() = default;
  // "openssl (OpenSSL 3.0.19 ...)", for the JSON output.
  virtual std::string description() const = 0;
  // A session over fd (the driver keeps owning the fd). Throws std::runtime_error.
  virtual std::unique_ptr<client_tls_session> attach(int fd) = 0;
};

// The implementations, by name (--client-tls NAME); nullptr for an unknown name.
std::unique_ptr<client_tls> make_client_tls(std::string_view name, const client_tls_config& config);
std::vector<std::string> client_tls_names();

// The raw OpenSSL client: the strict profile of the other benchmarks, full
// handshakes only (no session cache, no ticket asked for).
std::unique_ptr<client_tls> make_openssl_client_tls(const client_tls_config& config);

}  // namespace conc
