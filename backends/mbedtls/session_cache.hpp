// Client sessions kept for resumption, one per server name, shared by the
// engines of one context. mbedTLS leaves client-side caching to the caller.
#pragma once

#include <mbedtls/ssl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace uptls::mbed {

class session_cache {
 public:
  explicit session_cache(std::size_t capacity = 64) : capacity_(capacity) {}

  // Offers the session saved for name to a handshake not yet started; false when none.
  bool restore(const std::string& name, mbedtls_ssl_context& ssl);
  // Saves the session of a finished handshake for name, replacing an older one.
  void store(const std::string& name, const mbedtls_ssl_context& ssl);
  // Drops the session saved for name (after a failed handshake that offered it).
  void forget(const std::string& name);

 private:
  struct session_free {
    void operator()(mbedtls_ssl_session* s) const noexcept;
  };
  struct entry {
    std::string name;
    std::unique_ptr<mbedtls_ssl_session, session_free> session;
    std::uint64_t used = 0;
  };

  std::mutex mutex_;
  std::vector<entry> entries_;  // few: a linear scan beats a map here
  std::size_t capacity_;
  std::uint64_t clock_ = 0;
};

}  // namespace uptls::mbed
