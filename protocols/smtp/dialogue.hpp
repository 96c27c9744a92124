// Pieces both SMTP sides use: reading a (multi-line) reply across calls, sending
// a command and awaiting its reply, keyword matching, dot-stuffing.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uptls/smtp.hpp"
#include "uptls/stream.hpp"

namespace uptls::smtp::detail {

// Replies longer than this many lines are a protocol error (bounded memory).
inline constexpr std::size_t max_reply_lines = 512;

// Reads one reply ("250-..." lines then "250 ...") across calls: the lines
// accumulate in r (cleared at the reply's first line) until its last one.
class reply_reader {
 public:
  // ok once the whole reply is in r; would-block; errc::protocol_error for a
  // malformed or over-long line, a code that changes between lines, or too many
  // lines; the stream's errors (timeout, eof, ...) as they come.
  result<> read(stream& s, reply& r, const trace_fn& trace);

 private:
  bool started_ = false;
};

// Sends one command line and reads its reply, across calls: the line goes out
// once (the stream holds what would block), then the reply is read.
class exchange {
 public:
  // ok once r holds the reply to line. A later call after ok starts anew.
  result<> run(stream& s, std::string_view line, reply& r, const trace_fn& trace);

 private:
  bool sent_ = false;
  reply_reader reader_;
};

// Writes text + CRLF in one write and traces it under direction dir.
result<> write_line(stream& s, std::string_view text, const trace_fn& trace, std::string_view dir);

// The keyword lines of an EHLO reply: every line after the first (which names the server).
std::vector<std::string> keywords(const reply& r);
// Whether caps holds the keyword (case-insensitive, first word of a line).
bool offers(const std::vector<std::string>& caps, std::string_view keyword);

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

// Whether a name can follow EHLO/HELO/LHLO: 1 to 255 printable ASCII octets, no
// space (nothing that could end the command line and start another).
bool valid_ehlo_name(std::string_view name) noexcept;

// Whether an address can go between <> unchanged: no control octets (CR, LF, NUL,
// ...), no '<' or '>', at most 256 octets (RFC 5321 4.5.3.1.3).
bool valid_path(std::string_view address) noexcept;

}  // namespace uptls::smtp::detail
