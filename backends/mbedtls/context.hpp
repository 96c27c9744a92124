// A compiled tls_config for one role: an mbedtls_ssl_config and everything it
// points to (RNG, trust anchors, our chain and key, suite and ALPN lists,
// ticket keys, session caches). Immutable once built; engines share it.
#pragma once

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "session_cache.hpp"
#include "engine/engine.hpp"
#include "uptls/backend.hpp"

namespace uptls::mbed {

// The system's CA bundle, or empty when none of the usual places has one.
std::string_view system_trust_file() noexcept;

class mbed_context final : public detail::context_impl, public std::enable_shared_from_this<mbed_context> {
 public:
  mbed_context(const backend& owner, const tls_config& cfg, role side);
  ~mbed_context() override;
  mbed_context(const mbed_context&) = delete;
  mbed_context& operator=(const mbed_context&) = delete;

  // Builds the mbedTLS configuration: errc::invalid_config for an unreadable
  // file or a key that does not match the certificate, errc::internal when the
  // RNG cannot be seeded.
  std::error_code setup(std::string* why = nullptr);

  result<std::unique_ptr<detail::engine>> make_engine(transport& io, const peer_options& peer) const override;
  const tls_config& config() const noexcept override { return cfg_; }
  role side() const noexcept override { return side_; }
  const backend& owner() const noexcept override { return owner_; }

  // What engines set up their mbedtls_ssl_context from.
  const mbedtls_ssl_config& ssl_config() const noexcept { return conf_; }
  // Client sessions saved for resumption (thread-safe).
  session_cache& client_sessions() const noexcept { return sessions_; }

 private:
  std::error_code load_trust(std::string* why);
  std::error_code load_own_chain(std::string* why);
  std::error_code set_alpn();
  std::error_code set_resumption();

  const backend& owner_;
  tls_config cfg_;
  role side_;
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
  mbedtls_x509_crt trust_;
  mbedtls_x509_crt own_chain_;
  mbedtls_pk_context own_key_;
  mbedtls_ssl_ticket_context tickets_;
  mbedtls_ssl_cache_context server_sessions_;
  mbedtls_ssl_config conf_;
  std::vector<int> suites_;             // mbedtls_ssl_config keeps a pointer to these
  std::vector<std::string> alpn_names_;
  std::vector<const char*> alpn_list_;  // and to these
  mutable session_cache sessions_;
};

}  // namespace uptls::mbed
