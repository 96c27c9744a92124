#include "wire.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>

namespace uptls::imap::detail {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Whether a line segment ends with a literal marker: "{n}" or "{n+}" (LITERAL+,
// RFC 7888). found is false for text that merely ends in "}"; ok is false for a
// marker whose length does not fit in size_t (hostile).
struct literal_marker {
  bool found = false;
  bool ok = true;
  bool synchronising = true;
  std::size_t length = 0;
};

literal_marker find_literal(std::string_view line) noexcept {
  literal_marker m;
  if (line.empty() || line.back() != '}') return m;
  const std::size_t open = line.rfind('{');
  if (open == std::string_view::npos) return m;
  std::string_view digits = line.substr(open + 1, line.size() - open - 2);
  if (!digits.empty() && digits.back() == '+') {
    m.synchronising = false;
    digits.remove_suffix(1);
  }
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return m;
  }
  m.found = true;
  // RFC 9051 bounds a number at 2^32-1; anything with more digits is no honest length.
  if (digits.size() > 10) {
    m.ok = false;
    return m;
  }
  std::uint64_t n = 0;
  for (const char c : digits) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  if (n > 0xffffffffu) m.ok = false;
  m.length = static_cast<std::size_t>(n);
  return m;
}

}  // namespace

void line_reader::reset() noexcept {
  started_ = false;
  in_literal_ = false;
  ack_pending_ = false;
  want_ = 0;
  total_ = 0;
}

result<> line_reader::read(stream& s, std::size_t max_literal, std::string& text, std::vector<std::string>& literals,
                           const trace_fn& trace, std::string_view dir) {
  if (!started_) {
    text.clear();
    literals.clear();
    total_ = 0;
    in_literal_ = false;
    ack_pending_ = false;
    started_ = true;
  }
  // Bounded: every round reads a line segment or a literal, and a line has at
  // most max_literals of them.
  for (std::size_t round = 0; round < 2 * max_literals + 4; ++round) {
    if (in_literal_) {
      if (ack_pending_) return {};  // the caller sends "+" first, then calls again
      std::array<std::byte, 16384> buf{};
      while (want_ > 0) {
        const std::size_t ask = std::min(want_, buf.size());
        const result<std::size_t> got = s.read_some(std::span(buf.data(), ask));
        if (got.would_block()) return got.status();
        if (got.failed()) {
          reset();
          return got.error();
        }
        if (*got == 0) {
          reset();
          return errc::incomplete_line;  // the peer closed inside the literal
        }
        literals.back().append(reinterpret_cast<const char*>(buf.data()), *got);
        want_ -= *got;
      }
      if (trace) trace(dir, "{" + std::to_string(literals.back().size()) + " octets}");
      in_literal_ = false;
    }
    const result<std::string_view> got = s.read_line();
    if (got.would_block()) return got.status();
    if (got.failed()) {
      reset();
      return got.error();
    }
    const std::string_view line = *got;
    if (trace) trace(dir, line);
    if (text.size() + line.size() > max_line) {  // a line continued across literals stays bounded too
      reset();
      return errc::line_too_long;
    }
    text.append(line);
    const literal_marker m = find_literal(line);
    if (!m.found) {
      started_ = false;
      return {};
    }
    if (!m.ok || m.length > max_literal || total_ + m.length > max_literal || literals.size() >= max_literals) {
      reset();
      return errc::protocol_error;
    }
    total_ += m.length;
    want_ = m.length;
    literals.emplace_back();
    literals.back().reserve(std::min<std::size_t>(m.length, 65536));
    in_literal_ = true;
    ack_pending_ = ack_literals_ && m.synchronising && m.length > 0;
    if (ack_pending_) return {};
  }
  reset();
  return errc::protocol_error;
}

result<> response_reader::read(stream& s, std::size_t max_literal, response& r, const trace_fn& trace) {
  if (!started_) {
    r = response{};
    started_ = true;
  }
  const result<> got = lines_.read(s, max_literal, r.text, r.literals, trace, "S");
  if (got.would_block()) return got;
  started_ = false;
  if (got.failed()) return got.error() == errc::line_too_long ? make_error_code(errc::protocol_error) : got.error();
  const std::size_t sp = r.text.find(' ');
  r.tag = r.text.substr(0, sp);
  r.text = sp == std::string::npos ? std::string() : r.text.substr(sp + 1);
  // A tag is an atom: no controls, no specials that could hide a second tag.
  const bool atom = !r.tag.empty() && std::all_of(r.tag.begin(), r.tag.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '%' && c != '"' && c != '\\';
  });
  if (!atom) return errc::protocol_error;
  return {};
}

std::string new_tag() {
  // 32 symbols, 5 bits each: 50 bits a tag, so that a tagged reply cannot be
  // forged ahead of its command (a response injected before TLS, or pipelined
  // answers prepared for a command not yet sent).
  static constexpr std::string_view alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  thread_local std::random_device rd;
  std::uint64_t bits = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  std::string tag = "U";
  for (int i = 0; i < 10; ++i) {
    tag.push_back(alphabet[bits & 31u]);
    bits >>= 5;
  }
  return tag;
}

result<> command_run::done(std::error_code ec) {
  started_ = false;
  awaiting_plus_ = false;
  part_ = 0;
  untagged_ = 0;
  return ec;
}

result<> command_run::run(stream& s, const std::string& command, const client_options& opts, std::size_t max_literal,
                          response& r, const untagged_fn& on_untagged) {
  const std::vector<std::string> parts{command};
  return run(s, parts, parts, opts, max_literal, r, on_untagged);
}

result<> command_run::run(stream& s, const std::vector<std::string>& parts, const std::vector<std::string>& traced,
                          const client_options& opts, std::size_t max_literal, response& r,
                          const untagged_fn& on_untagged) {
  if (!started_) {
    started_ = true;
    tag_ = new_tag();
    part_ = 0;
    awaiting_plus_ = false;
    untagged_ = 0;
  }
  // Bounded: each round sends a part or reads one response, and there are at
  // most parts.size() continuations and max_untagged untagged responses.
  for (std::size_t round = 0; round < parts.size() + opts.max_untagged + 4; ++round) {
    if (!awaiting_plus_ && part_ < parts.size()) {
      const std::string& shown = part_ < traced.size() ? traced[part_] : parts[part_];
      if (opts.trace) opts.trace("C", part_ == 0 ? tag_ + " " + shown : shown);
      std::string line = part_ == 0 ? tag_ + " " + parts[0] : parts[part_];
      line.append("\r\n");
      if (const result<> w = s.write(line); w.failed()) return done(w.error());
      ++part_;
      awaiting_plus_ = part_ < parts.size();
    }
    if (const result<> f = s.flush(); !f) {
      if (f.failed()) return done(f.error());
      return f;
    }
    const result<> got = reader_.read(s, max_literal, r, opts.trace);
    if (got.would_block()) return got;
    if (got.failed()) return done(got.error());
    if (r.tag == "+") {
      if (!awaiting_plus_) return done(make_error_code(errc::protocol_error));
      awaiting_plus_ = false;
      continue;
    }
    if (r.tag == "*") {
      if (++untagged_ > opts.max_untagged) return done(make_error_code(errc::protocol_error));
      if (on_untagged) {
        if (const std::error_code ec = on_untagged(r)) return done(ec);
      }
      continue;
    }
    // Tags are matched exactly: a reply to another (or a guessed) tag is not ours.
    if (r.tag != tag_) return done(make_error_code(errc::protocol_error));
    // Cut short before its literals went out: only a refusal may do that.
    if ((awaiting_plus_ || part_ < parts.size()) && iequals(first_word(r.text), "OK")) {
      return done(make_error_code(errc::protocol_error));
    }
    return done({});
  }
  return done(make_error_code(errc::protocol_error));
}

result<> write_line(stream& s, std::string_view text, const trace_fn& trace) {
  if (trace) trace("S", text);
  std::string out;
  out.reserve(text.size() + 2);
  out.append(text).append("\r\n");
  return s.write(out);
}

std::string_view first_word(std::string_view text) noexcept { return text.substr(0, std::min(text.find(' '), text.size())); }

std::string_view after_first_word(std::string_view text) noexcept {
  const std::size_t sp = text.find(' ');
  return sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
}

std::string_view response_code(std::string_view text) noexcept {
  const std::string_view rest = after_first_word(text);
  if (rest.empty() || rest.front() != '[') return {};
  const std::size_t close = rest.find(']');
  if (close == std::string_view::npos) return {};
  return rest.substr(1, close - 1);
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t sp = std::min(text.find(' ', pos), text.size());
    if (sp > pos) out.emplace_back(text.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

bool parse_capabilities(std::string_view text, std::vector<std::string>& caps) {
  std::string_view list;
  if (iequals(first_word(text), "CAPABILITY")) {
    list = after_first_word(text);
  } else {
    const std::string_view code = response_code(text);
    if (!iequals(first_word(code), "CAPABILITY")) return false;
    list = after_first_word(code);
  }
  caps = words(list);
  return true;
}

bool has_capability(const std::vector<std::string>& caps, std::string_view name) {
  return std::any_of(caps.begin(), caps.end(), [&](const std::string& c) { return iequals(c, name); });
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool quotable(std::string_view text) noexcept {
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == 0 || u == '\r' || u == '\n' || u >= 0x80;
  });
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace uptls::imap::detail
