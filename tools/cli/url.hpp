// The URLs `uptls probe` takes: SCHEME://HOST[:PORT], as curl writes them
// (smtp://mail.example.org:587, smtps://[2001:db8::1]). Nothing else: no user
// name, no path, so that nothing in a URL is silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace uptls::cli {

struct url {
  std::string scheme;  // lower case (schemes are case-insensitive, RFC 3986 3.1)
  std::string host;    // a name or an address; IPv6 without its brackets
  std::optional<std::uint16_t> port;  // nullopt: the scheme's default
};

// The URL in text, or nullopt with *why saying what is wrong and how a URL looks.
std::optional<url> parse_url(std::string_view text, std::string* why);

}  // namespace uptls::cli
