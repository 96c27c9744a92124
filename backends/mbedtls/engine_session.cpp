// The session facts of a finished handshake, from mbedTLS and from the wire.
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include <array>
#include <memory>

#include "context.hpp"
#include "engine.hpp"
#include "names.hpp"

namespace uptls::mbed {
namespace {

std::chrono::system_clock::time_point time_of(const mbedtls_x509_time& t) {
  return detail::utc_time(t.year, t.mon, t.day, t.hour, t.min, t.sec);
}

class mbedtls_certificate final : public detail::certificate_source {
 public:
  using certificate_source::certificate_source;

 private:
  certificate_info parse(std::string_view der) const override {
    certificate_info out;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    const auto* bytes = reinterpret_cast<const unsigned char*>(der.data());
    if (mbedtls_x509_crt_parse_der(&crt, bytes, der.size()) == 0) {
      out.subject = name_text(crt.subject);
      out.issuer = name_text(crt.issuer);
      alt_names(crt, out.dns_names, out.ip_addresses);
      out.serial = detail::serial_text({crt.serial.p, crt.serial.len});
      out.not_before = time_of(crt.valid_from);
      out.not_after = time_of(crt.valid_to);
      switch (mbedtls_pk_get_type(&crt.pk)) {
        case MBEDTLS_PK_RSA:
        case MBEDTLS_PK_RSASSA_PSS: out.key = key_type::rsa; break;
        case MBEDTLS_PK_ECKEY:
        case MBEDTLS_PK_ECDSA: out.key = key_type::ecdsa; break;
        default: break;
      }
      out.key_bits = static_cast<unsigned>(mbedtls_pk_get_bitlen(&crt.pk));
    }
    mbedtls_x509_crt_free(&crt);
    std::array<unsigned char, 32> digest{};
    if (mbedtls_sha256_ret(bytes, der.size(), digest.data(), 0) == 0) out.sha256 = detail::hex_upper(digest);
    return out;
  }
};

}  // namespace

// Only what the wire tells is kept here (the wire readers stop after the
// handshake); everything else is read when session() is called.
void mbed_engine::record_session() {
  // mbedTLS has no getter for these: the server's cleartext flight says. A
  // resumed TLS 1.2 handshake sends no Certificate and exchanges no key.
  const wire_reader& server_flight = ctx_->side() == role::client ? from_peer_ : to_peer_;
  resumed_ = server_flight.saw(hs_type::server_hello) && !server_flight.saw(hs_type::certificate);
  group_ = server_flight.named_group();
}

session_info mbed_engine::session() const {
  session_info info;
  info.backend = "mbedtls";
  if (phase_ != phase::open) return info;
  const tls_config& cfg = ctx_->config();
  const bool client = ctx_->side() == role::client;
  const char* version = mbedtls_ssl_get_version(&ssl());
  info.version = std::string_view(version ? version : "") == "TLSv1.3" ? tls_version::tls1_3 : tls_version::tls1_2;
  info.resumed = resumed_;
  if (group_ > 0) info.group = static_cast<named_group>(group_);
  const char* suite = mbedtls_ssl_get_ciphersuite(&ssl());
  const int suite_id = suite != nullptr ? mbedtls_ssl_get_ciphersuite_id(suite) : 0;
  detail::settle_facts(info, static_cast<std::uint16_t>(suite_id > 0 ? suite_id : 0), iana_suite_name(suite ? suite : ""));
  // The DHE ServerKeyExchange names no group (RFC 5246): a group seen there is ECDHE's.
  if (info.kx != key_exchange::ecdhe && info.version == tls_version::tls1_2) info.group = named_group::none;

  const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&ssl());
  if (peer != nullptr && peer->raw.p != nullptr) {
    detail::session_access::set_peer_certificate(info, std::make_shared<mbedtls_certificate>(
        std::string(reinterpret_cast<const char*>(peer->raw.p), peer->raw.len)));
  }
  const std::uint32_t flags = mbedtls_ssl_get_verify_result(&ssl());
  if (client) {
    info.verified = !cfg.dangerous_skip_verification && flags == 0;
  } else {
    info.verified = cfg.client_certificates != client_auth::none && peer != nullptr && flags == 0;
  }
  info.sni = sni_;
  const char* alpn = mbedtls_ssl_get_alpn_protocol(&ssl());
  info.alpn = alpn ? alpn : "";
  return info;
}

}  // namespace uptls::mbed
