#include "dialogue.hpp"

#include <algorithm>

namespace uptls::pop3 {
namespace detail {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// A line read_line gave, or the reason it gave none; an over-long line is the
// server's fault (a malformed response), not the transport's.
result<std::string_view> response_line(stream& s) {
  const result<std::string_view> got = s.read_line();
  if (got.failed() && got.error() == errc::line_too_long) return errc::protocol_error;
  if (got.ok() && got->size() > max_response_line - 2) return errc::protocol_error;
  return got;
}

}  // namespace

bool parse_status(std::string_view line, response& r) {
  const auto take = [&](std::string_view word, bool ok) {
    if (line.substr(0, word.size()) != word) return false;
    if (line.size() > word.size() && line[word.size()] != ' ') return false;
    r.ok = ok;
    r.text.assign(line.size() > word.size() ? line.substr(word.size() + 1) : std::string_view{});
    return true;
  };
  return take("+OK", true) || take("-ERR", false);
}

result<> read_status(stream& s, response& r, const trace_fn& trace) {
  const result<std::string_view> got = response_line(s);
  if (!got) return got.status();
  if (trace) trace("S", *got);
  if (!parse_status(*got, r)) return errc::protocol_error;
  return {};
}

result<> list_reader::read(stream& s, std::vector<std::string>& lines, std::size_t max_lines, const trace_fn& trace) {
  if (!started_) {
    lines.clear();
    started_ = true;
  }
  // Bounded: each round consumes a line, and a list has at most max_lines.
  for (;;) {
    const result<std::string_view> got = response_line(s);
    if (got.would_block()) return got.status();
    if (!got) {
      started_ = false;
      return got.status();
    }
    const std::string_view line = *got;
    if (trace) trace("S", line);
    if (line == ".") {
      started_ = false;
      return {};
    }
    if (lines.size() >= max_lines) {
      started_ = false;
      return errc::protocol_error;
    }
    lines.emplace_back(!line.empty() && line.front() == '.' ? line.substr(1) : line);
  }
}

result<> exchange::run(stream& s, std::string_view line, response& r, const trace_fn& trace, std::string_view shown) {
  if (!sent_) {
    sent_ = true;
    if (const result<> w = write_line(s, line, trace, "C", shown); w.failed()) {
      sent_ = false;
      return w;
    }
  }
  // What the stream holds goes out before we wait for the answer.
  if (const result<> f = s.flush(); !f) {
    if (f.failed()) sent_ = false;
    return f;
  }
  const result<> got = read_status(s, r, trace);
  if (!got.would_block()) sent_ = false;
  return got;
}

result<> write_line(stream& s, std::string_view text, const trace_fn& trace, std::string_view dir,
                    std::string_view shown) {
  if (trace) trace(dir, shown.empty() ? text : shown);
  std::string out;
  out.reserve(text.size() + 2);
  out.append(text).append("\r\n");
  return s.write(out);
}

bool offers(const std::vector<std::string>& caps, std::string_view keyword) {
  return std::any_of(caps.begin(), caps.end(), [&](const std::string& c) { return iequals(first_word(c), keyword); });
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view first_word(std::string_view line) noexcept {
  return line.substr(0, std::min(line.find(' '), line.size()));
}

void dot_stuff(std::string_view text, std::string& wire) {
  wire.clear();
  wire.reserve(text.size() + text.size() / 32 + 8);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find_first_of("\r\n", pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.front() == '.') wire.push_back('.');
    wire.append(line).append("\r\n");
    pos = end;
    if (pos == text.size()) break;
    // CRLF is one line end; a lone CR or LF is one too (never passed on bare).
    pos += text.compare(pos, 2, "\r\n") == 0 ? 2 : 1;
  }
  wire.append(".\r\n");
}

bool valid_argument(std::string_view arg) noexcept {
  return !arg.empty() && arg.size() <= 200 && std::none_of(arg.begin(), arg.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

}  // namespace detail

std::size_t wire_size(std::string_view text) noexcept {
  std::size_t size = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find_first_of("\r\n", pos), text.size());
    size += end - pos + 2;
    pos = end;
    if (pos == text.size()) break;
    pos += text.compare(pos, 2, "\r\n") == 0 ? 2 : 1;
  }
  return size;
}

namespace {

class refusal_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pop3"; }
  std::string message(int code) const override {
    switch (static_cast<refusal>(code)) {
      case refusal::command: return "the POP3 server refused the command (-ERR)";
      case refusal::login: return "the POP3 server refused the login (-ERR)";
    }
    return "the POP3 server refused (-ERR)";
  }
};

}  // namespace

const std::error_category& refusal_category() noexcept {
  static const refusal_category_impl instance;
  return instance;
}

std::error_code make_error_code(refusal r) noexcept { return {static_cast<int>(r), refusal_category()}; }

}  // namespace uptls::pop3
