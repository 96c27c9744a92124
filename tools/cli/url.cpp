#include "url.hpp"

#include <algorithm>
#include <charconv>

namespace uptls::cli {
namespace {

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// A DNS name or an IPv4 literal: what getaddrinfo is given and what the
// certificate is checked against, so no byte that could mean something else.
bool valid_name(std::string_view host) noexcept {
  return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
           return is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_';
         });
}

bool valid_ipv6(std::string_view host) noexcept {
  return host.find(':') != std::string_view::npos &&
         std::all_of(host.begin(), host.end(), [](char c) { return is_hex(c) || c == ':' || c == '.'; });
}

const char* const shape = "a URL looks like SCHEME://HOST[:PORT], e.g. smtp://mail.example.org:587";

std::optional<url> fail(std::string* why, std::string text) {
  if (why != nullptr) *why = std::move(text) + "; " + shape;
  return std::nullopt;
}

}  // namespace

std::optional<url> parse_url(std::string_view text, std::string* why) {
  const std::string quoted = "'" + std::string(text) + "'";
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) return fail(why, quoted + " is not a URL (no SCHEME://)");
  const std::string_view scheme = text.substr(0, sep);
  if (scheme.empty() || !is_alpha(scheme.front()) ||
      !std::all_of(scheme.begin(), scheme.end(),
                   [](char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.'; })) {
    return fail(why, quoted + " does not start with a scheme");
  }
  url out;
  std::transform(scheme.begin(), scheme.end(), std::back_inserter(out.scheme), lower);

  std::string_view rest = text.substr(sep + 3);
  const std::size_t end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string_view tail = rest.substr(end);
  std::string_view authority = rest.substr(0, end);
  // A bare trailing slash is what people paste; anything after it would be ignored.
  if (!tail.empty() && tail != "/") {
    return fail(why, quoted + " has a path or query ('" + std::string(tail) + "'), which uptls does not use");
  }
  if (authority.find('@') != std::string_view::npos) {
    return fail(why, quoted + " has a user name; uptls does not log in (give only the host)");
  }

  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(why, quoted + " has an IPv6 address without its closing ']'");
    out.host.assign(authority.substr(1, close - 1));
    if (!valid_ipv6(out.host)) return fail(why, quoted + " has a bad IPv6 address '" + out.host + "'");
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return fail(why, quoted + " has text after the IPv6 address");
    has_port = !after.empty();
    if (has_port) port_text = after.substr(1);
  } else {
    if (std::count(authority.begin(), authority.end(), ':') > 1) {
      return fail(why, quoted + " has an IPv6 address outside brackets (IPv6 addresses go in brackets: [::1])");
    }
    const std::size_t colon = authority.find(':');
    out.host.assign(authority.substr(0, colon));
    has_port = colon != std::string_view::npos;
    if (has_port) port_text = authority.substr(colon + 1);
    if (out.host.empty()) return fail(why, quoted + " has no host");
    if (!valid_name(out.host)) {
      return fail(why, quoted + " has a bad host '" + out.host + "' (IPv6 addresses go in brackets: [::1])");
    }
  }
  if (has_port) {
    unsigned value = 0;
    const auto [stop, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || err != std::errc{} || stop != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return fail(why, quoted + " has a bad port '" + std::string(port_text) + "' (a number from 1 to 65535)");
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

}  // namespace uptls::cli
