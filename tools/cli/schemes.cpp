#include "schemes.hpp"

#include <algorithm>
#include <array>

namespace uptls::cli {
namespace {

// Ports: IANA's assignments (RFC 8314 for 465 and 587, RFC 2033 leaves LMTP's
// to the site; 24 is the common choice, as in Dovecot and Postfix).
constexpr std::array<scheme, 9> table{{
    {"smtp", 25, tls_start::starttls, "SMTP", "EHLO", run_smtp, true},
    {"submission", 587, tls_start::starttls, "SMTP", "EHLO", run_smtp, true},
    {"smtps", 465, tls_start::implicit, "SMTP", "EHLO", run_smtp, true},
    {"lmtp", 24, tls_start::starttls, "LMTP", "LHLO", run_lmtp, true},
    {"imap", 143, tls_start::starttls, "IMAP", "CAPABILITY", run_imap, false},
    {"imaps", 993, tls_start::implicit, "IMAP", "CAPABILITY", run_imap, false},
    {"pop3", 110, tls_start::starttls, "POP3", "CAPA", run_pop3, false},
    {"pop3s", 995, tls_start::implicit, "POP3", "CAPA", run_pop3, false},
    {"sieve", 4190, tls_start::starttls, "ManageSieve", "", run_sieve, false},
}};

}  // namespace

std::span<const scheme> schemes() noexcept { return table; }

const scheme* find_scheme(std::string_view name) noexcept {
  const auto it = std::find_if(table.begin(), table.end(), [&](const scheme& s) { return s.name == name; });
  return it == table.end() ? nullptr : &*it;
}

std::string scheme_names(bool supported) {
  std::string out;
  for (const scheme& s : table) {
    if ((s.run != nullptr) != supported) continue;
    out += (out.empty() ? "" : ", ") + std::string(s.name);
  }
  return out;
}

std::string protocol_ports(const scheme& s) {
  const auto list = [&](tls_start how) {
    std::string ports;
    std::string names;
    for (const scheme& o : table) {
      if (o.protocol != s.protocol || o.start != how) continue;
      const std::string port = std::to_string(o.default_port);
      if (ports.find(port) == std::string::npos) ports += (ports.empty() ? "" : " or ") + port;
      names += (names.empty() ? "" : ", ") + std::string(o.name) + "://";
    }
    return ports.empty() ? std::string() : ports + (how == tls_start::starttls ? " with STARTTLS (" : " with implicit TLS (") + names + ")";
  };
  const std::string starttls = list(tls_start::starttls);
  const std::string implicit = list(tls_start::implicit);
  return starttls + (!starttls.empty() && !implicit.empty() ? ", " : "") + implicit;
}

const scheme* partner_of(const scheme& s) noexcept {
  for (const scheme& o : table) {
    if (o.protocol == s.protocol && o.start != s.start) return &o;
  }
  return nullptr;
}

}  // namespace uptls::cli
