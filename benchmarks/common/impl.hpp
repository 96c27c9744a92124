// What one implementation under measurement provides (uptls, a raw library, Asio).
// The drivers differ only in this: the cases, sockets, threads, timing and JSON
// output are shared (bench.hpp), so every program does exactly the same work
// around its TLS calls.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bench {

class json;

enum class tls_ver { tls12, tls13 };

// Which bulk cipher to pin on both sides (empty setup::cipher = whatever the
// configuration negotiates).
enum class cipher_family { aes128gcm, aes256gcm, chacha20 };

// One case's TLS setup, identical for every implementation.
struct setup {
  std::string certs;                // directory made by tools/make-test-certs.sh
  std::string leaf = "server-rsa";  // server certificate: server-rsa or server-ecdsa
  std::optional<tls_ver> version;   // pinned on the client; nullopt = the highest both can do
  bool rsa_kx = false;              // client: legacy profile; server: RSA key exchange only
  std::optional<cipher_family> cipher;  // pinned on both sides
  bool resumption = false;          // client: offer the last session
  bool release_buffers = false;     // both sides: free record buffers while idle
  std::string host = "localhost";   // the name the client checks (SNI and certificate)
};

// Why a case cannot run with an implementation (reported, not an error).
struct unsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a finished handshake negotiated, for the report and for checking that
// both runs of a pair did the same thing.
struct facts {
  std::string version;  // "TLSv1.3", "TLSv1.2"
  std::string cipher;   // IANA name where the library gives one
  std::string group;    // "x25519", ... (empty if unknown)
  bool resumed = false;
};

// One connection over a socket it owns. Every call throws std::runtime_error on
// failure; reads and writes are blocking with a timeout.
class connection {
 public:
  virtual ~connection() = default;
  // Plaintext line I/O before the upgrade (the SMTP dialogue).
  virtual void write_plain(std::string_view text) = 0;
  virtual std::string read_line_plain() = 0;
  // The TLS handshake, in place on the same socket.
  virtual void start_tls() = 0;
  // TLS I/O. read returns 0 when the peer closed.
  virtual std::size_t read(std::span<std::byte> buf) = 0;
  virtual void write(std::span<const std::byte> buf) = 0;
  virtual std::string read_line() = 0;
  virtual facts negotiated() = 0;
  // Sends close_notify (without waiting for the peer's) and closes the socket.
  virtual void close() = 0;
};

// One role's compiled configuration, shared by the connections it makes.
class endpoint {
 public:
  virtual ~endpoint() = default;
  // A connection over fd (ownership passes), no I/O yet.
  virtual std::unique_ptr<connection> attach(int fd) = 0;
};

class implementation {
 public:
  virtual ~implementation() = default;
  // "uptls", "raw-openssl", "asio", ...
  virtual std::string name() const = 0;
  // The TLS library underneath ("openssl", "gnutls", "mbedtls").
  virtual std::string library() const = 0;
  virtual std::string library_version() const = 0;
  // Picks the library where the implementation has several (uptls's backends);
  // the others accept only their own name. Throws bench::unsupported.
  virtual void select(const std::string& lib) {
    if (lib != library()) throw unsupported(name() + " runs on " + library() + " only");
  }
  // Adds what --info reports beyond name and version (e.g. the backends and their capabilities).
  virtual void describe(json& /*out*/) const {}
  // Throw bench::unsupported when the setup cannot be honoured.
  virtual std::unique_ptr<endpoint> make_server(const setup& s) = 0;
  virtual std::unique_ptr<endpoint> make_client(const setup& s) = 0;
};

// A raw library's implementation by name ("openssl", ...), or nullptr: the uptls
// driver uses it for the RSA-only server of the RSA key exchange case.
implementation* find_raw(std::string_view library);

}  // namespace bench
