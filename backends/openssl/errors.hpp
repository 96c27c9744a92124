// OpenSSL's errors: its own std::error_category for the raw ERR codes, and the
// mapping of what OpenSSL reports onto the portable uptls::errc.
#pragma once

#include <string>
#include <system_error>

#include "uptls/errc.hpp"

namespace uptls::ossl {

// The category of raw OpenSSL ERR codes; its name() is "openssl".
const std::error_category& openssl_category() noexcept;

// A raw ERR code (ERR_get_error) as a std::error_code in openssl_category().
std::error_code library_error(unsigned long err) noexcept;

// Everything known about one failed SSL_* call, gathered by the engine.
struct failure_facts {
  int ssl_error = 0;            // SSL_get_error
  unsigned long err = 0;        // the first code in OpenSSL's error queue, 0 if none
  long verify_result = 0;       // SSL_get_verify_result
  std::error_code transport;    // the transport's own failure
  bool eof = false;             // the transport ended
  bool handshaking = false;     // the failure came before the handshake finished
  int alert_received = -1;      // fatal alert from the peer
  int alert_sent = -1;          // fatal alert we sent
};

// The portable code for one failure (never empty).
std::error_code classify(const failure_facts& f) noexcept;

// A certificate verification result (X509_V_ERR_*) as a cert_* code.
errc from_verify_result(long v) noexcept;

// The reason code of an SSL_R_* error that carries an alert the peer sent, or -1.
int alert_in_reason(unsigned long err) noexcept;

}  // namespace uptls::ossl
