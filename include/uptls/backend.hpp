// Backends: the TLS libraries compiled in. Only the registry names them.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "uptls/config.hpp"
#include "uptls/engine.hpp"
#include "uptls/result.hpp"
#include "uptls/transport.hpp"

namespace uptls {

// What a backend can do; callers, tests and the fallback ladder ask before trying.
struct capabilities {
  bool tls13 = false;             // negotiates TLS 1.3
  bool rsa_key_exchange = false;  // offers plain RSA key exchange (legacy profile)
  bool ip_address_names = false;  // checks IP addresses in certificates
  bool alpn = false;
  bool resumption = false;
  bool client_certificates = false;
  bool system_trust = false;      // can load the system's CA store
  bool release_buffers = false;   // has a low-memory switch for idle connections
  bool chacha20 = false;          // has ChaCha20-Poly1305 suites
};

class backend;

// An immutable, shareable compiled tls_config for one role (an SSL_CTX, a GnuTLS
// credentials + priority pair, an mbedtls_ssl_config). Safe to share between threads.
class context {
 public:
  virtual ~context() = default;
  // A new engine for one connection over io (which must outlive the engine).
  virtual result<std::unique_ptr<engine>> make_engine(transport& io, const peer_options& peer) const = 0;
  virtual const tls_config& config() const noexcept = 0;
  virtual role side() const noexcept = 0;
  virtual const backend& owner() const noexcept = 0;
};

class backend {
 public:
  virtual ~backend() = default;
  // "openssl", "gnutls", "mbedtls".
  virtual std::string_view name() const noexcept = 0;
  // The library's own version string, as linked at run time.
  virtual std::string_view library_version() const noexcept = 0;
  virtual const capabilities& caps() const noexcept = 0;
  // Compiles cfg for one role. errc::unsupported for a setting the backend cannot
  // honour, errc::invalid_config for unreadable files or a key that does not match.
  virtual result<std::shared_ptr<const context>> make_context(const tls_config& cfg, role side) const = 0;
};

// The backends compiled into this build, in the order the build chose (first = default).
std::span<const backend* const> backends() noexcept;
// A backend by name, or nullptr.
const backend* find_backend(std::string_view name) noexcept;

// The checks every backend makes first so that all refuse the same settings the
// same way: errc::unsupported (a capability is missing) or errc::invalid_config.
std::error_code check_config(const tls_config& cfg, role side, const capabilities& caps);

// True when s is an IPv4 or IPv6 address literal (no SNI for those, RFC 6066).
bool is_ip_literal(std::string_view s) noexcept;

}  // namespace uptls
