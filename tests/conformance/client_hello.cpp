#include "client_hello.hpp"

#include <algorithm>
#include <initializer_list>

namespace uptls::test {
namespace {

// A bounds-checked reader over the message.
struct reader {
  std::span<const std::byte> b;
  std::size_t pos = 0;
  bool ok = true;

  std::uint32_t take(std::size_t n) {
    if (pos + n > b.size()) {
      ok = false;
      return 0;
    }
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | std::to_integer<std::uint32_t>(b[pos + i]);
    pos += n;
    return v;
  }
  std::span<const std::byte> bytes(std::size_t n) {
    if (pos + n > b.size()) {
      ok = false;
      return {};
    }
    auto s = b.subspan(pos, n);
    pos += n;
    return s;
  }
};

std::vector<std::uint16_t> u16_list(std::span<const std::byte> s) {
  std::vector<std::uint16_t> out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<std::uint16_t>((std::to_integer<unsigned>(s[i]) << 8) | std::to_integer<unsigned>(s[i + 1])));
  }
  return out;
}

bool one_of(std::uint16_t id, std::initializer_list<std::uint16_t> ids) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

std::optional<client_hello> parse_client_hello(std::span<const std::byte> wire) {
  reader rec{wire};
  if (rec.take(1) != 22) return std::nullopt;  // handshake record
  rec.take(2);
  const std::size_t rec_len = rec.take(2);
  reader m{rec.bytes(rec_len)};
  if (!rec.ok || m.take(1) != 1) return std::nullopt;  // client_hello
  const std::size_t len = m.take(3);
  reader h{m.bytes(len)};
  if (!m.ok) return std::nullopt;
  client_hello out;
  out.legacy_version = static_cast<std::uint16_t>(h.take(2));
  h.bytes(32);               // random
  h.bytes(h.take(1));        // legacy_session_id
  out.cipher_suites = u16_list(h.bytes(h.take(2)));
  h.bytes(h.take(1));        // compression methods
  if (!h.ok) return std::nullopt;
  if (h.pos == h.b.size()) return out;  // no extensions
  reader ext{h.bytes(h.take(2))};
  while (ext.ok && ext.pos < ext.b.size()) {
    const auto type = ext.take(2);
    reader body{ext.bytes(ext.take(2))};
    switch (type) {
      case 0: out.has_sni = true; break;
      case 10: out.groups = u16_list(body.bytes(body.take(2))); break;
      case 16: out.has_alpn = true; break;
      case 43: out.supported_versions = u16_list(body.bytes(body.take(1))); break;
      default: break;
    }
  }
  if (!ext.ok) return std::nullopt;
  return out;
}

bool is_tls13_suite(std::uint16_t id) { return one_of(id, {0x1301, 0x1302, 0x1303}); }

bool is_ecdhe_aead_suite(std::uint16_t id) {
  return one_of(id, {0xC02B, 0xC02C, 0xC02F, 0xC030, 0xCCA8, 0xCCA9});
}

bool is_ecdhe_cbc_suite(std::uint16_t id) {
  return one_of(id, {0xC009, 0xC00A, 0xC013, 0xC014, 0xC023, 0xC027});
}

bool is_rsa_kx_legacy_suite(std::uint16_t id) {
  return one_of(id, {0x009C, 0x009D, 0x003C, 0x003D, 0x002F, 0x0035});
}

bool is_signalling_suite(std::uint16_t id) { return one_of(id, {0x00FF, 0x5600}); }

}  // namespace uptls::test
