#include "sasl.hpp"

#include <algorithm>
#include <cstdint>

namespace uptls::detail::sasl {
namespace {
constexpr std::string_view b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, in.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<unsigned char>(in[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out.push_back(k <= n ? b64[(v >> (18 - 6 * k)) & 0x3f] : '=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    std::uint32_t v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad > 0) return std::nullopt;  // a character after padding
      const std::size_t pos = b64.find(c);
      if (pos == std::string_view::npos) return std::nullopt;
      v = (v << 6) | static_cast<std::uint32_t>(pos);
    }
    out.push_back(static_cast<char>((v >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(v & 0xff));
  }
  return out;
}

std::string plain_response(std::string_view user, std::string_view password) {
  std::string plain;
  plain.reserve(user.size() + password.size() + 2);
  plain.push_back('\0');
  plain.append(user).push_back('\0');
  plain.append(password);
  return base64_encode(plain);
}

std::optional<plain_credentials> parse_plain(std::string_view base64) {
  const std::optional<std::string> plain = base64_decode(base64);
  if (!plain) return std::nullopt;
  const std::string_view all = *plain;
  const std::size_t a = all.find('\0');
  const std::size_t b = a == std::string_view::npos ? std::string_view::npos : all.find('\0', a + 1);
  if (b == std::string_view::npos || all.find('\0', b + 1) != std::string_view::npos) return std::nullopt;
  return plain_credentials{std::string(all.substr(0, a)), std::string(all.substr(a + 1, b - a - 1)),
                           std::string(all.substr(b + 1))};
}

}  // namespace uptls::detail::sasl
