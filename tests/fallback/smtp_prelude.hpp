// The SMTP prelude for a ladder: protocols/smtp's STARTTLS dialogue adapted to the
// prelude signature (core knows nothing of SMTP).
#pragma once

#include <string>

#include "uptls/fallback.hpp"
#include "uptls/smtp.hpp"

namespace uptls::test {

// Greeting, EHLO, STARTTLS, 220, with TLS required: nothing else is ever sent.
inline prelude smtp_starttls(std::string ehlo_name = "localhost") {
  smtp::client_options opts;
  opts.ehlo_name = std::move(ehlo_name);
  opts.mode = smtp::tls_mode::required;
  return [opts](stream& s) { return smtp::starttls_prelude(s, opts); };
}

}  // namespace uptls::test
