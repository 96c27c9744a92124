#include "session_cache.hpp"

#include <string.h>  // explicit_bzero

#include <algorithm>

namespace uptls::detail::gtls {
namespace {

// Resumption data holds the session's master secret: wipe it before release.
void wipe(std::vector<unsigned char>& v) noexcept {
  if (!v.empty()) explicit_bzero(v.data(), v.size());
  v.clear();
}

}  // namespace

session_cache::~session_cache() {
  for (auto& [name, data] : entries_) wipe(data);
}

void session_cache::store(const std::string& name, std::span<const unsigned char> data) {
  const std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    wipe(it->second);
    it->second.assign(data.begin(), data.end());
    return;
  }
  while (!order_.empty() && entries_.size() >= capacity_) {
    auto oldest = entries_.find(order_.front());
    if (oldest != entries_.end()) {
      wipe(oldest->second);
      entries_.erase(oldest);
    }
    order_.pop_front();
  }
  entries_.emplace(name, std::vector<unsigned char>(data.begin(), data.end()));
  order_.push_back(name);
}

std::optional<std::vector<unsigned char>> session_cache::find(const std::string& name) const {
  const std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void session_cache::erase(const std::string& name) {
  const std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  wipe(it->second);
  entries_.erase(it);
  order_.erase(std::remove(order_.begin(), order_.end(), name), order_.end());
}

}  // namespace uptls::detail::gtls
