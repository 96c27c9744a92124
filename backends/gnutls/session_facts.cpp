#include "session_facts.hpp"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <gsl/util>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"

namespace uptls::detail::gtls {
namespace {

bool is_tls13(gnutls_session_t s) { return gnutls_protocol_get_version(s) == GNUTLS_TLS1_3; }

#ifndef UPTLS_GNUTLS_HAVE_CIPHERSUITE_GET
// Before GnuTLS 3.7.4 there is no canonical name: build it from the parts.
std::string built_suite_name(gnutls_session_t s) {
  const gnutls_cipher_algorithm_t cipher = gnutls_cipher_get(s);
  const gnutls_mac_algorithm_t mac = gnutls_mac_get(s);
  std::string bulk;
  switch (cipher) {
    case GNUTLS_CIPHER_AES_128_GCM: bulk = "AES_128_GCM_SHA256"; break;
    case GNUTLS_CIPHER_AES_256_GCM: bulk = "AES_256_GCM_SHA384"; break;
    case GNUTLS_CIPHER_CHACHA20_POLY1305: bulk = "CHACHA20_POLY1305_SHA256"; break;
    case GNUTLS_CIPHER_AES_128_CBC:
    case GNUTLS_CIPHER_AES_256_CBC:
      bulk = cipher == GNUTLS_CIPHER_AES_128_CBC ? "AES_128_CBC_" : "AES_256_CBC_";
      bulk += mac == GNUTLS_MAC_SHA1 ? "SHA" : mac == GNUTLS_MAC_SHA384 ? "SHA384" : "SHA256";
      break;
    default: {
      const char* n = gnutls_cipher_get_name(cipher);
      bulk = n != nullptr ? n : "UNKNOWN";
    }
  }
  if (is_tls13(s)) return "TLS_" + bulk;
  std::string kx;
  switch (gnutls_kx_get(s)) {
    case GNUTLS_KX_ECDHE_RSA: kx = "ECDHE_RSA"; break;
    case GNUTLS_KX_ECDHE_ECDSA: kx = "ECDHE_ECDSA"; break;
    case GNUTLS_KX_DHE_RSA: kx = "DHE_RSA"; break;
    case GNUTLS_KX_RSA: kx = "RSA"; break;
    default: kx = "UNKNOWN"; break;
  }
  return "TLS_" + kx + "_WITH_" + bulk;
}
#endif

named_group iana_group(gnutls_group_t g) {
  switch (g) {
    case GNUTLS_GROUP_SECP256R1: return named_group::secp256r1;
    case GNUTLS_GROUP_SECP384R1: return named_group::secp384r1;
    case GNUTLS_GROUP_SECP521R1: return named_group::secp521r1;
    case GNUTLS_GROUP_X25519: return named_group::x25519;
    case GNUTLS_GROUP_X448: return named_group::x448;
    case GNUTLS_GROUP_FFDHE2048: return named_group::ffdhe2048;
    case GNUTLS_GROUP_FFDHE3072: return named_group::ffdhe3072;
    case GNUTLS_GROUP_FFDHE4096: return named_group::ffdhe4096;
    case GNUTLS_GROUP_FFDHE6144: return named_group::ffdhe6144;
    case GNUTLS_GROUP_FFDHE8192: return named_group::ffdhe8192;
    default: return named_group::none;
  }
}

std::string dn_text(gnutls_x509_crt_t crt, bool issuer) {
  gnutls_datum_t dn{nullptr, 0};
  // dn3 with flags 0: RFC 4514 order (last RDN first), as OpenSSL prints RFC 2253.
  const int rc = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0) : gnutls_x509_crt_get_dn3(crt, &dn, 0);
  if (rc < 0) return {};
  std::string out(reinterpret_cast<const char*>(dn.data), dn.size);
  gnutls_free(dn.data);
  return out;
}

void read_names(gnutls_x509_crt_t crt, certificate_info& out) {
  std::vector<char> buf(256);
  for (unsigned idx = 0; idx < 1024; ++idx) {
    size_t size = buf.size();
    unsigned critical = 0;
    int type = gnutls_x509_crt_get_subject_alt_name(crt, idx, buf.data(), &size, &critical);
    if (type == GNUTLS_E_SHORT_MEMORY_BUFFER) {
      buf.resize(size + 1);
      size = buf.size();
      type = gnutls_x509_crt_get_subject_alt_name(crt, idx, buf.data(), &size, &critical);
    }
    if (type < 0) break;  // GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE: no more names
    if (type == GNUTLS_SAN_DNSNAME) {
      out.dns_names.emplace_back(buf.data(), size);
    } else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
      std::array<char, INET6_ADDRSTRLEN> text{};
      if (inet_ntop(size == 4 ? AF_INET : AF_INET6, buf.data(), text.data(), text.size()) != nullptr) {
        out.ip_addresses.emplace_back(text.data());
      }
    }
  }
}

class gnutls_certificate final : public detail::certificate_source {
 public:
  using certificate_source::certificate_source;

 private:
  certificate_info parse(std::string_view der) const override {
    certificate_info out;
    gnutls_x509_crt_t crt = nullptr;
    if (gnutls_x509_crt_init(&crt) < 0) return out;
    auto release = gsl::finally([&] { gnutls_x509_crt_deinit(crt); });
    const gnutls_datum_t datum{reinterpret_cast<unsigned char*>(const_cast<char*>(der.data())),
                               static_cast<unsigned>(der.size())};
    if (gnutls_x509_crt_import(crt, &datum, GNUTLS_X509_FMT_DER) < 0) return out;
    out.subject = dn_text(crt, false);
    out.issuer = dn_text(crt, true);
    read_names(crt, out);
    std::array<unsigned char, 64> serial{};
    size_t serial_size = serial.size();
    if (gnutls_x509_crt_get_serial(crt, serial.data(), &serial_size) >= 0) {
      out.serial = detail::serial_text({serial.data(), serial_size});
    }
    out.not_before = std::chrono::system_clock::from_time_t(gnutls_x509_crt_get_activation_time(crt));
    out.not_after = std::chrono::system_clock::from_time_t(gnutls_x509_crt_get_expiration_time(crt));
    unsigned bits = 0;
    const int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
    switch (pk) {
      case GNUTLS_PK_RSA:
      case GNUTLS_PK_RSA_PSS: out.key = key_type::rsa; break;
      case GNUTLS_PK_ECDSA: out.key = key_type::ecdsa; break;
      case GNUTLS_PK_EDDSA_ED25519: out.key = key_type::ed25519; break;
      case GNUTLS_PK_EDDSA_ED448: out.key = key_type::ed448; break;
      default: break;
    }
    out.key_bits = bits;
    std::array<unsigned char, 32> digest{};
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data(), der.size(), digest.data()) == 0) {
      out.sha256 = detail::hex_upper(digest);
    }
    return out;
  }
};

std::string received_sni(gnutls_session_t s) {
  std::array<char, 256> name{};
  size_t size = name.size();
  unsigned type = 0;
  if (gnutls_server_name_get(s, name.data(), &size, &type, 0) < 0 || type != GNUTLS_NAME_DNS) return {};
  return std::string(name.data(), strnlen(name.data(), std::min(size, name.size())));
}

}  // namespace

std::string iana_suite_name(gnutls_session_t session) {
#ifdef UPTLS_GNUTLS_HAVE_CIPHERSUITE_GET
  const char* name = gnutls_ciphersuite_get(session);
  return name != nullptr ? name : "";
#else
  return built_suite_name(session);
#endif
}

session_info session_facts(gnutls_session_t s, role side, const std::string& sni_sent, bool verified) {
  session_info info;
  info.version = is_tls13(s) ? tls_version::tls1_3 : tls_version::tls1_2;
  info.resumed = gnutls_session_is_resumed(s) != 0;
  info.group = iana_group(gnutls_group_get(s));
  detail::settle_facts(info, 0, iana_suite_name(s));
  info.verified = verified;

  // The leaf is copied, not parsed: parsing costs more than a resumed handshake,
  // and peer_certificate() does it when someone asks.
  unsigned count = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(s, &count);
  if (certs != nullptr && count > 0) {
    detail::session_access::set_peer_certificate(info, std::make_shared<gnutls_certificate>(
        std::string(reinterpret_cast<const char*>(certs[0].data), certs[0].size)));
  }
  info.sni = side == role::client ? sni_sent : received_sni(s);

  gnutls_datum_t proto{nullptr, 0};
  if (gnutls_alpn_get_selected_protocol(s, &proto) == 0 && proto.data != nullptr) {
    info.alpn.assign(reinterpret_cast<const char*>(proto.data), proto.size);
  }
  info.backend = "gnutls";
  return info;
}

}  // namespace uptls::detail::gtls
