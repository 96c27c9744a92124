#include <algorithm>

#include "uptls/transport.hpp"

namespace uptls {

milliseconds transport::wait_budget(milliseconds per_call) const noexcept {
  if (!deadline_) return per_call;
  const auto left = std::chrono::duration_cast<milliseconds>(*deadline_ - clock::now());
  return std::clamp(left, milliseconds{0}, per_call);
}

std::error_code write_all(transport& t, std::span<const std::byte> buf) {
  while (!buf.empty()) {
    const io_result r = t.write_some(buf);
    if (r.status == io_status::error) return r.error;
    if (r.status != io_status::ok) return errc::timeout;  // would_block on a blocking path
    buf = buf.subspan(r.bytes);
  }
  return {};
}

}  // namespace uptls
