#include "session_cache.hpp"

namespace uptls::ossl {

void session_cache::put(const std::string& server_name, SSL_SESSION* sess) {
  session_ptr owned(sess);
  if (server_name.empty() || SSL_SESSION_is_resumable(sess) != 1) return;
  std::lock_guard lock(m_);
  // Bounded: a long-running client talking to many hosts forgets the oldest name
  // in key order, which is as good as any for a cache.
  if (by_name_.size() >= max_entries && by_name_.find(server_name) == by_name_.end()) {
    by_name_.erase(by_name_.begin());
  }
  by_name_[server_name] = std::move(owned);
}

session_ptr session_cache::take(const std::string& server_name) {
  std::lock_guard lock(m_);
  const auto it = by_name_.find(server_name);
  if (it == by_name_.end()) return nullptr;
  if (SSL_SESSION_get_protocol_version(it->second.get()) == TLS1_3_VERSION) {
    session_ptr once = std::move(it->second);
    by_name_.erase(it);
    return once;
  }
  SSL_SESSION_up_ref(it->second.get());
  return session_ptr(it->second.get());
}

}  // namespace uptls::ossl
