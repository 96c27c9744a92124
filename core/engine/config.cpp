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

std::error_code refuse(errc e, std::string* why, std::string_view text) {
  if (why != nullptr) *why = text;
  return e;
}

namespace {

bool has_trust(const tls_config& cfg) { return !cfg.ca_file.empty() || !cfg.ca_pem.empty() || cfg.system_trust; }
bool has_identity(const tls_config& cfg) { return !cfg.cert_file.empty() || !cfg.cert_pem.empty(); }

}  // namespace

// Shared by every backend so that they refuse exactly the same settings.
std::error_code check_config(const tls_config& cfg, role side, const capabilities& caps, std::string* why) {
  const bool wants13 = cfg.min_version == tls_version::tls1_3 ||
                       (cfg.max_version && *cfg.max_version == tls_version::tls1_3);
  if (wants13 && !caps.tls13) return refuse(errc::unsupported, why, "max_version: this backend has no TLS 1.3");
  if (cfg.max_version && *cfg.max_version < cfg.min_version) {
    return refuse(errc::invalid_config, why, "max_version: below min_version");
  }
  if (cfg.security == profile::legacy && !caps.rsa_key_exchange) {
    return refuse(errc::unsupported, why, "security: legacy needs RSA key exchange, which this backend lacks");
  }
  if (!cfg.alpn.empty() && !caps.alpn) return refuse(errc::unsupported, why, "alpn: this backend has no ALPN");
  for (const auto& p : cfg.alpn) {
    if (p.empty() || p.size() > 255) return refuse(errc::invalid_config, why, "alpn: a name is empty or over 255 bytes");
  }
  if (cfg.system_trust && !caps.system_trust) {
    return refuse(errc::unsupported, why, "system_trust: this backend finds no system store here");
  }
  if (cfg.release_buffers && !caps.release_buffers) {
    return refuse(errc::unsupported, why, "release_buffers: this backend has no such switch");
  }
  // Each item comes from one place: a file or PEM text, never both.
  if (!cfg.ca_file.empty() && !cfg.ca_pem.empty()) {
    return refuse(errc::invalid_config, why, "ca_pem: set together with ca_file (give one)");
  }
  const bool files = !cfg.cert_file.empty() || !cfg.key_file.empty();
  const bool pems = !cfg.cert_pem.empty() || !cfg.key_pem.empty();
  if (files && pems) {
    return refuse(errc::invalid_config, why, "cert_pem/key_pem: set together with cert_file/key_file (give one pair)");
  }
  if (cfg.cert_file.empty() != cfg.key_file.empty()) {
    return refuse(errc::invalid_config, why, cfg.cert_file.empty() ? "cert_file: missing (key_file is set)"
                                                                   : "key_file: missing (cert_file is set)");
  }
  if (cfg.cert_pem.empty() != cfg.key_pem.empty()) {
    return refuse(errc::invalid_config, why, cfg.cert_pem.empty() ? "cert_pem: missing (key_pem is set)"
                                                                  : "key_pem: missing (cert_pem is set)");
  }
  if (!cfg.key_password.empty() && !has_identity(cfg)) {
    return refuse(errc::invalid_config, why, "key_password: set without a key");
  }
  if (side == role::server && !has_identity(cfg)) {
    return refuse(errc::invalid_config, why, "cert_file/cert_pem: a server needs a certificate and key");
  }
  if (side == role::server && cfg.client_certificates != client_auth::none) {
    if (!caps.client_certificates) {
      return refuse(errc::unsupported, why, "client_certificates: this backend cannot ask for them");
    }
    if (!has_trust(cfg)) {
      return refuse(errc::invalid_config, why, "ca_file/ca_pem: nothing to verify client certificates against");
    }
  }
  if (side == role::client && has_identity(cfg) && !caps.client_certificates) {
    return refuse(errc::unsupported, why, "cert_file/cert_pem: this backend cannot present a client certificate");
  }
  if (side == role::client && !cfg.dangerous_skip_verification && !has_trust(cfg)) {
    // A client that verifies needs something to trust.
    return refuse(errc::invalid_config, why, "ca_file/ca_pem/system_trust: a verifying client trusts nothing");
  }
  if (cfg.handshake_timeout.count() <= 0) return refuse(errc::invalid_config, why, "handshake_timeout: not positive");
  return {};
}

}  // namespace detail
}  // namespace uptls
