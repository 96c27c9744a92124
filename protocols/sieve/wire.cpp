#include "wire.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace uptls::sieve::detail {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// ATOM-CHAR of RFC 5804: printable ASCII but the specials that start another token.
bool atom_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != '"' && c != '(' && c != ')' && c != '{' && c != '}' && c != '\\';
}

// Whatever the peer sends, a reader never holds more than this of one response.
std::size_t response_budget(std::size_t max_literal) { return max_literal * 2 + 64 * 1024; }

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "managesieve"; }
  std::string message(int v) const override {
    switch (v) {
      case 1: return "the server answered NO";
      case 2: return "the server answered BYE (closing the connection)";
    }
    return "managesieve response " + std::to_string(v);
  }
};

}  // namespace

std::error_code tokenize(std::string_view line, std::vector<token>& out, std::optional<std::size_t>& literal,
                         const line_limits_t& lim) {
  literal.reset();
  std::size_t i = 0;
  // Bounded: every round consumes at least one octet of the line.
  while (i < line.size()) {
    const char c = line[i];
    if (c == ' ') {
      ++i;
      continue;
    }
    if (out.size() >= lim.max_tokens) return errc::protocol_error;
    if (c == '(' || c == ')') {
      out.push_back({c == '(' ? token::kind::open : token::kind::close, {}});
      ++i;
      continue;
    }
    if (c == '"') {
      std::string text;
      bool closed = false;
      for (++i; i < line.size(); ++i) {
        char q = line[i];
        if (q == '"') {
          closed = true;
          ++i;
          break;
        }
        if (q == '\\') {
          // Only the two quoted-specials may be escaped (RFC 5804 4).
          if (i + 1 >= line.size() || (line[i + 1] != '"' && line[i + 1] != '\\')) return errc::protocol_error;
          q = line[++i];
        } else if (q == '\0') {
          return errc::protocol_error;
        }
        if (text.size() >= max_quoted) return errc::protocol_error;
        text.push_back(q);
      }
      if (!closed) return errc::protocol_error;  // unterminated: the rest of the line is not a string
      out.push_back({token::kind::string, std::move(text)});
      continue;
    }
    if (c == '{') {
      const std::size_t close = line.find('}', i);
      // A literal announcement ends the physical line: its octets follow the CRLF.
      if (close == std::string_view::npos || close + 1 != line.size()) return errc::protocol_error;
      std::string_view digits = line.substr(i + 1, close - i - 1);
      if (!digits.empty() && digits.back() == '+') digits.remove_suffix(1);
      if (digits.empty() || digits.size() > 10) return errc::protocol_error;
      std::size_t n = 0;
      const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (err != std::errc{} || end != digits.data() + digits.size()) return errc::protocol_error;
      if (n > lim.max_literal) return errc::line_too_long;  // refused before a byte of it is read
      literal = n;
      return {};
    }
    if (!atom_char(c)) return errc::protocol_error;
    const std::size_t start = i;
    while (i < line.size() && atom_char(line[i])) ++i;
    out.push_back({token::kind::atom, std::string(line.substr(start, i - start))});
  }
  return {};
}

result<> line_reader::read(stream& s, std::vector<token>& tokens, const line_limits_t& lim, const trace_fn& trace,
                           std::string_view dir) {
  if (!started_) {
    tokens.clear();
    started_ = true;
    in_literal_ = false;
    parts_ = 0;
  }
  // Bounded: each round reads a literal and a physical line; at most max_parts literals.
  for (;;) {
    if (in_literal_) {
      while (remaining_ > 0) {
        std::array<std::byte, 4096> buf{};
        const std::size_t want = std::min(remaining_, buf.size());
        const result<std::size_t> got = s.read_some(std::span<std::byte>(buf.data(), want));
        if (got.would_block()) return got.status();
        if (got.failed()) return fail(got.error());
        if (*got == 0) return fail(make_error_code(errc::incomplete_line));  // closed inside the literal
        literal_.append(reinterpret_cast<const char*>(buf.data()), *got);
        remaining_ -= *got;
      }
      tokens.push_back({token::kind::string, std::move(literal_)});
      literal_.clear();
      in_literal_ = false;
    }
    const result<std::string_view> got = s.read_line();
    if (got.would_block()) return got.status();
    if (got.failed()) return fail(got.error());  // line_too_long: the stream discarded it and stays usable
    if (trace) trace(dir, *got);
    std::optional<std::size_t> lit;
    literal_too_long_ = false;
    if (const std::error_code ec = tokenize(*got, tokens, lit, lim)) {
      // Its octets follow whatever we answer: the connection is past saving.
      literal_too_long_ = ec == errc::line_too_long;
      return fail(make_error_code(errc::protocol_error));
    }
    if (!lit) {
      started_ = false;
      return {};
    }
    if (++parts_ > lim.max_parts) return fail(make_error_code(errc::protocol_error));
    if (trace) trace(dir, "(literal of " + std::to_string(*lit) + " octets)");
    in_literal_ = true;
    remaining_ = *lit;
    literal_.reserve(std::min<std::size_t>(*lit, 64 * 1024));
  }
}

bool is_status_line(const std::vector<token>& tokens) noexcept {
  if (tokens.empty() || tokens[0].k != token::kind::atom) return false;
  const std::string& w = tokens[0].text;
  return iequals(w, "OK") || iequals(w, "NO") || iequals(w, "BYE");
}

namespace {

// OK / NO / BYE [SP "(" resp-code ")"] [SP string] (RFC 5804 4).
std::error_code parse_status(const std::vector<token>& t, response& r) {
  r.kind = iequals(t[0].text, "OK") ? status::ok : iequals(t[0].text, "NO") ? status::no : status::bye;
  std::size_t i = 1;
  if (i < t.size() && t[i].k == token::kind::open) {
    ++i;
    if (i >= t.size() || t[i].k != token::kind::atom) return errc::protocol_error;
    r.code = t[i].text;
    for (++i; i < t.size() && t[i].k != token::kind::close; ++i) {
      if (t[i].k == token::kind::open) return errc::protocol_error;
    }
    if (i >= t.size()) return errc::protocol_error;  // no closing parenthesis
    ++i;
  }
  if (i < t.size()) {
    if (t[i].k != token::kind::string) return errc::protocol_error;
    r.text = t[i].text;
    ++i;
  }
  return i == t.size() ? std::error_code{} : make_error_code(errc::protocol_error);
}

}  // namespace

result<> response_reader::read(stream& s, response& r, std::size_t max_literal, const trace_fn& trace) {
  if (!started_) {
    r = response{};
    started_ = true;
  }
  const line_limits_t lim{max_literal};
  std::size_t held = 0;
  for (const auto& line : r.data) {
    for (const auto& w : line) held += w.size();
  }
  // Bounded: each round consumes a line, and a response has at most max_response_lines.
  while (r.data.size() < max_response_lines) {
    const result<> got = lines_.read(s, tokens_, lim, trace, "S");
    if (got.would_block()) return got;
    if (got.failed()) {
      started_ = false;
      // An over-long response line is malformed, not a transport fault.
      return got.error() == errc::line_too_long ? make_error_code(errc::protocol_error) : got.error();
    }
    if (is_status_line(tokens_)) {
      started_ = false;
      if (const std::error_code ec = parse_status(tokens_, r)) return ec;
      return {};
    }
    if (tokens_.empty()) {
      started_ = false;
      return errc::protocol_error;
    }
    std::vector<std::string> words;
    for (auto& t : tokens_) {
      if (t.k == token::kind::open || t.k == token::kind::close) {
        started_ = false;
        return errc::protocol_error;
      }
      held += t.text.size();
      words.push_back(std::move(t.text));
    }
    if (held > response_budget(max_literal)) {
      started_ = false;
      return errc::protocol_error;
    }
    r.data.push_back(std::move(words));
  }
  started_ = false;
  return errc::protocol_error;
}

result<> exchange::run(stream& s, std::string_view line, response& r, std::size_t max_literal, const trace_fn& trace,
                       std::string_view trace_as) {
  if (!sent_) {
    sent_ = true;
    if (const result<> w = write_line(s, line, trace, "C", trace_as); w.failed()) {
      sent_ = false;
      return w;
    }
  }
  if (const result<> f = s.flush(); !f) {
    if (f.failed()) sent_ = false;
    return f;
  }
  const result<> got = reader_.read(s, r, max_literal, trace);
  if (!got.would_block()) sent_ = false;
  return got;
}

result<> write_line(stream& s, std::string_view text, const trace_fn& trace, std::string_view dir,
                    std::string_view trace_as) {
  if (trace) trace(dir, trace_as.empty() ? text : trace_as);
  std::string out;
  out.reserve(text.size() + 2);
  out.append(text).append("\r\n");
  return s.write(out);
}

std::error_code capabilities_of(const response& r, std::vector<capability>& caps) {
  caps.clear();
  if (r.data.size() > max_capabilities) return errc::protocol_error;
  for (const auto& line : r.data) {
    if (line.empty() || line[0].empty()) return errc::protocol_error;
    caps.push_back({line[0], line.size() > 1 ? line[1] : std::string()});
  }
  return {};
}

bool offers(const std::vector<capability>& caps, std::string_view name) {
  return std::any_of(caps.begin(), caps.end(), [&](const capability& c) { return iequals(c.name, name); });
}

std::string value_of(const std::vector<capability>& caps, std::string_view name) {
  for (const auto& c : caps) {
    if (iequals(c.name, name)) return c.value;
  }
  return {};
}

bool list_has(std::string_view list, std::string_view word) {
  // Bounded: each round consumes one word of the list.
  while (!list.empty()) {
    const std::size_t sp = std::min(list.find(' '), list.size());
    if (iequals(list.substr(0, sp), word)) return true;
    list.remove_prefix(std::min(sp + 1, list.size()));
  }
  return false;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string client_string(std::string_view s) {
  const bool plain = s.size() <= max_quoted && s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
  if (!plain) return "{" + std::to_string(s.size()) + "+}\r\n" + std::string(s);
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace uptls::sieve::detail

namespace uptls::sieve {

const std::error_category& response_category() noexcept {
  static const detail::category_impl c;
  return c;
}

std::error_code make_response_error(status s) noexcept { return {static_cast<int>(s), response_category()}; }

std::string literal(std::string_view s) { return "{" + std::to_string(s.size()) + "}\r\n" + std::string(s); }

std::string quote(std::string_view s) {
  const bool plain = s.size() <= max_quoted && s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
  if (!plain) return literal(s);
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace uptls::sieve
