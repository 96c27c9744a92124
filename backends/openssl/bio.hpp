// A BIO whose reads and writes go through a uptls::transport, so that the engine
// does all its I/O through the transport it was handed (docs/architecture.md
// "Engines and backends").
#pragma once

#include <openssl/bio.h>

#include <system_error>

#include "uptls/transport.hpp"

namespace uptls::ossl {

// What the BIO learnt from the transport; OpenSSL only sees "failed" or "retry",
// so the engine reads the real cause here. Only the first event is kept.
struct bio_state {
  transport* io = nullptr;
  std::error_code error;  // the transport's own failure (timeout, reset, ...)
  bool eof = false;       // the transport reached end of stream
};

// A new BIO over state (which must outlive it); nullptr when out of memory.
BIO* make_transport_bio(bio_state& state);

}  // namespace uptls::ossl
