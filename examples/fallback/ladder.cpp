// uptls-example-fallback: the fallback ladder against a server that only speaks
// TLS 1.2 with plain RSA key exchange.
//
//   uptls-example-fallback HOST PORT CA_FILE [SERVER_NAME]
//
// Implicit TLS (as on port 465). The ladder tries the strict profile first and
// climbs to legacy only when the server refused strict as a policy mismatch
// (alert 40 or 71 before its first handshake message); never for certificate
// errors, resets or timeouts, and never into plaintext. Each rung is a fresh
// connection. Prints every attempt as it ends and the whole report, then sends
// one line over the session that won. Exits 0 when a rung won.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "uptls/uptls.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s HOST PORT CA_FILE [SERVER_NAME]\n", argv[0]);
    return 2;
  }

  // The rungs: strict on the build's default backend, then legacy on the first
  // backend that can do RSA key exchange (a ladder may change library too).
  const uptls::backend* strict_lib = uptls::backends().front();
  const uptls::backend* legacy_lib = nullptr;
  for (const uptls::backend* b : uptls::backends()) {
    if (b->caps().rsa_key_exchange) {
      legacy_lib = b;
      break;
    }
  }

  uptls::fallback_request req;
  req.host = argv[1];
  req.port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  req.base.ca_file = argv[3];  // trust, versions and timeouts shared by every rung
  req.peer.server_name = argc > 4 ? argv[4] : argv[1];
  req.before_tls = uptls::implicit_tls();  // for STARTTLS: uptls::smtp::starttls_prelude(...)
  req.ladder = {{strict_lib, uptls::profile::strict}, {legacy_lib, uptls::profile::legacy}};
  // Called as each attempt ends, before the next one starts.
  req.observer = [](const uptls::attempt_report& a) { std::printf("observer: %s\n", a.to_string().c_str()); };
  // A pin_store (req.pins) would also keep hosts that once did strict from ever falling back.

  // The blocking loop over a fallback_connector (an event loop would resume() that itself).
  uptls::fallback_result res = uptls::connect_with_fallback(req);
  std::printf("report:\n%s\n", res.report.to_string().c_str());
  if (!res.ok()) {
    std::printf("no session: %s\n", res.report.error.message().c_str());
    return 1;
  }
  std::printf("fell back: %s\n", res.report.fell_back() ? "yes" : "no");

  // The stream handed back is already TLS.
  uptls::stream& s = *res.connection;
  if (const uptls::result<> w = s.write("hello from the ladder\n"); !w) {
    std::printf("write failed: %s\n", w.error().message().c_str());
    return 1;
  }
  (void)s.close();
  return 0;
}
