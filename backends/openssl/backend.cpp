// The OpenSSL backend's only public face: uptls::detail::openssl_backend().
#include <openssl/crypto.h>

#include "context.hpp"
#include "uptls/backend.hpp"

namespace uptls {
namespace ossl {
namespace {

class openssl_backend final : public backend {
 public:
  std::string_view name() const noexcept override { return "openssl"; }
  std::string_view library_version() const noexcept override { return OpenSSL_version(OPENSSL_VERSION); }
  const capabilities& caps() const noexcept override { return caps_; }

  result<std::shared_ptr<const context>> make_context(const tls_config& cfg, role side) const override {
    std::string why;
    return make_context(cfg, side, why);
  }
  result<std::shared_ptr<const context>> make_context(const tls_config& cfg, role side,
                                                      std::string& why) const override {
    why.clear();
    if (const std::error_code ec = detail::check_config(cfg, side, caps_, &why)) return ec;
    return openssl_context::make(*this, cfg, side, &why);
  }

 private:
  // Everything is available from 1.1.1 on, the oldest release we build against.
  capabilities caps_{
      .tls13 = true,
      .rsa_key_exchange = true,
      .ip_address_names = true,
      .alpn = true,
      .resumption = true,
      .session_id_cache = true,  // OpenSSL's internal server cache (SSL_SESS_CACHE_SERVER)
      .pem_from_memory = true,
      .client_certificates = true,
      .system_trust = true,
      .release_buffers = true,
      .chacha20 = true,
  };
};

}  // namespace
}  // namespace ossl

namespace detail {
const backend& openssl_backend() noexcept {
  static const ossl::openssl_backend instance;
  return instance;
}
}  // namespace detail

}  // namespace uptls
