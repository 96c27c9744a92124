// The SMTP STARTTLS part of the fallback demo: a local legacy mail server
// (aiosmtpd, TLS 1.2 with RSA key exchange only, STARTTLS required) that hangs up
// on a strict ClientHello without an alert.
#pragma once

#include <string>

#include "uptls/backend.hpp"

namespace demo {

enum class outcome { passed, failed, skipped };

// Runs the strict client alone, the ladder without and with eof_is_trigger, and a
// mail sent over the winning session; prints the story and says whether every
// step behaved as expected. skipped when /usr/bin/python3, aiosmtpd or the server
// script is missing. certs holds ca.pem and server-rsa.pem/.key.
outcome run_smtp_part(const uptls::backend& strict_lib, const uptls::backend& legacy_lib, const std::string& certs);

}  // namespace demo
