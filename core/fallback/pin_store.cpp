// Strict pins: in memory, and optionally in a small text file that is replaced
// atomically so that a crash never leaves half a file behind.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "uptls/fallback.hpp"

namespace uptls {
namespace {

using sys_clock = std::chrono::system_clock;

constexpr std::size_t max_host = 253;
constexpr std::size_t max_line = 512;
constexpr std::size_t max_entries = 100'000;  // a hostile file cannot make us hold more

// A host name or address literal as it may appear in a line: printable, no spaces.
bool plausible_host(std::string_view h) {
  if (h.empty() || h.size() > max_host) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '#';
  });
}

std::string key_of(std::string_view host, std::uint16_t port) {
  std::string k;
  k.reserve(host.size() + 6);
  for (char c : host) k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  k += ' ';
  k += std::to_string(port);
  return k;
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty()) return false;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), out);
  return err == std::errc{} && end == text.data() + text.size();
}

// The latest expiry a line may name: system_clock counts in nanoseconds here, so
// seconds past the year 2262 would overflow the conversion (undefined behaviour,
// found by fuzzing the file reader). No pin we write comes near it.
constexpr std::int64_t max_expiry =
    std::chrono::duration_cast<std::chrono::seconds>(sys_clock::duration::max()).count() - 1;

// "<host> <port> <expiry>" with single spaces; anything else is a bad line.
bool parse_line(std::string_view line, std::string& key, sys_clock::time_point& expiry) {
  const auto a = line.find(' ');
  if (a == std::string_view::npos) return false;
  const auto b = line.find(' ', a + 1);
  if (b == std::string_view::npos || line.find(' ', b + 1) != std::string_view::npos) return false;
  const std::string_view host = line.substr(0, a);
  std::uint32_t port = 0;
  std::int64_t seconds = 0;
  if (!plausible_host(host) || !parse_number(line.substr(a + 1, b - a - 1), port) || port == 0 ||
      port > 65535 || !parse_number(line.substr(b + 1), seconds) || seconds <= 0 || seconds > max_expiry) {
    return false;
  }
  key = key_of(host, static_cast<std::uint16_t>(port));
  expiry = sys_clock::time_point(std::chrono::seconds(seconds));
  return true;
}

}  // namespace

// The state behind pin_store: one map under one lock.
class pin_store::impl {
 public:
  impl(std::filesystem::path file, std::chrono::seconds ttl) : file_(std::move(file)), ttl_(ttl) {}

  void load();
  bool is_pinned(std::string_view host, std::uint16_t port) const {
    const std::lock_guard lock(mutex_);
    const auto it = pins_.find(key_of(host, port));
    return it != pins_.end() && it->second > sys_clock::now();
  }
  std::error_code pin(std::string_view host, std::uint16_t port) {
    if (!plausible_host(host) || port == 0) return errc::usage;
    const std::lock_guard lock(mutex_);
    pins_[key_of(host, port)] = sys_clock::now() + ttl_;
    return save_locked();
  }
  std::error_code unpin(std::string_view host, std::uint16_t port) {
    const std::lock_guard lock(mutex_);
    if (pins_.erase(key_of(host, port)) == 0) return {};
    return save_locked();
  }
  std::size_t size() const {
    const std::lock_guard lock(mutex_);
    const auto now = sys_clock::now();
    return static_cast<std::size_t>(
        std::count_if(pins_.begin(), pins_.end(), [&](const auto& p) { return p.second > now; }));
  }
  const std::filesystem::path& file() const noexcept { return file_; }

 private:
  std::error_code save_locked() const;

  std::filesystem::path file_;
  std::chrono::seconds ttl_;
  mutable std::mutex mutex_;
  std::map<std::string, sys_clock::time_point> pins_;  // "host port" -> expiry
};

void pin_store::impl::load() {
  std::ifstream in(file_, std::ios::binary);
  if (!in) return;
  const auto now = sys_clock::now();
  std::string line;
  std::string key;
  sys_clock::time_point expiry;
  while (pins_.size() < max_entries && std::getline(in, line)) {
    if (line.size() > max_line) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    if (!parse_line(line, key, expiry) || expiry <= now) continue;
    auto& slot = pins_[key];
    slot = std::max(slot, expiry);
  }
}
// Writes every unexpired pin to a temporary file beside the real one, then renames
// it over the real one: readers see the old file or the new one, never a mix.
std::error_code pin_store::impl::save_locked() const {
  if (file_.empty()) return {};
  const auto now = sys_clock::now();
  std::ostringstream text;
  text << "# uptls strict pins: <host> <port> <expiry, unix seconds>\n";
  for (const auto& [key, expiry] : pins_) {
    if (expiry <= now) continue;
    text << key << ' ' << std::chrono::duration_cast<std::chrono::seconds>(expiry.time_since_epoch()).count()
         << '\n';
  }
  const std::string body = text.str();
  static std::atomic<unsigned> serial{0};
  std::filesystem::path temp = file_;
  temp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(serial++);
  // 0600: the list says which hosts this program talks to.
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return {errno, std::generic_category()};
  std::size_t done = 0;
  int failed = 0;
  while (done < body.size() && failed == 0) {
    const ssize_t n = ::write(fd, body.data() + done, body.size() - done);
    if (n > 0) done += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR) failed = errno;
  }
  // On disk before the rename, so a crash leaves the old file or the whole new one.
  if (failed == 0 && ::fsync(fd) != 0) failed = errno;
  if (::close(fd) != 0 && failed == 0) failed = errno;
  if (failed != 0) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    return {failed, std::generic_category()};
  }
  std::error_code ec;
  std::filesystem::rename(temp, file_, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
  }
  return ec;
}

pin_store::pin_store(std::chrono::seconds ttl) : impl_(std::make_unique<impl>(std::filesystem::path{}, ttl)) {}
pin_store::pin_store(std::filesystem::path file, std::chrono::seconds ttl)
    : impl_(std::make_unique<impl>(std::move(file), ttl)) {
  impl_->load();
}
pin_store::~pin_store() = default;
bool pin_store::is_pinned(std::string_view host, std::uint16_t port) const { return impl_->is_pinned(host, port); }
result<> pin_store::pin(std::string_view host, std::uint16_t port) { return impl_->pin(host, port); }
result<> pin_store::unpin(std::string_view host, std::uint16_t port) { return impl_->unpin(host, port); }
std::size_t pin_store::size() const { return impl_->size(); }
const std::filesystem::path& pin_store::file() const noexcept { return impl_->file(); }

}  // namespace uptls
