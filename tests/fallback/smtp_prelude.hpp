// The SMTP prelude for a ladder: protocols/smtp's STARTTLS dialogue, a new one per
// attempt (core knows nothing of SMTP).
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
  return smtp::starttls_prelude(opts);
}

}  // namespace uptls::test
