#include "priority.hpp"

namespace uptls::detail::gtls {
namespace {

// GnuTLS's NORMAL still allows TLS 1.0/1.1, plain RSA key exchange, CBC and
// DHE, so every family is cleared and refilled. The TLS 1.2 suites come out
// kx-major (ECDHE-RSA, ECDHE-ECDSA, then RSA), so the forward-secret ones
// stay ahead of anything legacy adds. No DHE: the other backends have none.
constexpr const char* strict_families =
    ":-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA"
    ":-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
    ":-MAC-ALL:+AEAD"
    ":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1";

// Appended after strict's: plain RSA key exchange with AES-GCM, and AES-CBC
// with HMAC-SHA1/SHA256. GnuTLS combines families rather than naming suites,
// so this also enables ECDHE with AES-CBC, which sorts before every RSA suite.
constexpr const char* legacy_families = ":+RSA:+AES-128-CBC:+AES-256-CBC:+SHA1:+SHA256";

}  // namespace

std::string priority_string(const tls_config& cfg, role side) {
  const tls_version max = cfg.max_version.value_or(tls_version::tls1_3);
  std::string s = "NORMAL:-VERS-ALL";
  if (max >= tls_version::tls1_3) s += ":+VERS-TLS1.3";
  if (cfg.min_version <= tls_version::tls1_2) s += ":+VERS-TLS1.2";
  s += strict_families;
  if (cfg.security == profile::legacy) s += legacy_families;
  // A server picks from its own list, so the profile's order is what it gets.
  if (side == role::server) s += ":%SERVER_PRECEDENCE";
  return s;
}

}  // namespace uptls::detail::gtls
