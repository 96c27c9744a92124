// OpenSSL used straight through its own API, the baseline for uptls's openssl backend.
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "impl.hpp"

namespace bench {

implementation& raw_openssl_impl();

// The configuration both OpenSSL baselines (raw and Asio) apply to an SSL_CTX:
// versions, groups, suites, trust or certificate, verification. Throws on failure.
void configure_openssl_ctx(SSL_CTX* ctx, const setup& s, bool server);

// The IANA name of the connection's cipher, its group and version.
facts openssl_facts(SSL* ssl);

// The library's error queue as text (and clears it).
std::string openssl_errors();

}  // namespace bench
