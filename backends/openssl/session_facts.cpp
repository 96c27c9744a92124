#include "session_facts.hpp"

#include <arpa/inet.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#ifndef UPTLS_OPENSSL_NEGOTIATED_GROUP
#include <openssl/ec.h>
#include <openssl/evp.h>
#endif

#include "engine/engine.hpp"
#include "handles.hpp"

namespace uptls::ossl {
namespace {

std::string key_exchange_of(const SSL_CIPHER* c) {
  switch (SSL_CIPHER_get_kx_nid(c)) {
    case NID_kx_ecdhe: return "ECDHE";
    case NID_kx_dhe: return "DHE";
    case NID_kx_rsa: return "RSA";
    case NID_kx_any: return "(EC)DHE";  // TLS 1.3: always an ephemeral share
    default: return OBJ_nid2sn(SSL_CIPHER_get_kx_nid(c));
  }
}

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

std::string subject_of(X509* cert) {
  bio_ptr mem(BIO_new(BIO_s_mem()));
  if (!mem) return {};
  if (X509_NAME_print_ex(mem.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string{};
}

std::vector<std::string> names_of(X509* cert) {
  std::vector<std::string> out;
  names_ptr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type == GEN_DNS) {
      const ASN1_STRING* s = n->d.dNSName;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      const ASN1_STRING* s = n->d.iPAddress;
      const int len = ASN1_STRING_length(s);
      const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      char text[INET6_ADDRSTRLEN] = {};
      if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof text) != nullptr) {
        out.emplace_back(text);
      }
    }
  }
  return out;
}

}  // namespace

std::string group_name(int nid) {
  switch (nid) {
    case NID_undef: return {};
    case NID_X25519: return "x25519";
    case NID_X448: return "x448";
    case NID_X9_62_prime256v1: return "secp256r1";
    case NID_secp384r1: return "secp384r1";
    case NID_secp521r1: return "secp521r1";
    default: {
      const char* sn = OBJ_nid2sn(nid);
      return sn ? sn : std::string{};
    }
  }
}

session_info describe_session(const SSL* ssl, role side, bool verifying, const peer_options& peer) {
  session_info s;
  s.version = SSL_version(ssl) == TLS1_3_VERSION ? tls_version::tls1_3 : tls_version::tls1_2;
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) {
    const char* iana = SSL_CIPHER_standard_name(c);
    s.cipher = iana ? iana : SSL_CIPHER_get_name(c);
    s.key_exchange = key_exchange_of(c);
  }
  s.forward_secret = s.key_exchange == "ECDHE" || s.key_exchange == "DHE" || s.key_exchange == "(EC)DHE";
  if (s.key_exchange != "RSA") s.group = group_name(group_nid(ssl, side));
  s.resumed = SSL_session_reused(const_cast<SSL*>(ssl)) == 1;

  // SSL_get_peer_certificate is a macro for SSL_get1_peer_certificate on 3.0:
  // a new reference either way.
  x509_ptr cert(SSL_get_peer_certificate(ssl));
  if (cert) {
    s.peer_subject = subject_of(cert.get());
    s.peer_names = names_of(cert.get());
  }
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
