// The GnuTLS backend's public face: its name, capabilities and factory.
#include <gnutls/gnutls.h>

#include "context.hpp"
#include "uptls/backend.hpp"

namespace uptls::detail {
namespace {

constexpr capabilities gnutls_caps() {
  capabilities c;
  c.tls13 = true;
  c.rsa_key_exchange = true;
  c.ip_address_names = true;   // GNUTLS_DT_IP_ADDRESS against iPAddress SANs
  c.alpn = true;
  c.resumption = true;
  c.session_id_cache = true;   // server_session_store behind gnutls_db_set_*_function
  c.pem_from_memory = true;
  c.client_certificates = true;
  c.system_trust = true;
  c.release_buffers = false;   // GnuTLS has no switch to free idle record buffers
  c.chacha20 = true;
  return c;
}

class gnutls_backend_impl final : public backend {
 public:
  std::string_view name() const noexcept override { return "gnutls"; }
  std::string_view library_version() const noexcept override {
    const char* v = gnutls_check_version(nullptr);
    return v != nullptr ? v : "";
  }
  const capabilities& caps() const noexcept override { return caps_; }
  result<std::shared_ptr<const context>> make_context(const tls_config& cfg, role side) const override {
    std::string why;
    return make_context(cfg, side, why);
  }
  result<std::shared_ptr<const context>> make_context(const tls_config& cfg, role side,
                                                      std::string& why) const override {
    why.clear();
    if (const std::error_code ec = detail::check_config(cfg, side, caps_, &why)) return ec;
    return gtls::gnutls_context::make(*this, cfg, side, &why);
  }

 private:
  capabilities caps_ = gnutls_caps();
};

}  // namespace

const backend& gnutls_backend() noexcept {
  static const gnutls_backend_impl instance;
  return instance;
}

}  // namespace uptls::detail
