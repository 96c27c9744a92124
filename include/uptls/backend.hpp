/// @file
/// Backends: the TLS libraries compiled into this build, what each can do, and the
/// compiled configurations (contexts) they make. Only the registry names them.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "uptls/config.hpp"
#include "uptls/result.hpp"

namespace uptls {

/// What a backend can do; callers, tests and the fallback ladder ask before trying.
struct capabilities {
  bool tls13 = false;             ///< negotiates TLS 1.3
  bool rsa_key_exchange = false;  ///< offers plain RSA key exchange (legacy profile)
  bool ip_address_names = false;  ///< checks IP addresses in certificates
  bool alpn = false;              ///< negotiates ALPN
  bool resumption = false;        ///< resumes sessions (tickets, session ids)
  /// A server resumes TLS 1.2 sessions by session ID for clients that take no
  /// ticket, from a bounded, expiring cache it keeps per context.
  bool session_id_cache = false;
  /// Reads certificates, keys and CAs from PEM text (tls_config::*_pem) and
  /// decrypts keys with tls_config::key_password.
  bool pem_from_memory = false;
  bool client_certificates = false;  ///< presents and verifies client certificates
  bool system_trust = false;      ///< can load the system's CA store
  bool release_buffers = false;   ///< has a low-memory switch for idle connections
  bool chacha20 = false;          ///< has ChaCha20-Poly1305 suites
};

class backend;

/// An immutable, shareable compiled tls_config for one role (an SSL_CTX, a GnuTLS
/// credentials + priority pair, an mbedtls_ssl_config). Safe to share between
/// threads; stream::start_tls() makes each connection's session from it.
class context {
 public:
  virtual ~context() = default;
  /// The configuration it was made from.
  virtual const tls_config& config() const noexcept = 0;
  /// The role it plays.
  virtual role side() const noexcept = 0;
  /// The backend that made it.
  virtual const backend& owner() const noexcept = 0;

 protected:
  context() = default;
};

/// One TLS library. The objects live for the whole program.
class backend {
 public:
  virtual ~backend() = default;
  /// "openssl", "gnutls", "mbedtls".
  virtual std::string_view name() const noexcept = 0;
  /// The library's own version string, as linked at run time.
  virtual std::string_view library_version() const noexcept = 0;
  /// What it can do.
  virtual const capabilities& caps() const noexcept = 0;
  /// Compiles cfg for one role. errc::unsupported for a setting the backend cannot
  /// honour, errc::invalid_config for unreadable files or a key that does not match.
  virtual result<std::shared_ptr<const context>> make_context(const tls_config& cfg, role side) const = 0;
  /// The same, and when it fails `why` names the tls_config field at fault and
  /// what is wrong with it, e.g. "key_pem: does not match cert_pem" (empty on
  /// success). The backends compiled into uptls all fill it.
  virtual result<std::shared_ptr<const context>> make_context(const tls_config& cfg, role side,
                                                              std::string& why) const {
    why.clear();
    return make_context(cfg, side);
  }
};

/// The backends compiled into this build, in the order the build chose (first = default).
std::span<const backend* const> backends() noexcept;
/// A backend by name, or nullptr.
const backend* find_backend(std::string_view name) noexcept;

}  // namespace uptls
