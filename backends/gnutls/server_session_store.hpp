// The server's TLS 1.2 session-ID cache: what GnuTLS hands its db store
// function, found again by session ID when a client offers that ID. GnuTLS
// keeps no server cache of its own; without one a client that takes no
// tickets (openssl s_client -no_ticket, many MTAs) never resumes.
//
// One store per server context, shared by every connection made from it (so
// a mutex guards it). Bounded: when full, the entry stored first goes. Entries
// expire `lifetime` after they were stored, whatever GnuTLS says about them.
// The data holds the session's master secret: it is wiped before release.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace uptls::detail::gtls {

class server_session_store {
 public:
  using clock = std::chrono::steady_clock;

  server_session_store(std::size_t capacity, std::chrono::seconds lifetime);
  ~server_session_store();
  server_session_store(const server_session_store&) = delete;
  server_session_store& operator=(const server_session_store&) = delete;

  // Keeps data under key (a session ID), replacing an older entry with that key.
  // False, and nothing kept, for an empty key or data, or a key longer than 32
  // bytes (RFC 5246 7.4.1.2: a session ID is at most 32 bytes).
  bool store(std::span<const unsigned char> key, std::span<const unsigned char> data, clock::time_point now);
  // A copy of the live entry under key; an expired one is dropped and not returned.
  std::optional<std::vector<unsigned char>> retrieve(std::span<const unsigned char> key, clock::time_point now);
  // Forgets key; false when there was no such entry.
  bool remove(std::span<const unsigned char> key);
  // Entries held (expired ones included until something touches them).
  std::size_t size() const;

  std::size_t capacity() const noexcept { return capacity_; }
  std::chrono::seconds lifetime() const noexcept { return lifetime_; }

 private:
  struct entry {
    std::vector<unsigned char> data;
    clock::time_point expires;
    std::uint64_t order = 0;  // when it was stored, for eviction
  };
  void drop(std::map<std::string, entry>::iterator it);
  void evict_one(clock::time_point now);

  mutable std::mutex mutex_;
  const std::size_t capacity_;
  const std::chrono::seconds lifetime_;
  std::map<std::string, entry> entries_;
  std::map<std::uint64_t, std::string> by_order_;  // oldest first
  std::uint64_t next_order_ = 0;
};

}  // namespace uptls::detail::gtls
