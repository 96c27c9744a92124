// JSON output, statistics, CPU time and heap figures.
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "bench.hpp"

namespace bench {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace

json& json::raw(const std::string& key, std::string value) {
  for (auto& f : fields_) {
    if (f.first == key) {
      f.second = std::move(value);
      return *this;
    }
  }
  fields_.emplace_back(key, std::move(value));
  return *this;
}

json& json::set(const std::string& key, const std::string& value) { return raw(key, quoted(value)); }

json& json::set(const std::string& key, double value) {
  if (!std::isfinite(value)) return raw(key, "null");
  char text[64];
  std::snprintf(text, sizeof text, "%.6g", value);
  return raw(key, text);
}

json& json::set(const std::string& key, std::int64_t value) { return raw(key, std::to_string(value)); }

json& json::set(const std::string& key, bool value) { return raw(key, value ? "true" : "false"); }

std::string json::text() const {
  std::string out = "{";
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (i > 0) out += ", ";
    out += quoted(fields_[i].first) + ": " + fields_[i].second;
  }
  return out + "}";
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

std::size_t heap_in_use() { return mallinfo2().uordblks; }

void fail(const std::string& what) { throw std::runtime_error(what); }

void fail_errno(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

double median(std::vector<double> v) { return percentile(std::move(v), 50); }

// Nearest-rank percentile: the value below which p percent of the samples lie.
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
  const auto i = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(v.size()))) - 1;
  return v[i];
}

std::string_view to_string(cipher_family c) {
  switch (c) {
    case cipher_family::aes128gcm: return "aes128gcm";
    case cipher_family::aes256gcm: return "aes256gcm";
    case cipher_family::chacha20: return "chacha20";
  }
  return "?";
}

std::optional<cipher_family> parse_cipher(std::string_view s) {
  for (auto c : {cipher_family::aes128gcm, cipher_family::aes256gcm, cipher_family::chacha20}) {
    if (to_string(c) == s) return c;
  }
  return std::nullopt;
}

}  // namespace bench
