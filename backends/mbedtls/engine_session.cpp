// The session facts of a finished handshake, from mbedTLS and from the wire.
#include "engine.hpp"

#include "context.hpp"
#include "names.hpp"

namespace uptls::mbed {

void mbed_engine::record_session() {
  const tls_config& cfg = ctx_->config();
  const bool client = ctx_->side() == role::client;
  const char* version = mbedtls_ssl_get_version(&ssl());
  info_.version = std::string_view(version ? version : "") == "TLSv1.3" ? tls_version::tls1_3 : tls_version::tls1_2;
  const char* suite = mbedtls_ssl_get_ciphersuite(&ssl());
  info_.cipher = iana_suite_name(suite ? suite : "");
  info_.key_exchange = key_exchange_of(info_.cipher);
  info_.forward_secret = info_.key_exchange == "ECDHE" || info_.key_exchange == "DHE" ||
                         info_.key_exchange == "(EC)DHE";

  // mbedTLS has no getter for these: the server's cleartext flight says. A
  // resumed TLS 1.2 handshake sends no Certificate and exchanges no key.
  const wire_reader& server_flight = client ? from_peer_ : to_peer_;
  info_.resumed = server_flight.saw(hs_type::server_hello) && !server_flight.saw(hs_type::certificate);
  if (info_.key_exchange == "ECDHE") info_.group = group_name(server_flight.named_group());

  if (const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&ssl())) {
    info_.peer_subject = subject_text(*peer);
    info_.peer_names = alt_names(*peer);
  }
  const std::uint32_t flags = mbedtls_ssl_get_verify_result(&ssl());
  if (client) {
    info_.verified = !cfg.dangerous_skip_verification && flags == 0;
  } else {
    info_.verified = cfg.client_certificates != client_auth::none && !info_.peer_subject.empty() && flags == 0;
  }
  info_.sni = sni_;
  const char* alpn = mbedtls_ssl_get_alpn_protocol(&ssl());
  info_.alpn = alpn ? alpn : "";
}

}  // namespace uptls::mbed
