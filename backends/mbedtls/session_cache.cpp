#include "session_cache.hpp"

#include <algorithm>

namespace uptls::mbed {

void session_cache::session_free::operator()(mbedtls_ssl_session* s) const noexcept {
  mbedtls_ssl_session_free(s);
  delete s;
}

bool session_cache::restore(const std::string& name, mbedtls_ssl_context& ssl) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const entry& e) { return e.name == name; });
  if (it == entries_.end()) return false;
  it->used = ++clock_;
  // mbedtls_ssl_set_session copies the session into the handshake.
  return mbedtls_ssl_set_session(&ssl, it->session.get()) == 0;
}

void session_cache::store(const std::string& name, const mbedtls_ssl_context& ssl) {
  std::unique_ptr<mbedtls_ssl_session, session_free> s(new mbedtls_ssl_session);
  mbedtls_ssl_session_init(s.get());
  if (mbedtls_ssl_get_session(&ssl, s.get()) != 0) return;

  std::lock_guard lock(mutex_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const entry& e) { return e.name == name; });
  if (it == entries_.end() && entries_.size() >= capacity_) {
    it = std::min_element(entries_.begin(), entries_.end(),
                          [](const entry& a, const entry& b) { return a.used < b.used; });
  }
  if (it == entries_.end()) {
    entries_.push_back({name, std::move(s), ++clock_});
    return;
  }
  it->name = name;
  it->session = std::move(s);
  it->used = ++clock_;
}

void session_cache::forget(const std::string& name) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const entry& e) { return e.name == name; });
}

}  // namespace uptls::mbed
