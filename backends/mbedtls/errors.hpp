// mbedTLS's error codes: the "mbedtls" error category that keeps them as
// detail, and their mapping to the portable uptls::errc.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace uptls::mbed {

// The category of mbedTLS's own (negative) return codes; its name() is "mbedtls".
const std::error_category& library_category() noexcept;

// A raw mbedTLS return code in library_category().
std::error_code library_error(int ret) noexcept;

// What the engine knows about a failed call, beyond mbedTLS's return code.
struct failure_facts {
  int ret = 0;                     // what mbedTLS returned
  int alert_received = -1;         // fatal alert the peer sent
  int alert_sent = -1;             // fatal alert we sent in the clear
  std::uint32_t verify_flags = 0;  // MBEDTLS_X509_BADCERT_* of the peer's chain
  bool self_signed_leaf = false;   // the peer's certificate was alone and self-issued
};

// The errc for a rejected certificate chain.
std::error_code from_verify_flags(std::uint32_t flags, bool self_signed_leaf) noexcept;

// The errc for a failed mbedTLS call.
std::error_code classify(const failure_facts& f) noexcept;

// The alert that tells a peer why its certificate was refused (the same choice
// mbedTLS makes when it refuses one itself).
int alert_for_flags(std::uint32_t flags) noexcept;

// mbedTLS's words for a verification result ("The certificate validity has expired", ...).
std::string verify_text(std::uint32_t flags);

}  // namespace uptls::mbed
