#include "session_facts.hpp"

#include <arpa/inet.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>

#include <ctime>
#include <memory>
#ifndef UPTLS_OPENSSL_NEGOTIATED_GROUP
#include <openssl/ec.h>
#include <openssl/evp.h>
#endif

#include "engine/engine.hpp"
#include "handles.hpp"

namespace uptls::ossl {
namespace {

#ifdef UPTLS_OPENSSL_NEGOTIATED_GROUP
int group_nid(const SSL* ssl, role /*side*/) {
  return static_cast<int>(SSL_get_negotiated_group(const_cast<SSL*>(ssl)));
}
#else
// OpenSSL 1.1.1 has no getter for the group: read it off the ephemeral key.
int group_nid(const SSL* ssl, role side) {
  EVP_PKEY* key = nullptr;
  SSL* s = const_cast<SSL*>(ssl);
  const long got = side == role::client ? SSL_get_peer_tmp_key(s, &key) : SSL_get_tmp_key(s, &key);
  if (got != 1 || key == nullptr) return NID_undef;
  int nid = EVP_PKEY_id(key);
  if (nid == EVP_PKEY_EC) {
    const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key);
    nid = ec ? EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) : NID_undef;
  }
  EVP_PKEY_free(key);
  return nid;
}
#endif

std::string name_text(const X509_NAME* name) {
  bio_ptr mem(BIO_new(BIO_s_mem()));
  if (!mem) return {};
  if (X509_NAME_print_ex(mem.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string{};
}

void read_names(X509* cert, certificate_info& out) {
  names_ptr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type == GEN_DNS) {
      const ASN1_STRING* s = n->d.dNSName;
      out.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<std::size_t>(ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      const ASN1_STRING* s = n->d.iPAddress;
      const int len = ASN1_STRING_length(s);
      const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      char text[INET6_ADDRSTRLEN] = {};
      if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof text) != nullptr) {
        out.ip_addresses.emplace_back(text);
      }
    }
  }
}

std::chrono::system_clock::time_point time_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return detail::utc_time(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

class openssl_certificate final : public detail::certificate_source {
 public:
  using certificate_source::certificate_source;

 private:
  certificate_info parse(std::string_view der) const override {
    certificate_info out;
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    x509_ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!cert) return out;
    out.subject = name_text(X509_get_subject_name(cert.get()));
    out.issuer = name_text(X509_get_issuer_name(cert.get()));
    read_names(cert.get(), out);
    if (const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get())) {
      out.serial = detail::serial_text({ASN1_STRING_get0_data(serial), static_cast<std::size_t>(ASN1_STRING_length(serial))});
    }
    out.not_before = time_of(X509_get0_notBefore(cert.get()));
    out.not_after = time_of(X509_get0_notAfter(cert.get()));
    if (EVP_PKEY* key = X509_get0_pubkey(cert.get())) {
      switch (EVP_PKEY_base_id(key)) {
        case EVP_PKEY_RSA:
        case EVP_PKEY_RSA_PSS: out.key = key_type::rsa; break;
        case EVP_PKEY_EC: out.key = key_type::ecdsa; break;
        case EVP_PKEY_ED25519: out.key = key_type::ed25519; break;
        case EVP_PKEY_ED448: out.key = key_type::ed448; break;
        default: break;
      }
      out.key_bits = static_cast<unsigned>(EVP_PKEY_bits(key));
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (X509_digest(cert.get(), EVP_sha256(), md, &md_len) == 1) out.sha256 = detail::hex_upper({md, md_len});
    return out;
  }
};

// The leaf's DER bytes: a copy, so the facts outlive the connection.
std::string der_of(X509* cert) {
  const int len = i2d_X509(cert, nullptr);
  if (len <= 0) return {};
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509(cert, &p) != len) return {};
  return der;
}

}  // namespace

named_group group_of_nid(int nid) {
  switch (nid) {
    case NID_X25519: return named_group::x25519;
    case NID_X448: return named_group::x448;
    case NID_X9_62_prime256v1: return named_group::secp256r1;
    case NID_secp384r1: return named_group::secp384r1;
    case NID_secp521r1: return named_group::secp521r1;
    case NID_ffdhe2048: return named_group::ffdhe2048;
    case NID_ffdhe3072: return named_group::ffdhe3072;
    case NID_ffdhe4096: return named_group::ffdhe4096;
    case NID_ffdhe6144: return named_group::ffdhe6144;
    case NID_ffdhe8192: return named_group::ffdhe8192;
    default: return named_group::none;
  }
}

session_info describe_session(const SSL* ssl, role side, bool verifying, const peer_options& peer) {
  session_info s;
  s.version = SSL_version(ssl) == TLS1_3_VERSION ? tls_version::tls1_3 : tls_version::tls1_2;
  s.resumed = SSL_session_reused(const_cast<SSL*>(ssl)) == 1;
  s.group = group_of_nid(group_nid(ssl, side));
  std::uint16_t suite_id = 0;
  std::string_view suite_name;
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) {
    suite_id = SSL_CIPHER_get_protocol_id(c);
    const char* iana = SSL_CIPHER_standard_name(c);
    suite_name = iana ? iana : SSL_CIPHER_get_name(c);
  }
  detail::settle_facts(s, suite_id, suite_name);

  // SSL_get_peer_certificate is a macro for SSL_get1_peer_certificate on 3.0:
  // a new reference either way.
  x509_ptr cert(SSL_get_peer_certificate(ssl));
  if (cert) detail::session_access::set_peer_certificate(s, std::make_shared<openssl_certificate>(der_of(cert.get())));
  s.verified = verifying && cert && SSL_get_verify_result(ssl) == X509_V_OK;

  if (side == role::client) {
    if (!detail::is_ip_literal(peer.server_name)) s.sni = peer.server_name;
  } else if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
    s.sni = name;
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn != nullptr && alpn_len > 0) s.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  return s;
}

}  // namespace uptls::ossl
