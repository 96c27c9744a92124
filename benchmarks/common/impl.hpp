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
#include <vector>

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
  bool smtp_library = false;        // starttls: uptls's SMTP dialogue library instead of the stream by hand
};

// The lines of the SMTP exchange in the starttls case (RFC 3207), without CRLF.
// A multi-line reply goes out in one write, as a hand-written server sends it.
struct smtp_script {
  std::string greeting;
  std::string ehlo;                   // the client's EHLO command
  std::vector<std::string> caps;      // EHLO reply before TLS, STARTTLS among them
  std::string ready;                  // the go-ahead
  std::vector<std::string> caps_tls;  // EHLO reply over TLS
  std::string bye;                    // the reply to QUIT
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

  // The starttls case. Server: the whole session up to QUIT. Client: greeting to
  // the first EHLO reply over TLS, then QUIT. By default the script over the
  // calls above; an implementation with its own SMTP library may use that.
  virtual void smtp_serve(const smtp_script& script);
  virtual void smtp_open(const smtp_script& script);
  virtual void smtp_quit(const smtp_script& script);
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
