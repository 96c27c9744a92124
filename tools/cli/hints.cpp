#include "hints.hpp"

#include "schemes.hpp"
#include "uptls/errc.hpp"
#include "uptls/fallback.hpp"

namespace uptls::cli {
namespace {

std::string where(const probe_plan& p, const scheme& s) {
  const bool v6 = p.host.find(':') != std::string::npos;
  return std::string(s.name) + "://" + (v6 ? "[" + p.host + "]" : p.host) + ":" + std::to_string(p.port);
}

// The rungs to suggest: the plan's backend strict, then legacy on it or, when it
// has no RSA key exchange, on the first backend that has.
std::string suggested_ladder(const probe_plan& p) {
  const backend* first = p.laddered() ? p.ladder.front().library : p.library;
  const backend* second = first->caps().rsa_key_exchange ? first : nullptr;
  for (const backend* b : backends()) {
    if (second == nullptr && b->caps().rsa_key_exchange) second = b;
  }
  if (second == nullptr) return {};
  return std::string(first->name()) + ":strict," + std::string(second->name()) + ":legacy";
}

// The protocol's name for the upgrade: POP3 calls it STLS (RFC 2595 4).
std::string upgrade_verb(const scheme& s) { return s.protocol == "POP3" ? "STLS" : "STARTTLS"; }

std::string port_mixup_timeout(const probe_plan& p) {
  const scheme* other = partner_of(*p.proto);
  std::string out = "no " + std::string(p.proto->protocol) + " greeting came: ";
  if (other == nullptr) return out + "the server said nothing within --timeout";
  return out + "a server on an implicit-TLS port waits for the TLS handshake first; try " + where(p, *other);
}

}  // namespace

std::string hint_for(const probe_plan& p, const hint_facts& f) {
  const std::error_code ec = f.error;
  const scheme& s = *p.proto;
  if (ec == errc::timeout && f.server_lines == 0 && !p.implicit() && f.where != stage::connect) {
    return port_mixup_timeout(p);
  }
  if (ec == errc::not_tls && p.implicit()) {
    const scheme* other = partner_of(s);
    return "the server spoke plaintext first: this port uses " + upgrade_verb(s) +
           (other != nullptr ? "; try " + where(p, *other) : std::string());
  }
  if (ec == errc::starttls_not_offered) {
    // A ManageSieve client says nothing before STARTTLS: the server greets with its capabilities.
    return "the server did not offer " + upgrade_verb(s) + " (or something on the path removed it); " +
           (s.first_command.empty() ? std::string("nothing was sent.") : "only " + std::string(s.first_command) + " was sent.") +
           (p.laddered() ? " The ladder never goes on without TLS"
                         : " --opportunistic would go on WITHOUT TLS");
  }
  if (ec == errc::preauthenticated) {
    // STARTTLS is allowed only before authentication (RFC 9051 6.2.1), so this
    // connection can never be upgraded: the server, or something on the path, skipped it.
    const scheme* other = partner_of(s);
    return "the server greeted PREAUTH (logged in already, in plaintext), so STARTTLS cannot follow; nothing was "
           "sent" +
           (other != nullptr ? "; try " + where(p, *other) : std::string()) +
           (p.laddered() ? "" : "; --opportunistic would go on WITHOUT TLS");
  }
  if (ec == errc::starttls_refused) {
    return "the server refused " + upgrade_verb(s) + "; nothing else was sent." +
           std::string(p.laddered() ? "" : " --opportunistic would go on WITHOUT TLS");
  }
  // The ladder would climb only where the library's one classification lets it,
  // so a hint asks that classification instead of guessing from the error.
  const failure_info none;
  const failure_info& wire = f.detail != nullptr ? *f.detail : none;
  const bool strict_handshake = f.where == stage::handshake && f.failed_profile == profile::strict;
  const bool climbs = classify_failure(attempt_stage::handshake, ec, wire, false).allows_next;
  const bool climbs_on_eof = classify_failure(attempt_stage::handshake, ec, wire, true).allows_next;
  if (strict_handshake && climbs && !p.laddered()) {
    const std::string ladder = suggested_ladder(p);
    if (ladder.empty()) return "the server refused the strict profile, and no compiled-in backend has RSA key exchange";
    return "the server refused the strict profile; --ladder " + ladder +
           " retries on a fresh connection with RSA key exchange allowed (and reports it)";
  }
  if (strict_handshake && !climbs && climbs_on_eof && !p.eof_is_trigger) {
    const std::string ladder = suggested_ladder(p);
    if (ladder.empty()) return "the server closed the connection during the handshake without an alert";
    // Some servers (Python's asyncio, for one) hang up on a ClientHello they
    // cannot serve instead of sending an alert. The ladder never climbs down on
    // that by itself, because an attacker on the path can cut a connection too.
    return std::string("the server closed the connection during the handshake without an alert; ") +
           (p.laddered() ? "add --eof-is-trigger: it" : "--ladder " + ladder + " --eof-is-trigger") +
           " retries once on a fresh connection with RSA key exchange allowed (and reports it)."
           " An attacker can cut connections too: use it only for a server you know does this";
  }
  const bool wants_certificate = ec == errc::cert_required || wire.alert_received == alert_certificate_required;
  if (wants_certificate && p.tls.cert_file.empty()) {
    return "the server wants a client certificate: give --cert FILE --key FILE";
  }
  if (ec == errc::handshake_failure && wire.server_handshake_seen && p.tls.cert_file.empty()) {
    // TLS 1.2 servers answer a missing client certificate with alert 40 after their hello.
    return "the server ended the handshake after its hello; if it wants a client certificate, give --cert FILE --key FILE";
  }
  if (ec == errc::cert_untrusted || ec == errc::cert_self_signed) {
    return "the certificate does not lead to a CA you trust (trusted: " + p.trust + "): give the CA with --cafile FILE";
  }
  if (ec == errc::cert_name_mismatch) {
    return "the certificate is not for '" + p.server_name +
           "': check --servername (it defaults to the host in the URL)";
  }
  if (ec == errc::cert_expired) return "the certificate has expired (or this machine's clock is wrong)";
  if (ec == errc::cert_not_yet_valid) return "the certificate is not valid yet (or this machine's clock is wrong)";
  if (ec == errc::connection_refused) {
    return "nothing listens on " + p.host + " port " + std::to_string(p.port) + "; " + std::string(s.protocol) +
           " is " + protocol_ports(s);
  }
  if (ec == errc::invalid_config) {
    return "the backend could not use a file given (--cafile, --cert, --key): they must be PEM, and the key must "
           "match its certificate";
  }
  if (ec == errc::timeout && f.where == stage::connect) {
    return "no answer from " + p.host + " port " + std::to_string(p.port) +
           " within --timeout: a firewall may drop the packets, or the host is down";
  }
  if (ec == errc::network && f.where == stage::connect) {
    return "could not reach " + p.host + ": check the host name and the network";
  }
  return {};
}

}  // namespace uptls::cli
