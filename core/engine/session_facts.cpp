// The facts of a session, settled in one place for every backend: the IANA suite
// table, the key exchange and forward secrecy derived from it, group names, and
// the text rules for certificates.
#include <array>
#include <ctime>

#include "engine/engine.hpp"

namespace uptls {
namespace {

struct suite_row {
  std::uint16_t id;
  std::string_view name;
  key_exchange kx;  // TLS 1.2 suites; unknown for TLS 1.3 (the group decides)
  bool aead;
};

constexpr key_exchange none = key_exchange::unknown;
constexpr key_exchange rsa = key_exchange::rsa;
constexpr key_exchange dhe = key_exchange::dhe;
constexpr key_exchange ecdhe = key_exchange::ecdhe;

// Every suite a uptls profile can negotiate on some backend, and the common ones a
// legacy peer may pick besides (IANA "TLS Cipher Suites"; RFC 5246, 5288, 5289,
// 6655, 7251, 7905, 8446). A suite outside it keeps the backend's name.
constexpr std::array suites{
    suite_row{0x1301, "TLS_AES_128_GCM_SHA256", none, true},
    suite_row{0x1302, "TLS_AES_256_GCM_SHA384", none, true},
    suite_row{0x1303, "TLS_CHACHA20_POLY1305_SHA256", none, true},
    suite_row{0x1304, "TLS_AES_128_CCM_SHA256", none, true},
    suite_row{0x1305, "TLS_AES_128_CCM_8_SHA256", none, true},
    suite_row{0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", ecdhe, true},
    suite_row{0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", ecdhe, true},
    suite_row{0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", ecdhe, true},
    suite_row{0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", ecdhe, true},
    suite_row{0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", ecdhe, true},
    suite_row{0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", ecdhe, true},
    suite_row{0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", dhe, true},
    suite_row{0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", ecdhe, true},
    suite_row{0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", ecdhe, true},
    suite_row{0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", ecdhe, true},
    suite_row{0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", ecdhe, true},
    suite_row{0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", dhe, true},
    suite_row{0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", dhe, true},
    suite_row{0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM", dhe, true},
    suite_row{0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM", dhe, true},
    suite_row{0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", rsa, true},
    suite_row{0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", rsa, true},
    suite_row{0xC09C, "TLS_RSA_WITH_AES_128_CCM", rsa, true},
    suite_row{0xC09D, "TLS_RSA_WITH_AES_256_CCM", rsa, true},
    suite_row{0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", ecdhe, false},
    suite_row{0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", ecdhe, false},
    suite_row{0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", ecdhe, false},
    suite_row{0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", ecdhe, false},
    suite_row{0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", ecdhe, false},
    suite_row{0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", ecdhe, false},
    suite_row{0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", ecdhe, false},
    suite_row{0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", ecdhe, false},
    suite_row{0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", dhe, false},
    suite_row{0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", dhe, false},
    suite_row{0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", dhe, false},
    suite_row{0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", dhe, false},
    suite_row{0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", rsa, false},
    suite_row{0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", rsa, false},
    suite_row{0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", rsa, false},
    suite_row{0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", rsa, false},
};

const suite_row* find_suite(std::uint16_t id, std::string_view name) {
  for (const suite_row& r : suites) {
    if (id != 0 ? r.id == id : r.name == name) return &r;
  }
  return nullptr;
}

bool is_ffdhe(named_group g) {
  const auto n = static_cast<std::uint16_t>(g);
  return n >= 256 && n <= 511;  // RFC 8446 4.2.7: 0x0100-0x01FF are finite-field groups
}

}  // namespace

std::string_view to_string(key_exchange k) noexcept {
  switch (k) {
    case key_exchange::rsa: return "RSA";
    case key_exchange::dhe: return "DHE";
    case key_exchange::ecdhe: return "ECDHE";
    case key_exchange::psk: return "PSK";
    case key_exchange::unknown: break;
  }
  return "unknown";
}

std::string_view to_string(named_group g) noexcept {
  switch (g) {
    case named_group::none: return "none";
    case named_group::secp256r1: return "secp256r1";
    case named_group::secp384r1: return "secp384r1";
    case named_group::secp521r1: return "secp521r1";
    case named_group::x25519: return "x25519";
    case named_group::x448: return "x448";
    case named_group::ffdhe2048: return "ffdhe2048";
    case named_group::ffdhe3072: return "ffdhe3072";
    case named_group::ffdhe4096: return "ffdhe4096";
    case named_group::ffdhe6144: return "ffdhe6144";
    case named_group::ffdhe8192: return "ffdhe8192";
  }
  return "unknown";
}

std::string_view to_string(key_type k) noexcept {
  switch (k) {
    case key_type::rsa: return "RSA";
    case key_type::ecdsa: return "ECDSA";
    case key_type::ed25519: return "Ed25519";
    case key_type::ed448: return "Ed448";
    case key_type::unknown: break;
  }
  return "unknown";
}

const certificate_info* session_info::peer_certificate() const { return peer_ ? &peer_->facts() : nullptr; }

std::string_view session_info::peer_certificate_der() const noexcept {
  return peer_ ? peer_->der() : std::string_view{};
}

namespace detail {

void settle_facts(session_info& s, std::uint16_t suite_id, std::string_view suite_name) {
  const suite_row* row = find_suite(suite_id, suite_name);
  if (row == nullptr && suite_id != 0) row = find_suite(0, suite_name);
  if (row != nullptr) {
    s.suite = {row->id, std::string(row->name), row->aead};
  } else {
    // Outside the table: keep what the backend said and read what the name says.
    s.suite = {suite_id, std::string(suite_name),
               suite_name.find("_GCM") != std::string_view::npos || suite_name.find("_CCM") != std::string_view::npos ||
                   suite_name.find("CHACHA20_POLY1305") != std::string_view::npos};
  }

  if (s.version == tls_version::tls1_3) {
    // TLS 1.3 suites name no key exchange: the handshake's key share does, and a
    // resumption without one (psk_ke) has none.
    if (s.group == named_group::none) {
      s.kx = s.resumed ? key_exchange::psk : key_exchange::unknown;
    } else {
      s.kx = is_ffdhe(s.group) ? key_exchange::dhe : key_exchange::ecdhe;
    }
  } else {
    s.kx = row != nullptr ? row->kx : key_exchange::unknown;
    // An abbreviated TLS 1.2 handshake exchanges no key, and RSA transport uses no group.
    if (s.resumed || s.kx == key_exchange::rsa) s.group = named_group::none;
  }
  s.forward_secret = is_forward_secret(s.kx);
}

std::string hex_upper(std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0x0F];
  }
  return out;
}

std::string serial_text(std::span<const unsigned char> content) {
  std::size_t skip = 0;
  while (skip + 1 < content.size() && content[skip] == 0) ++skip;  // DER's sign byte, not part of the number
  return hex_upper(content.subspan(skip));
}

std::chrono::system_clock::time_point utc_time(int year, int month, int day, int hour, int minute, int second) {
  std::tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  t.tm_mday = day;
  t.tm_hour = hour;
  t.tm_min = minute;
  t.tm_sec = second;
  return std::chrono::system_clock::from_time_t(timegm(&t));
}

}  // namespace detail
}  // namespace uptls
