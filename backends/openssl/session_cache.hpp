// The client's session cache: one per context, keyed by server name, filled by
// OpenSSL's new-session callback and consulted when the next engine starts.
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <mutex>
#include <string>

#include "handles.hpp"

namespace uptls::ossl {

class session_cache {
 public:
  // Keeps sess (taking over the caller's reference) for server_name.
  void put(const std::string& server_name, SSL_SESSION* sess);
  // A session to offer to server_name, or null. TLS 1.3 tickets are handed out
  // once (RFC 8446 C.4: reuse would let observers link connections).
  session_ptr take(const std::string& server_name);

 private:
  static constexpr std::size_t max_entries = 1024;
  std::mutex m_;
  std::map<std::string, session_ptr> by_name_;
};

}  // namespace uptls::ossl
