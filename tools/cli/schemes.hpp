// The URL schemes `uptls probe` knows, as one small table: each scheme's
// protocol, default port, how TLS starts, and the function that runs its
// dialogue. A new protocol (imap://, pop3://, sieve://) is one file with its
// dialogue function and its lines in schemes.cpp; nothing else changes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace uptls::cli {

class probe_env;

// How a scheme's connection reaches TLS.
enum class tls_start {
  starttls,  // plaintext dialogue first, then the upgrade (smtp://, submission://, lmtp://)
  implicit,  // TLS from the first byte (smtps://, port 465)
};

// Runs a scheme's whole session on env and returns the exit status.
using dialogue_fn = int (*)(probe_env& env);

struct scheme {
  std::string_view name;           // "smtp"
  std::uint16_t default_port;      // 25
  tls_start start;
  std::string_view protocol;       // "SMTP": the schemes of one protocol name each other in hints
  std::string_view first_command;  // what the client says before STARTTLS ("EHLO"; empty: nothing), for hints
  dialogue_fn run;                 // nullptr: not supported yet (exit_not_supported)
  bool sends_mail;                 // --send makes sense
};

// Every scheme, supported ones first.
std::span<const scheme> schemes() noexcept;
// A scheme by (lower-case) name, or nullptr.
const scheme* find_scheme(std::string_view name) noexcept;
// "smtp, submission, smtps, lmtp": the schemes that run (or, with false, those that do not yet).
std::string scheme_names(bool supported);
// The ports of a protocol's schemes for hints, e.g. "25 or 587 with STARTTLS (smtp://, submission://),
// 465 with implicit TLS (smtps://)".
std::string protocol_ports(const scheme& s);
// The scheme of the same protocol that starts TLS the other way (smtps for smtp), or nullptr.
const scheme* partner_of(const scheme& s) noexcept;

// The dialogues (one file each).
int run_smtp(probe_env& env);  // smtp_probe.cpp
int run_lmtp(probe_env& env);  // smtp_probe.cpp
int run_pop3(probe_env& env);  // pop3_probe.cpp
int run_sieve(probe_env& env);  // sieve_probe.cpp
int run_imap(probe_env& env);  // imap_probe.cpp

}  // namespace uptls::cli
