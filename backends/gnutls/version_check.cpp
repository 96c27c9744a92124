#include "version_check.hpp"

#include <cstddef>
#include <optional>

namespace uptls::detail::gtls {
namespace {

constexpr std::uint16_t tls12 = 0x0303;
constexpr std::uint16_t tls13 = 0x0304;
constexpr std::uint16_t supported_versions_ext = 43;

// A bounds-checked reader over the hello; any overrun makes it fail for good.
class reader {
 public:
  explicit reader(std::span<const std::uint8_t> b) : b_(b) {}
  bool ok() const { return ok_; }
  std::size_t left() const { return ok_ ? b_.size() - pos_ : 0; }
  std::uint16_t u8() { return need(1) ? b_[pos_++] : 0; }
  std::uint16_t u16() {
    if (!need(2)) return 0;
    const auto v = static_cast<std::uint16_t>((b_[pos_] << 8) | b_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::span<const std::uint8_t> take(std::size_t n) {
    if (!need(n)) return {};
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  void skip(std::size_t n) { (void)take(n); }

 private:
  bool need(std::size_t n) {
    if (ok_ && b_.size() - pos_ >= n) return true;
    ok_ = false;
    return false;
  }
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

std::uint16_t wire(tls_version v) { return v == tls_version::tls1_3 ? tls13 : tls12; }

bool acceptable(std::uint16_t offered, tls_version min, tls_version max) {
  return offered >= wire(min) && offered <= wire(max);
}

}  // namespace

version_offer check_client_versions(std::span<const std::uint8_t> hello, tls_version min, tls_version max) {
  reader r(hello);
  const std::uint16_t legacy = r.u16();
  r.skip(32);        // random
  r.skip(r.u8());    // session id
  r.skip(r.u16());   // cipher suites
  r.skip(r.u8());    // compression methods
  if (!r.ok()) return version_offer::malformed;

  std::optional<bool> listed;  // set when supported_versions is present
  if (r.left() > 0) {
    reader exts(r.take(r.u16()));
    if (!r.ok()) return version_offer::malformed;
    while (exts.ok() && exts.left() > 0) {
      const std::uint16_t type = exts.u16();
      reader body(exts.take(exts.u16()));
      if (!exts.ok()) return version_offer::malformed;
      if (type != supported_versions_ext) continue;
      reader list(body.take(body.u8()));
      if (!body.ok()) return version_offer::malformed;
      listed = false;
      while (list.ok() && list.left() >= 2) {
        if (acceptable(list.u16(), min, max)) listed = true;
      }
    }
  }
  // RFC 8446 4.2.1: with supported_versions present, legacy_version is ignored.
  if (listed) return *listed ? version_offer::acceptable : version_offer::none;
  // Without it the client can do every version up to legacy_version, and
  // TLS 1.3 only through the extension.
  const bool ok12 = legacy >= tls12 && acceptable(tls12, min, max);
  return ok12 ? version_offer::acceptable : version_offer::none;
}

}  // namespace uptls::detail::gtls
