#include "common.hpp"

#include <charconv>
#include <cstdio>

namespace uptls::cli {

const backend* pick_backend(const args& a) {
  if (!a.has("--backend")) return backends().front();
  const std::string name = a.get("--backend");
  if (const backend* b = find_backend(name)) return b;
  std::string known;
  for (const backend* b : backends()) known += " " + std::string(b->name());
  std::fprintf(stderr, "uptls: no backend '%s' in this build (compiled in:%s)\n", name.c_str(), known.c_str());
  return nullptr;
}

std::optional<profile> pick_profile(const args& a) {
  const std::string p = a.get("--profile", "strict");
  if (p == "strict") return profile::strict;
  if (p == "legacy") return profile::legacy;
  std::fprintf(stderr, "uptls: --profile is strict or legacy, not '%s'\n", p.c_str());
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> pick_timeout(const args& a) {
  const std::string t = a.get("--timeout", "30");
  double seconds = 0;
  const auto [end, err] = std::from_chars(t.data(), t.data() + t.size(), seconds);
  if (err != std::errc{} || end != t.data() + t.size() || seconds <= 0 || seconds > 3600) {
    std::fprintf(stderr, "uptls: --timeout takes seconds (0 < s <= 3600), not '%s'\n", t.c_str());
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

std::optional<std::uint16_t> parse_port(const std::string& text) {
  unsigned value = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc{} || end != text.data() + text.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace uptls::cli
