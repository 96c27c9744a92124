// Pieces both IMAP sides use: reading a response (or a command) with its
// literals across calls, unpredictable tags, quoting, capability lists.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "uptls/imap.hpp"
#include "uptls/stream.hpp"

namespace uptls::imap::detail {

// Literals in one response or command beyond this many are a protocol error.
inline constexpr std::size_t max_literals = 64;

// Reads one line with its literals ("... {5}" CRLF, 5 octets, the rest of the
// line) across calls. Literal octets are read with read_some for exactly what
// is announced, so nothing past the response's last line is ever consumed.
class line_reader {
 public:
  // The client side: a continuation of the line after each literal.
  // max_literal bounds each literal and their sum. An over-long line, a literal
  // over the bound, a malformed length: errc::protocol_error. The peer closing
  // inside a literal: errc::incomplete_line. The stream's errors as they come.
  // ok once text (the line, literal contents left out) and literals are complete.
  result<> read(stream& s, std::size_t max_literal, std::string& text, std::vector<std::string>& literals,
                const trace_fn& trace, std::string_view dir);
  // A synchronising literal was announced and must be acknowledged ("+ ...")
  // before its octets come (servers only: set by read when ack_literals).
  bool wants_ack() const noexcept { return ack_pending_; }
  // The server has sent its "+": the octets may come now.
  void acked() noexcept { ack_pending_ = false; }
  // Whether read() stops after announcing a synchronising literal (server side).
  void ack_literals(bool on) noexcept { ack_literals_ = on; }
  // Forgets a half-read line (after an error).
  void reset() noexcept;

 private:
  bool started_ = false;
  bool in_literal_ = false;
  bool ack_literals_ = false;
  bool ack_pending_ = false;
  std::size_t want_ = 0;   // octets of the current literal still to read
  std::size_t total_ = 0;  // literal octets in this line so far
};

// Reads one server response into r, across calls.
class response_reader {
 public:
  result<> read(stream& s, std::size_t max_literal, response& r, const trace_fn& trace);

 private:
  bool started_ = false;
  line_reader lines_;
};

// A fresh unpredictable tag: "U" and 10 characters from std::random_device.
std::string new_tag();

// Called with each untagged response while a command waits for its tagged
// one; a non-empty error fails the command.
using untagged_fn = std::function<std::error_code(const response&)>;

// Sends one tagged command and reads responses until its tagged one, across
// calls. parts is the command split at its synchronising literals: every part
// but the last ends with a "{n}" marker, the next part starts with the n
// octets; after each such part the server's "+" is awaited (a tagged response
// instead ends the command: a refusal). traced is what the trace shows of each
// part (passwords blanked). Each untagged response goes to on_untagged; more
// than max_untagged, an unexpected continuation request, or a tagged response
// with another tag is errc::protocol_error. ok once `r` holds the command's own
// tagged response; the stream stays on the line after it.
class command_run {
 public:
  result<> run(stream& s, const std::vector<std::string>& parts, const std::vector<std::string>& traced,
               const client_options& opts, std::size_t max_literal, response& r, const untagged_fn& on_untagged);
  // The same for a command without literals, traced as sent.
  result<> run(stream& s, const std::string& command, const client_options& opts, std::size_t max_literal,
               response& r, const untagged_fn& on_untagged);
  const std::string& tag() const noexcept { return tag_; }

 private:
  result<> done(std::error_code ec);
  bool started_ = false;
  std::size_t part_ = 0;     // the part to send next
  bool awaiting_plus_ = false;
  std::string tag_;
  std::size_t untagged_ = 0;
  response_reader reader_;
};

// Queues text + CRLF in one write and traces it as "S".
result<> write_line(stream& s, std::string_view text, const trace_fn& trace);

// "OK [CODE ...] text" -> "OK"; the first word of a response text.
std::string_view first_word(std::string_view text) noexcept;
// The rest after the first word and its space.
std::string_view after_first_word(std::string_view text) noexcept;
// The response code of a status response text ("OK [CAPABILITY a b] hi" ->
// "CAPABILITY a b"), or empty.
std::string_view response_code(std::string_view text) noexcept;
// Splits "A B C" into its space-separated words.
std::vector<std::string> words(std::string_view text);
// The capability list of an untagged "CAPABILITY ..." text, or of a
// "[CAPABILITY ...]" code; empty when text is neither.
bool parse_capabilities(std::string_view text, std::vector<std::string>& caps);
bool has_capability(const std::vector<std::string>& caps, std::string_view name);

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b) noexcept;

// Whether text can go as a quoted string: no CR, LF, NUL or 8-bit octets
// (those need a literal).
bool quotable(std::string_view text) noexcept;
// text as a quoted string, '"' and '\\' escaped (quotable(text) must hold).
std::string quoted(std::string_view text);

}  // namespace uptls::imap::detail
