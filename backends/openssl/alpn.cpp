#include "alpn.hpp"

namespace uptls::ossl {
namespace {

// Calls f on each name of a wire list; false when the list is malformed.
template <class F>
bool for_each_name(std::string_view wire, F f) {
  while (!wire.empty()) {
    const auto len = static_cast<unsigned char>(wire.front());
    if (len == 0 || len + 1u > wire.size()) return false;
    f(wire.substr(1, len));
    wire.remove_prefix(len + 1u);
  }
  return true;
}

}  // namespace

std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    wire.push_back(static_cast<char>(static_cast<unsigned char>(p.size())));
    wire += p;
  }
  return wire;
}

std::string_view alpn_choose(std::string_view ours_wire, std::span<const unsigned char> offered) {
  const std::string_view theirs(reinterpret_cast<const char*>(offered.data()), offered.size());
  std::vector<std::string_view> names;
  if (theirs.empty() || !for_each_name(theirs, [&](std::string_view n) { names.push_back(n); })) return {};
  std::string_view chosen;
  for_each_name(ours_wire, [&](std::string_view n) {
    if (!chosen.empty()) return;
    for (auto t : names) {
      if (t == n) chosen = n;
    }
  });
  return chosen;
}

}  // namespace uptls::ossl
