// Pieces both SMTP sides use: reading a (multi-line) reply, writing one line,
// keyword matching, and the dot-stuffing of message data.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "uptls/smtp.hpp"
#include "uptls/stream.hpp"

namespace uptls::smtp::detail {

// Replies longer than this many lines are a protocol error (bounded memory).
inline constexpr std::size_t max_reply_lines = 512;

// Reads one reply ("250-..." lines then "250 ..."). errc::protocol_error for a
// malformed line, a code that changes between lines, or too many lines; the
// stream's errors (timeout, eof, ...) as they come.
std::error_code read_reply(stream& s, reply& r, const trace_fn& trace);

// Writes text + CRLF and traces it under direction dir.
std::error_code write_line(stream& s, std::string_view text, const trace_fn& trace, std::string_view dir);

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b) noexcept;
// Whether text starts with prefix, ignoring ASCII case.
bool istarts_with(std::string_view text, std::string_view prefix) noexcept;
// The first word of an EHLO keyword line ("SIZE 1000" -> "SIZE").
std::string_view keyword_of(std::string_view line) noexcept;

// Message data as it goes on the wire: every line end (CRLF, LF or a lone CR)
// becomes CRLF, lines starting with '.' get another '.', and ".\r\n" ends it.
// False (wire unusable) when a line is longer than max_line - 2 octets.
bool dot_stuff(std::string_view data, std::string& wire);

// Whether an address can go between <> unchanged: no CR, LF, NUL, '<', '>', and
// at most 256 octets (RFC 5321 4.5.3.1.3).
bool valid_path(std::string_view address) noexcept;

}  // namespace uptls::smtp::detail
