#include "uptls/result.hpp"

#include <cstdio>
#include <exception>

namespace uptls {

std::string_view to_string(wait_for w) noexcept {
  switch (w) {
    case wait_for::read: return "read";
    case wait_for::write: return "write";
    case wait_for::none: break;
  }
  return "none";
}

std::string to_string(const result<void>& r) {
  if (r.ok()) return "ok";
  if (r.would_block()) return "would block (" + std::string(to_string(r.wants())) + ")";
  const std::error_code ec = r.error();
  const std::string name = ec.category() == category() ? std::string(to_string(static_cast<errc>(ec.value())))
                                                       : std::to_string(ec.value());
  return "error " + std::string(ec.category().name()) + ":" + name + ": " + ec.message();
}

namespace detail {
void contract_violated(const char* what) noexcept {
  // A broken contract is a bug in the caller: stop at once, as GSL's Expects does.
  std::fprintf(stderr, "uptls: contract violated: %s\n", what);
  std::terminate();
}
}  // namespace detail

}  // namespace uptls
