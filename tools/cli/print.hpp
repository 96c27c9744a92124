// How the uptls tool shows sessions, failures and dialogue lines.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "uptls/session.hpp"
#include "uptls/smtp.hpp"

namespace uptls::cli {

// A trace callback that prints "C: ...", "S: ...", "*: ..." lines to stdout.
smtp::trace_fn print_trace(std::string prefix = "");
// The negotiated parameters, one per line.
void print_session(const session_info& s);
// The error, its uptls name, and what the TLS library and the wire said.
void print_failure(std::error_code ec, const failure_info* detail);
// A line starting with "hint: ".
void print_hint(std::string_view text);

}  // namespace uptls::cli
