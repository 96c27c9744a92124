#include "session_facts.hpp"

#include <arpa/inet.h>
#include <gnutls/x509.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <gsl/util>
#include <mutex>
#include <string_view>
#include <vector>

namespace uptls::detail::gtls {
namespace {

bool is_tls13(gnutls_session_t s) { return gnutls_protocol_get_version(s) == GNUTLS_TLS1_3; }

// "ECDHE", "DHE" or "RSA" for TLS 1.2; empty for anything else.
std::string kx_family(gnutls_kx_algorithm_t kx) {
  switch (kx) {
    case GNUTLS_KX_ECDHE_RSA:
    case GNUTLS_KX_ECDHE_ECDSA:
      return "ECDHE";
    case GNUTLS_KX_DHE_RSA:
    case GNUTLS_KX_DHE_DSS:
      return "DHE";
    case GNUTLS_KX_RSA:
      return "RSA";
    default:
      return {};
  }
}

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

std::string lowercase(const char* s) {
  std::string out = s != nullptr ? s : "";
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// What the facts need of a leaf certificate: its subject and names.
struct identity {
  std::string subject;
  std::vector<std::string> names;
};

// Parsing a certificate (gnutls_x509_crt_import and the name lookups) costs
// more than a whole resumed TLS 1.2 handshake, and a client resuming against
// one server sees the same leaf every time. So the last few parsed leaves are
// kept, keyed by their exact DER bytes: a hit compares bytes instead of parsing.
// Process-wide, small and bounded; the same bytes always parse to the same facts.
class identity_cache {
 public:
  bool find(std::string_view der, identity& out) {
    std::lock_guard lock(m_);
    for (const entry& e : entries_) {
      if (e.der == der) {
        out = e.id;
        return true;
      }
    }
    return false;
  }
  void add(std::string_view der, const identity& id) {
    if (der.size() > max_der) return;  // an odd, huge certificate is parsed every time
    std::lock_guard lock(m_);
    if (entries_.size() < capacity) {
      entries_.push_back({std::string(der), id});
    } else {
      entries_[next_] = {std::string(der), id};
      next_ = (next_ + 1) % capacity;
    }
  }

 private:
  static constexpr std::size_t capacity = 16;
  static constexpr std::size_t max_der = 16 * 1024;
  struct entry {
    std::string der;
    identity id;
  };
  std::mutex m_;
  std::vector<entry> entries_;
  std::size_t next_ = 0;
};

identity_cache& leaf_cache() {
  static identity_cache cache;
  return cache;
}

void parse_identity(const gnutls_datum_t& der, identity& id);

// The subject (RFC 4514 order, as OpenSSL prints RFC 2253) and the DNS and IP
// subjectAltNames of the peer's leaf certificate.
void peer_certificate(gnutls_session_t s, session_info& info) {
  unsigned count = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(s, &count);
  if (certs == nullptr || count == 0) return;
  const std::string_view der(reinterpret_cast<const char*>(certs[0].data), certs[0].size);
  identity id;
  if (!leaf_cache().find(der, id)) {
    parse_identity(certs[0], id);
    leaf_cache().add(der, id);
  }
  info.peer_subject = std::move(id.subject);
  info.peer_names = std::move(id.names);
}

void parse_identity(const gnutls_datum_t& der, identity& id) {
  gnutls_x509_crt_t crt = nullptr;
  if (gnutls_x509_crt_init(&crt) < 0) return;
  auto release = gsl::finally([&] { gnutls_x509_crt_deinit(crt); });
  if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) < 0) return;

  gnutls_datum_t dn{nullptr, 0};
  if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
    id.subject.assign(reinterpret_cast<const char*>(dn.data), dn.size);
    gnutls_free(dn.data);
  }

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
      id.names.emplace_back(buf.data(), size);
    } else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
      std::array<char, INET6_ADDRSTRLEN> text{};
      if (inet_ntop(size == 4 ? AF_INET : AF_INET6, buf.data(), text.data(), text.size()) != nullptr) {
        id.names.emplace_back(text.data());
      }
    }
  }
}

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
  const bool tls13 = is_tls13(s);
  info.version = tls13 ? tls_version::tls1_3 : tls_version::tls1_2;
  info.cipher = iana_suite_name(s);

  const gnutls_group_t group = gnutls_group_get(s);
  if (group != GNUTLS_GROUP_INVALID) info.group = lowercase(gnutls_group_get_name(group));
  if (tls13) {
    info.key_exchange = "(EC)DHE";
    // A TLS 1.3 resumption without a key share (psk_ke) has no group and no forward secrecy.
    info.forward_secret = group != GNUTLS_GROUP_INVALID;
  } else {
    info.key_exchange = kx_family(gnutls_kx_get(s));
    info.forward_secret = info.key_exchange == "ECDHE" || info.key_exchange == "DHE";
    if (!info.forward_secret) info.group.clear();
  }

  info.resumed = gnutls_session_is_resumed(s) != 0;
  info.verified = verified;
  peer_certificate(s, info);
  info.sni = side == role::client ? sni_sent : received_sni(s);

  gnutls_datum_t proto{nullptr, 0};
  if (gnutls_alpn_get_selected_protocol(s, &proto) == 0 && proto.data != nullptr) {
    info.alpn.assign(reinterpret_cast<const char*>(proto.data), proto.size);
  }
  info.backend = "gnutls";
  return info;
}

}  // namespace uptls::detail::gtls
