#include "dialogue.hpp"

#include <algorithm>

namespace uptls::smtp::detail {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

std::error_code read_reply(stream& s, reply& r, const trace_fn& trace) {
  r = reply{};
  std::string line;
  for (std::size_t n = 0; n < max_reply_lines; ++n) {
    if (const std::error_code ec = s.read_line(line)) {
      // An over-long reply line is malformed, not a transport fault.
      return ec == errc::line_too_long ? make_error_code(errc::protocol_error) : ec;
    }
    if (trace) trace("S", line);
    const bool well_formed = line.size() >= 3 && is_digit(line[0]) && is_digit(line[1]) && is_digit(line[2]) &&
                             line[0] >= '2' && line[0] <= '5' &&
                             (line.size() == 3 || line[3] == ' ' || line[3] == '-');
    if (!well_formed) return errc::protocol_error;
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (n == 0) r.code = code;
    else if (code != r.code) return errc::protocol_error;
    r.lines.push_back(line.size() > 4 ? line.substr(4) : std::string{});
    if (line.size() == 3 || line[3] == ' ') return {};
  }
  return errc::protocol_error;
}

std::error_code write_line(stream& s, std::string_view text, const trace_fn& trace, std::string_view dir) {
  if (trace) trace(dir, text);
  std::string out;
  out.reserve(text.size() + 2);
  out.append(text).append("\r\n");
  return s.write(out);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view keyword_of(std::string_view line) noexcept {
  return line.substr(0, std::min(line.find(' '), line.size()));
}

bool dot_stuff(std::string_view data, std::string& wire) {
  wire.clear();
  wire.reserve(data.size() + data.size() / 32 + 8);
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t end = std::min(data.find_first_of("\r\n", pos), data.size());
    const std::string_view text = data.substr(pos, end - pos);
    if (text.size() > max_line - 2) return false;
    if (!text.empty() && text.front() == '.') wire.push_back('.');
    wire.append(text).append("\r\n");
    pos = end;
    if (pos == data.size()) break;
    // CRLF is one line end; a lone CR or LF is one too (never passed on bare).
    pos += data.compare(pos, 2, "\r\n") == 0 ? 2 : 1;
  }
  wire.append(".\r\n");
  return true;
}

bool valid_path(std::string_view address) noexcept {
  return address.size() <= 256 && address.find_first_of(std::string_view("\r\n<>\0", 5)) == std::string_view::npos;
}

}  // namespace uptls::smtp::detail
