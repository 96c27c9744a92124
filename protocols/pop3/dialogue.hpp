// Pieces both POP3 sides use: reading a status line or a dot-terminated list
// across calls, sending a command and awaiting its status line, capability
// matching, dot-stuffing.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uptls/pop3.hpp"
#include "uptls/stream.hpp"

namespace uptls::pop3::detail {

// Parses "+OK text" / "-ERR text" (also the bare "+OK" and "-ERR"). False when
// the line is neither.
bool parse_status(std::string_view line, response& r);

// Reads one status line: ok once r holds it; would-block; errc::protocol_error
// for a malformed line or one over max_response_line; the stream's errors.
result<> read_status(stream& s, response& r, const trace_fn& trace);

// Reads the lines of a dot-terminated list (CAPA's) across calls into lines,
// dot-unstuffed, until the "." line: at most max_lines lines, each at most
// max_response_line; more of either is errc::protocol_error.
class list_reader {
 public:
  result<> read(stream& s, std::vector<std::string>& lines, std::size_t max_lines, const trace_fn& trace);

 private:
  bool started_ = false;
};

// Sends one command line and reads its status line, across calls.
class exchange {
 public:
  // shown is what the trace says was sent (a password is masked); empty: line.
  result<> run(stream& s, std::string_view line, response& r, const trace_fn& trace, std::string_view shown = {});

 private:
  bool sent_ = false;
};

// Writes text + CRLF in one write and traces it (shown, or text) under dir.
result<> write_line(stream& s, std::string_view text, const trace_fn& trace, std::string_view dir,
                    std::string_view shown = {});

// Whether caps holds the capability (case-insensitive first word of a line).
bool offers(const std::vector<std::string>& caps, std::string_view keyword);
// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b) noexcept;
// The first word of a line ("SASL PLAIN" -> "SASL").
std::string_view first_word(std::string_view line) noexcept;

// Message text as RETR sends it: every line end becomes CRLF, a line starting
// with '.' gets another '.', and ".\r\n" ends it.
void dot_stuff(std::string_view text, std::string& wire);

// Whether a USER name or PASS password can go on a command line: 1 to 200
// octets, none of them a control octet (nothing that could end the line).
bool valid_argument(std::string_view arg) noexcept;

}  // namespace uptls::pop3::detail
