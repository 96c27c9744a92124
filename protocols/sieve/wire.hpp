// What both ManageSieve sides share: the tokens of a line (atoms, quoted
// strings, literals, parentheses), one logical line read across calls with its
// literals, a whole response, a command and its response, and base64 for SASL.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uptls/sieve.hpp"
#include "uptls/stream.hpp"

namespace uptls::sieve::detail {

struct token {
  enum class kind { atom, string, open, close };
  kind k = kind::atom;
  std::string text;
};

// Bounds of one logical line (a physical line and the literals it carries).
struct line_limits_t {
  std::size_t max_literal = 1024 * 1024;
  std::size_t max_tokens = 256;  // words of one logical line
  std::size_t max_parts = 16;    // literals in one logical line
};

// Tokenizes one physical line and appends to out. When the line ends with a
// literal announcement ({n} or {n+}), *literal gets n. errc::protocol_error for
// an unterminated or over-long quoted string, a bad escape, a literal anywhere
// but at the end, one over the limit, a stray octet, or too many tokens.
std::error_code tokenize(std::string_view line, std::vector<token>& out, std::optional<std::size_t>& literal,
                         const line_limits_t& lim);

// Reads one logical line across calls: physical lines and the literals between them.
class line_reader {
 public:
  // ok once tokens holds the whole line; would-block; errc::line_too_long for a
  // physical line over the stream's limit (discarded: the stream stays usable);
  // errc::protocol_error for a malformed line or literal (literal_too_long() says
  // whether a literal over the limit was announced); the stream's errors as they
  // come. dir names the sender in the trace.
  result<> read(stream& s, std::vector<token>& tokens, const line_limits_t& lim, const trace_fn& trace,
                std::string_view dir);
  bool literal_too_long() const noexcept { return literal_too_long_; }

 private:
  result<> fail(std::error_code ec) {
    started_ = false;
    return ec;
  }
  bool started_ = false;
  std::size_t remaining_ = 0;  // octets of the literal still to come
  bool in_literal_ = false;
  bool literal_too_long_ = false;
  std::size_t parts_ = 0;
  std::string literal_;
};

// Whether tokens form a status line (OK / NO / BYE first, case-insensitive).
bool is_status_line(const std::vector<token>& tokens) noexcept;

// Reads one response: data lines, then the status line.
class response_reader {
 public:
  // ok once r holds the response; errc::protocol_error for a malformed line, a
  // bad status line or too many data lines; the stream's errors.
  result<> read(stream& s, response& r, std::size_t max_literal, const trace_fn& trace);

 private:
  bool started_ = false;
  line_reader lines_;
  std::vector<token> tokens_;
};

// Sends one command line and reads its response, across calls.
class exchange {
 public:
  // trace_as: what the trace shows instead of line (for credentials); empty: line.
  result<> run(stream& s, std::string_view line, response& r, std::size_t max_literal, const trace_fn& trace,
               std::string_view trace_as = {});

 private:
  bool sent_ = false;
  response_reader reader_;
};

// Writes text + CRLF in one write, traced under dir (as trace_as when given).
result<> write_line(stream& s, std::string_view text, const trace_fn& trace, std::string_view dir,
                    std::string_view trace_as = {});

// The capability lines of a response: each data line's first word and its second.
// errc::protocol_error for an empty line or more than max_capabilities.
std::error_code capabilities_of(const response& r, std::vector<capability>& caps);
bool offers(const std::vector<capability>& caps, std::string_view name);
std::string value_of(const std::vector<capability>& caps, std::string_view name);
// Whether the space-separated list holds word (case-insensitive).
bool list_has(std::string_view list, std::string_view word);

bool iequals(std::string_view a, std::string_view b) noexcept;
std::string upper(std::string_view s);
// A client string: quoted when it may be, else "{n+}\r\n" + s.
std::string client_string(std::string_view s);

}  // namespace uptls::sieve::detail
