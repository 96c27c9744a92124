#include "server_session_store.hpp"

#include <string.h>  // explicit_bzero

namespace uptls::detail::gtls {
namespace {

constexpr std::size_t max_session_id = 32;

std::string key_of(std::span<const unsigned char> key) { return std::string(key.begin(), key.end()); }

}  // namespace

server_session_store::server_session_store(std::size_t capacity, std::chrono::seconds lifetime)
    : capacity_(capacity == 0 ? 1 : capacity), lifetime_(lifetime) {}

server_session_store::~server_session_store() {
  for (auto& [key, e] : entries_) {
    if (!e.data.empty()) explicit_bzero(e.data.data(), e.data.size());
  }
}

void server_session_store::drop(std::map<std::string, entry>::iterator it) {
  if (!it->second.data.empty()) explicit_bzero(it->second.data.data(), it->second.data.size());
  by_order_.erase(it->second.order);
  entries_.erase(it);
}

// Makes room for one entry: an expired one if the oldest is, else the oldest.
// The oldest stored is also the first to expire (one lifetime for all).
void server_session_store::evict_one(clock::time_point /*now*/) {
  if (by_order_.empty()) return;
  auto it = entries_.find(by_order_.begin()->second);
  if (it != entries_.end()) {
    drop(it);
  } else {
    by_order_.erase(by_order_.begin());
  }
}

bool server_session_store::store(std::span<const unsigned char> key, std::span<const unsigned char> data,
                                 clock::time_point now) {
  if (key.empty() || key.size() > max_session_id || data.empty()) return false;
  const std::lock_guard lock(mutex_);
  const std::string k = key_of(key);
  if (auto it = entries_.find(k); it != entries_.end()) drop(it);
  // Expired entries at the front go first, then the oldest while full.
  while (!by_order_.empty()) {
    auto oldest = entries_.find(by_order_.begin()->second);
    const bool expired = oldest != entries_.end() && oldest->second.expires <= now;
    if (!expired && entries_.size() < capacity_) break;
    evict_one(now);
  }
  const std::uint64_t order = next_order_++;
  entries_.emplace(k, entry{std::vector<unsigned char>(data.begin(), data.end()), now + lifetime_, order});
  by_order_.emplace(order, k);
  return true;
}

std::optional<std::vector<unsigned char>> server_session_store::retrieve(std::span<const unsigned char> key,
                                                                         clock::time_point now) {
  if (key.empty() || key.size() > max_session_id) return std::nullopt;
  const std::lock_guard lock(mutex_);
  auto it = entries_.find(key_of(key));
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    drop(it);
    return std::nullopt;
  }
  return it->second.data;
}

bool server_session_store::remove(std::span<const unsigned char> key) {
  const std::lock_guard lock(mutex_);
  auto it = entries_.find(key_of(key));
  if (it == entries_.end()) return false;
  drop(it);
  return true;
}

std::size_t server_session_store::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace uptls::detail::gtls
