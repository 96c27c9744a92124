#include "names.hpp"

#include <arpa/inet.h>
#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>

#include <algorithm>
#include <cstring>

#include "compat.hpp"

namespace uptls::mbed {
namespace {

// Context-specific tags of GeneralName (RFC 5280 4.2.1.6) as mbedTLS keeps them.
constexpr int san_dns = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2;
constexpr int san_ip = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7;

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// One attribute value with the RFC 2253 section 2.4 escapes.
void append_escaped(std::string& out, const mbedtls_x509_buf& val) {
  const auto* p = val.p;
  for (std::size_t i = 0; i < val.len; ++i) {
    const char c = static_cast<char>(p[i]);
    const bool edge_space = c == ' ' && (i == 0 || i + 1 == val.len);
    if (std::strchr(",+\"\\<>;", c) != nullptr || edge_space || (c == '#' && i == 0)) out += '\\';
    out += c;
  }
}

// "CN=localhost" or "1.2.3.4=..." when mbedTLS has no short name for the type.
std::string attribute_text(const mbedtls_x509_name& n) {
  std::string out;
  const char* short_name = nullptr;
  if (mbedtls_oid_get_attr_short_name(&n.oid, &short_name) == 0 && short_name != nullptr) {
    out = short_name;
  } else {
    char dotted[64];
    const int len = mbedtls_oid_get_numeric_string(dotted, sizeof dotted, &n.oid);
    out = len > 0 ? std::string(dotted, static_cast<std::size_t>(len)) : "?";
  }
  out += '=';
  append_escaped(out, n.val);
  return out;
}

template <class Fn>
void for_each_san(const mbedtls_x509_crt& crt, Fn fn) {
  for (const mbedtls_x509_sequence* s = &crt.subject_alt_names; s != nullptr; s = s->next) {
    if (s->buf.p != nullptr) fn(s->buf);
  }
}

}  // namespace

std::string iana_suite_name(std::string_view mbedtls_name) {
  std::string out;
  if (starts_with(mbedtls_name, "TLS1-3-")) {
    out = "TLS_";
    out += mbedtls_name.substr(7);
  } else {
    out = mbedtls_name;
  }
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

std::string name_text(const mbedtls_x509_name& first) {
  // mbedTLS keeps the RDNs in certificate order, the attributes of a
  // multi-valued RDN chained by next_merged; RFC 2253 prints the last RDN first.
  std::vector<std::string> rdns;
  bool merge = false;
  for (const mbedtls_x509_name* n = &first; n != nullptr; n = n->next) {
    if (n->oid.p == nullptr) continue;
    std::string attr = attribute_text(*n);
    if (merge && !rdns.empty()) {
      rdns.back() += '+';
      rdns.back() += attr;
    } else {
      rdns.push_back(std::move(attr));
    }
    merge = n->UPTLS_MBEDTLS_FIELD(next_merged) != 0;
  }
  std::string out;
  for (auto it = rdns.rbegin(); it != rdns.rend(); ++it) {
    if (!out.empty()) out += ',';
    out += *it;
  }
  return out;
}

std::string subject_text(const mbedtls_x509_crt& crt) { return name_text(crt.subject); }

void alt_names(const mbedtls_x509_crt& crt, std::vector<std::string>& dns, std::vector<std::string>& ips) {
  for_each_san(crt, [&](const mbedtls_x509_buf& b) {
    if (b.tag == san_dns) {
      dns.emplace_back(reinterpret_cast<const char*>(b.p), b.len);
    } else if (b.tag == san_ip && (b.len == 4 || b.len == 16)) {
      char text[INET6_ADDRSTRLEN] = {};
      if (inet_ntop(b.len == 4 ? AF_INET : AF_INET6, b.p, text, sizeof text) != nullptr) ips.emplace_back(text);
    }
  });
}

std::optional<std::vector<std::uint8_t>> ip_bytes(std::string_view s) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  const std::string z(s);
  std::uint8_t buf[16];
  if (inet_pton(AF_INET, z.c_str(), buf) == 1) return std::vector<std::uint8_t>(buf, buf + 4);
  if (inet_pton(AF_INET6, z.c_str(), buf) == 1) return std::vector<std::uint8_t>(buf, buf + 16);
  return std::nullopt;
}

bool has_ip_address(const mbedtls_x509_crt& crt, const std::vector<std::uint8_t>& ip) {
  bool found = false;
  for_each_san(crt, [&](const mbedtls_x509_buf& b) {
    if (b.tag == san_ip && b.len == ip.size() && std::memcmp(b.p, ip.data(), ip.size()) == 0) found = true;
  });
  return found;
}

bool self_issued(const mbedtls_x509_crt& crt) {
  return crt.issuer_raw.len == crt.subject_raw.len && crt.issuer_raw.p != nullptr && crt.subject_raw.p != nullptr &&
         std::memcmp(crt.issuer_raw.p, crt.subject_raw.p, crt.subject_raw.len) == 0;
}

}  // namespace uptls::mbed
