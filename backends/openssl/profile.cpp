#include "profile.hpp"

#include <cstdint>

#include "uptls/errc.hpp"

namespace uptls::ossl {
namespace {

int wire_version(tls_version v) { return v == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION; }

}  // namespace

std::error_code apply_profile(SSL_CTX* ctx, const tls_config& cfg, role side) {
  if (SSL_CTX_set_min_proto_version(ctx, wire_version(cfg.min_version)) != 1) return errc::internal;
  // 0 = the highest this OpenSSL can do.
  const int max = cfg.max_version ? wire_version(*cfg.max_version) : 0;
  if (SSL_CTX_set_max_proto_version(ctx, max) != 1) return errc::internal;

  const char* list = cfg.security == profile::strict ? strict_tls12_ciphers : legacy_tls12_ciphers;
  if (SSL_CTX_set_cipher_list(ctx, list) != 1) return errc::internal;
  if (SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1) return errc::internal;
  if (SSL_CTX_set1_groups_list(ctx, groups) != 1) return errc::internal;

  // 112-bit keys at least (RSA/DH 2048, ECC 224), whatever the system's
  // openssl.cnf says: the profile must mean the same everywhere.
  SSL_CTX_set_security_level(ctx, 2);

  // A system openssl.cnf can switch options on for every SSL_CTX; these two
  // would hide truncation or allow unsafe renegotiation, so they go.
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  SSL_CTX_clear_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
  SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION);

  // Renegotiation and compression only ever brought attacks (CRIME, renegotiation
  // injection).
  std::uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
  // A server follows its own order so that a legacy server still picks a forward
  // secret suite when the client offers both.
  if (side == role::server) opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(ctx, opts);

  long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
  if (cfg.release_buffers) mode |= SSL_MODE_RELEASE_BUFFERS;
  SSL_CTX_set_mode(ctx, mode);
  return {};
}

}  // namespace uptls::ossl
