// A compiled tls_config for GnuTLS: certificate credentials, a priority cache,
// the server's ticket key and session-ID store, the client's resumption cache.
// Immutable after make() apart from the caches (each with its own lock), so it
// can be shared between threads.
#pragma once

#include <gnutls/gnutls.h>

#include <memory>
#include <string>
#include <vector>

#include "server_session_store.hpp"
#include "session_cache.hpp"
#include "engine/engine.hpp"
#include "uptls/backend.hpp"

namespace uptls::detail::gtls {

class gnutls_context final : public detail::context_impl, public std::enable_shared_from_this<gnutls_context> {
 public:
  // Compiles cfg (already accepted by check_config): errc::invalid_config for
  // unreadable files, a key that does not match its certificate or an empty CA
  // file; errc::unsupported for ALPN lists beyond GnuTLS's limits.
  static result<std::shared_ptr<const context>> make(const backend& owner, const tls_config& cfg, role side,
                                                     std::string* why);

  ~gnutls_context() override;
  gnutls_context(const gnutls_context&) = delete;
  gnutls_context& operator=(const gnutls_context&) = delete;

  result<std::unique_ptr<detail::engine>> make_engine(transport& io, const peer_options& peer) const override;
  const tls_config& config() const noexcept override { return cfg_; }
  role side() const noexcept override { return side_; }
  const backend& owner() const noexcept override { return owner_; }

  gnutls_certificate_credentials_t credentials() const noexcept { return creds_; }
  gnutls_priority_t priority() const noexcept { return priority_; }
  // Server: the key that protects session tickets; nullptr when resumption is off.
  const gnutls_datum_t* ticket_key() const noexcept { return ticket_key_.data ? &ticket_key_ : nullptr; }
  // The ALPN list in GnuTLS's form (pointing into config().alpn).
  const std::vector<gnutls_datum_t>& alpn() const noexcept { return alpn_; }
  // Client: resumption data by server name.
  session_cache& cache() const noexcept { return cache_; }
  // Server: TLS 1.2 sessions by session ID; nullptr when resumption is off.
  server_session_store* id_store() const noexcept { return id_store_.get(); }

 private:
  gnutls_context(const backend& owner, const tls_config& cfg, role side);
  std::error_code compile(std::string* why);
  std::error_code load_trust(std::string* why);
  std::error_code load_identity(std::string* why);

  const backend& owner_;
  tls_config cfg_;
  role side_;
  gnutls_certificate_credentials_t creds_ = nullptr;
  gnutls_priority_t priority_ = nullptr;
  gnutls_datum_t ticket_key_{nullptr, 0};
  std::vector<gnutls_datum_t> alpn_;
  mutable session_cache cache_;
  std::unique_ptr<server_session_store> id_store_;
};

}  // namespace uptls::detail::gtls
