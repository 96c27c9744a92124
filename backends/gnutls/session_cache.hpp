// The client's resumption data, one entry per server name, shared by every
// connection made from one context (and so guarded by a mutex).
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace uptls::detail::gtls {

class session_cache {
 public:
  explicit session_cache(std::size_t capacity = 256) : capacity_(capacity) {}
  ~session_cache();
  session_cache(const session_cache&) = delete;
  session_cache& operator=(const session_cache&) = delete;

  // Keeps `data` (gnutls_session_get_data2's output) for `name`, replacing an
  // older entry; the oldest name is dropped once the cache is full.
  void store(const std::string& name, std::span<const unsigned char> data);
  // A copy of the entry for `name`, or nullopt.
  std::optional<std::vector<unsigned char>> find(const std::string& name) const;
  // Forgets `name` (its resumption data was refused or is stale).
  void erase(const std::string& name);

 private:
  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::map<std::string, std::vector<unsigned char>> entries_;
  std::deque<std::string> order_;  // names by first store, for eviction
};

}  // namespace uptls::detail::gtls
