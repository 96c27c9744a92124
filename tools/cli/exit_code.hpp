// The exit statuses of the uptls tool, documented in --help and the README.
// Scripts branch on them, so each one means one kind of outcome and never changes.
#pragma once

#include <string_view>
#include <system_error>

namespace uptls::cli {

enum exit_code : int {
  exit_ok = 0,             // the session did what was asked
  exit_failed = 1,         // connect, the plaintext dialogue, or the server refused something
  exit_usage = 2,          // bad arguments, or files and settings that cannot work
  exit_tls = 3,            // the TLS handshake failed (no common parameters, not TLS, hang-up)
  exit_certificate = 4,    // the peer's certificate (or ours) was refused
  exit_not_supported = 5,  // a scheme or protocol this version of uptls does not speak yet
};

// Where a session was when it failed: the same error means different things
// in different places (an EOF during the handshake is a TLS failure, an EOF
// between two SMTP replies is not).
enum class stage { connect, dialogue, handshake, tls };

// "connect", "dialogue", "handshake", "tls".
std::string_view to_string(stage s) noexcept;

// The exit status for a failure: certificate errors wherever they happen, TLS
// policy and framing errors, anything during the handshake, or exit_failed.
// Settings a backend refused (invalid_config, unsupported) are exit_usage.
int exit_status_for(std::error_code ec, stage where) noexcept;

// The text of the exit statuses for --help.
extern const char* const exit_codes_help;

}  // namespace uptls::cli
