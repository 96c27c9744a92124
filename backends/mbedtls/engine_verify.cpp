// The checks mbedTLS leaves to its caller: IP address names, self-signed leaves,
// the SNI a server receives, client certificates under "optional".
#include "engine.hpp"

#include <mbedtls/x509.h>

#include "compat.hpp"
#include "context.hpp"
#include "errors.hpp"
#include "names.hpp"

namespace uptls::mbed {

// mbedTLS calls this for every certificate of the verified chain, the top
// first and the peer's own certificate (depth 0) last.
int mbed_engine::on_verify(void* self, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
  auto* e = static_cast<mbed_engine*>(self);
  if (depth > e->deepest_) e->deepest_ = depth;
  if (depth != 0) return 0;
  e->peer_cert_seen_ = true;
  // A self-signed certificate that is not trusted is the whole chain on its own.
  e->self_signed_leaf_ = e->deepest_ == 0 && self_issued(*crt);
  if (e->expected_ip_ && !has_ip_address(*crt, *e->expected_ip_)) *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  return 0;
}

int mbed_engine::on_server_name(void*, mbedtls_ssl_context* ssl, const unsigned char* name, std::size_t len) {
  auto* conn = reinterpret_cast<connection*>(ssl);
  conn->owner->sni_.assign(reinterpret_cast<const char*>(name), len);
  return 0;  // one certificate for every name: the default one
}

std::uint32_t mbed_engine::verify_result() const noexcept {
  // During a first handshake mbedTLS reports the flags of the session being negotiated.
  const std::uint32_t flags = mbedtls_ssl_get_verify_result(&ssl());
  if (flags == 0xFFFFFFFFU) return 0;
  return flags & ~std::uint32_t{MBEDTLS_X509_BADCERT_SKIP_VERIFY | MBEDTLS_X509_BADCERT_MISSING};
}

// mbedTLS's "optional" accepts any client certificate and only records what
// was wrong with it. A presented certificate must verify; only its absence is
// tolerated. The step that parsed it has just returned: stop before the
// server's Finished.
bool mbed_engine::refuse_presented_client_cert() {
  if (ctx_->side() != role::server || ctx_->config().client_certificates != client_auth::optional) return false;
  if (!peer_cert_seen_) return false;
  const std::uint32_t bad = verify_result();
  if (bad == 0) return false;
  fail(from_verify_flags(bad, self_signed_leaf_), MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, alert_for_flags(bad));
  return true;
}

}  // namespace uptls::mbed
