// The hints `uptls probe` gives after a failure: what the error usually means
// and which switch or URL to try, for the mistakes people make most (STARTTLS
// and implicit-TLS ports mixed up, a stripped STARTTLS, a server that only does
// RSA key exchange, an unknown CA, a name that does not match).
#pragma once

#include <string>
#include <system_error>

#include "exit_code.hpp"
#include "plan.hpp"
#include "uptls/session.hpp"

namespace uptls::cli {

struct hint_facts {
  std::error_code error;
  stage where = stage::connect;
  int server_lines = 0;                // lines the server sent before the failure
  profile failed_profile = profile::strict;  // the profile of the handshake that failed
  const failure_info* detail = nullptr;      // what the wire and the library said (handshake failures)
};

// TLS alert 116 (certificate_required, RFC 8446): the server wanted a client
// certificate. uptls reports it as errc::peer_alert with the number in detail.
inline constexpr int alert_certificate_required = 116;

// The hint for a failure, or empty when there is nothing useful to add.
std::string hint_for(const probe_plan& plan, const hint_facts& f);

}  // namespace uptls::cli
