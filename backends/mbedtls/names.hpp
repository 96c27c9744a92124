// Text the session facts need and mbedTLS words its own way: IANA suite names,
// key exchange and group names, and what a certificate says about its owner.
#pragma once

#include <mbedtls/x509_crt.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uptls::mbed {

// "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256" -> "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
// "TLS1-3-AES-128-GCM-SHA256" -> "TLS_AES_128_GCM_SHA256".
std::string iana_suite_name(std::string_view mbedtls_name);

// "ECDHE", "DHE" or "RSA" for a TLS 1.2 IANA suite name, "(EC)DHE" for TLS 1.3; empty if unknown.
std::string key_exchange_of(std::string_view iana_name);

// The name of a TLS NamedGroup (RFC 8446 4.2.7), e.g. 29 -> "x25519"; empty if unknown.
std::string group_name(int named_group);

// The subject in RFC 2253 form (last RDN first, "," between RDNs), e.g. "O=uptls tests,CN=localhost".
std::string subject_text(const mbedtls_x509_crt& crt);

// The subjectAltName dNSName entries, then the iPAddress entries as text.
std::vector<std::string> alt_names(const mbedtls_x509_crt& crt);

// An IP literal as its 4 or 16 network-order bytes; nullopt if s is not one.
std::optional<std::vector<std::uint8_t>> ip_bytes(std::string_view s);

// True when one of the certificate's iPAddress entries equals ip (4 or 16 bytes).
// mbedTLS 2.28 matches DNS names only, so IP literals are checked here.
bool has_ip_address(const mbedtls_x509_crt& crt, const std::vector<std::uint8_t>& ip);

// True when the certificate names itself as issuer (a self-signed leaf when alone).
bool self_issued(const mbedtls_x509_crt& crt);

}  // namespace uptls::mbed
