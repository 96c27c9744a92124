#include <arpa/inet.h>

#include <string>

#include "engine/engine.hpp"
#include "uptls/config.hpp"

namespace uptls {

std::string_view to_string(profile p) noexcept { return p == profile::strict ? "strict" : "legacy"; }
std::string_view to_string(tls_version v) noexcept { return v == tls_version::tls1_3 ? "TLSv1.3" : "TLSv1.2"; }
std::string_view to_string(role r) noexcept { return r == role::client ? "client" : "server"; }

namespace detail {

bool is_ip_literal(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  const std::string z(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, z.c_str(), buf) == 1 || inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

// Shared by every backend so that they refuse exactly the same settings.
std::error_code check_config(const tls_config& cfg, role side, const capabilities& caps) {
  const bool wants13 = cfg.min_version == tls_version::tls1_3 ||
                       (cfg.max_version && *cfg.max_version == tls_version::tls1_3);
  if (wants13 && !caps.tls13) return errc::unsupported;
  if (cfg.max_version && *cfg.max_version < cfg.min_version) return errc::invalid_config;
  if (cfg.security == profile::legacy && !caps.rsa_key_exchange) return errc::unsupported;
  if (!cfg.alpn.empty() && !caps.alpn) return errc::unsupported;
  for (const auto& p : cfg.alpn) {
    if (p.empty() || p.size() > 255) return errc::invalid_config;
  }
  if (cfg.system_trust && !caps.system_trust) return errc::unsupported;
  if (cfg.release_buffers && !caps.release_buffers) return errc::unsupported;
  if (cfg.cert_file.empty() != cfg.key_file.empty()) return errc::invalid_config;
  if (side == role::server && cfg.cert_file.empty()) return errc::invalid_config;
  if (side == role::server && cfg.client_certificates != client_auth::none) {
    if (!caps.client_certificates) return errc::unsupported;
    if (cfg.ca_file.empty() && !cfg.system_trust) return errc::invalid_config;
  }
  if (side == role::client && !cfg.cert_file.empty() && !caps.client_certificates) return errc::unsupported;
  if (side == role::client && !cfg.dangerous_skip_verification && cfg.ca_file.empty() && !cfg.system_trust) {
    return errc::invalid_config;  // a client that verifies needs something to trust
  }
  if (cfg.handshake_timeout.count() <= 0) return errc::invalid_config;
  return {};
}

}  // namespace detail
}  // namespace uptls
