// Names the outputs share.
#include "output.hpp"
#include "plan.hpp"
#include "uptls/errc.hpp"

namespace uptls::cli {

std::string error_name(std::error_code ec) {
  if (ec.category() == category()) return std::string(to_string(static_cast<errc>(ec.value())));
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value());
}

std::string ladder_text(const std::vector<rung>& ladder) {
  std::string out;
  for (const rung& r : ladder) {
    out += (out.empty() ? "" : ",") + std::string(r.library->name()) + ":" + std::string(to_string(r.security));
  }
  return out;
}

}  // namespace uptls::cli
