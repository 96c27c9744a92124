// The mbedTLS backend's one public face: uptls::detail::mbedtls_backend().
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/version.h>

#include <string>

#include "context.hpp"
#include "suites.hpp"
#include "uptls/backend.hpp"

namespace uptls {
namespace mbed {
namespace {

capabilities probe_capabilities() {
  capabilities c;
  // TLS 1.3 is not offered even where the library has it (3.x): this backend
  // drives the TLS 1.2 state machine and reads TLS 1.2 messages only.
  c.tls13 = false;
  c.rsa_key_exchange = has_suite(MBEDTLS_TLS_RSA_WITH_AES_128_GCM_SHA256);
  // mbedTLS 2.28 matches DNS names only; the engine checks iPAddress SANs itself.
  c.ip_address_names = true;
#if defined(MBEDTLS_SSL_ALPN)
  c.alpn = true;
#endif
  c.resumption = true;  // server: tickets and a session-id cache; client: a cache per server name
  c.session_id_cache = true;  // mbedtls_ssl_cache (bounded at 50 entries, 1 day)
  c.pem_from_memory = true;
  c.client_certificates = true;
  // No store of its own: the system's PEM bundle, when there is one.
  c.system_trust = !mbed::system_trust_file().empty();
  // mbedTLS has no switch that frees buffers of an idle connection
  // (MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH only trims them after the handshake).
  c.release_buffers = false;
  c.chacha20 = has_suite(MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256);
  return c;
}

class mbedtls_backend_impl final : public backend {
 public:
  std::string_view name() const noexcept override { return "mbedtls"; }

  std::string_view library_version() const noexcept override {
    static const std::string text = [] {
      char buf[32] = {};  // mbedtls_version_get_string_full writes at most 18 bytes
      mbedtls_version_get_string_full(buf);
      return std::string(buf);
    }();
    return text;
  }

  const capabilities& caps() const noexcept override {
    static const capabilities c = probe_capabilities();
    return c;
  }

  result<std::shared_ptr<const context>> make_context(const tls_config& cfg, role side) const override {
    std::string why;
    return make_context(cfg, side, why);
  }
  result<std::shared_ptr<const context>> make_context(const tls_config& cfg, role side,
                                                      std::string& why) const override {
    why.clear();
    if (auto ec = detail::check_config(cfg, side, caps(), &why)) return ec;
    auto ctx = std::make_shared<mbed_context>(*this, cfg, side);
    if (auto ec = ctx->setup(&why)) return ec;
    return std::shared_ptr<const context>(std::move(ctx));
  }
};

}  // namespace
}  // namespace mbed

namespace detail {

const backend& mbedtls_backend() noexcept {
  static const mbed::mbedtls_backend_impl instance;
  return instance;
}

}  // namespace detail
}  // namespace uptls
