#include "dialogue.hpp"

#include <algorithm>

namespace uptls::smtp::detail {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

result<> reply_reader::read(stream& s, reply& r, const trace_fn& trace) {
  if (!started_) {
    r = reply{};
    started_ = true;
  }
  // Bounded: each round consumes a line, and a reply has at most max_reply_lines.
  while (r.lines.size() < max_reply_lines) {
    const result<std::string_view> got = s.read_line();
    if (got.would_block()) return got.status();
    if (!got) {
      started_ = false;
      // An over-long reply line is malformed, not a transport fault.
      return got.error() == errc::line_too_long ? make_error_code(errc::protocol_error) : got.error();
    }
    const std::string_view line = *got;
    if (trace) trace("S", line);
    const bool well_formed = line.size() >= 3 && is_digit(line[0]) && is_digit(line[1]) && is_digit(line[2]) &&
                             line[0] >= '2' && line[0] <= '5' &&
                             (line.size() == 3 || line[3] == ' ' || line[3] == '-');
    if (!well_formed) {
      started_ = false;
      return errc::protocol_error;
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r.lines.empty()) {
      r.code = code;
    } else if (code != r.code) {
      started_ = false;
      return errc::protocol_error;
    }
    r.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view{});
    if (line.size() == 3 || line[3] == ' ') {
      started_ = false;
      return {};
    }
  }
  started_ = false;
  return errc::protocol_error;
}

result<> exchange::run(stream& s, std::string_view line, reply& r, const trace_fn& trace) {
  if (!sent_) {
    sent_ = true;
    const result<> w = write_line(s, line, trace, "C");
    if (w.failed()) {
      sent_ = false;
      return w;
    }
  }
  // What the stream holds goes out before we wait for the answer.
  if (const result<> f = s.flush(); !f) {
    if (f.failed()) sent_ = false;
    return f;
  }
  const result<> got = reader_.read(s, r, trace);
  if (!got.would_block()) sent_ = false;
  return got;
}

result<> write_line(stream& s, std::string_view text, const trace_fn& trace, std::string_view dir) {
  if (trace) trace(dir, text);
  std::string out;
  out.reserve(text.size() + 2);
  out.append(text).append("\r\n");
  return s.write(out);
}

std::vector<std::string> keywords(const reply& r) {
  if (r.lines.size() <= 1) return {};
  return {r.lines.begin() + 1, r.lines.end()};
}

bool offers(const std::vector<std::string>& caps, std::string_view keyword) {
  return std::any_of(caps.begin(), caps.end(),
                     [&](const std::string& c) { return iequals(keyword_of(c), keyword); });
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

bool valid_ehlo_name(std::string_view name) noexcept {
  return !name.empty() && name.size() <= 255 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

bool valid_path(std::string_view address) noexcept {
  const auto bad = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f || c == '<' || c == '>';  // octets above 0x7f stay (SMTPUTF8)
  };
  return address.size() <= 256 && std::none_of(address.begin(), address.end(), bad);
}

}  // namespace uptls::smtp::detail
