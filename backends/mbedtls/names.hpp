// Text the session facts need and mbedTLS words its own way: IANA suite names,
// and what a certificate says about its owner.
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

// A distinguished name in RFC 2253 form (last RDN first, "," between RDNs),
// e.g. "O=uptls tests,CN=localhost"; first is crt.subject or crt.issuer.
std::string name_text(const mbedtls_x509_name& first);

// The subject in RFC 2253 form (last RDN first, "," between RDNs), e.g. "O=uptls tests,CN=localhost".
std::string subject_text(const mbedtls_x509_crt& crt);

// The subjectAltName dNSName entries and the iPAddress entries as text, in certificate order.
void alt_names(const mbedtls_x509_crt& crt, std::vector<std::string>& dns, std::vector<std::string>& ips);

// An IP literal as its 4 or 16 network-order bytes; nullopt if s is not one.
std::optional<std::vector<std::uint8_t>> ip_bytes(std::string_view s);

// True when one of the certificate's iPAddress entries equals ip (4 or 16 bytes).
// mbedTLS 2.28 matches DNS names only, so IP literals are checked here.
bool has_ip_address(const mbedtls_x509_crt& crt, const std::vector<std::uint8_t>& ip);

// True when the certificate names itself as issuer (a self-signed leaf when alone).
bool self_issued(const mbedtls_x509_crt& crt);

}  // namespace uptls::mbed
