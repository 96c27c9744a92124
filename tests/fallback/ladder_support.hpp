// Shared pieces of the fallback tests that run real ladders: the request they
// send and the exact report text they expect.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "peers.hpp"
#include "relay.hpp"
#include "support.hpp"
#include "uptls/fallback.hpp"

namespace uptls::test {

// A request to 127.0.0.1:port checked against the name "localhost" (every backend
// matches DNS names), trusting the test CA, with short timeouts (the I/O timeout
// is the stream's now: each attempt's stream gets stream_opts).
inline fallback_request request_to(std::uint16_t port, std::vector<rung> ladder) {
  fallback_request r;
  r.host = "127.0.0.1";
  r.port = port;
  r.socket.connect_timeout = 5s;
  r.stream_opts.io_timeout = 5s;
  r.peer.server_name = "localhost";
  r.base = client_config(profile::strict);
  r.base.handshake_timeout = 10s;
  r.ladder = std::move(ladder);
  return r;
}

// A prelude made of one step, resumed like any dialogue: step(stream&) returns
// would-block to be called again once the stream is ready, ok when the stream is
// ready for the handshake, or why it failed. Each attempt gets its own copy of
// step (and of whatever state it captured), as each gets a fresh connection.
template <class Step>
prelude prelude_of(Step step) {
  class dialogue final : public prelude_dialogue {
   public:
    explicit dialogue(Step s) : step_(std::move(s)) {}
    result<> resume(stream& s) override { return step_(s); }

   private:
    Step step_;
  };
  return [step] { return std::make_unique<dialogue>(step); };
}

// "openssl strict", as the report names a rung.
inline std::string rung_text(const backend& b, profile p) {
  return std::string(b.name()) + " " + std::string(to_string(p));
}

// The part of a failure line that only the backend knows: its own code and words.
// The report prints them as given; everything around them is fixed text.
inline std::string library_part(const failure_info& f) {
  if (f.library) {
    std::string s = "; " + std::string(f.library.category().name()) + " " + std::to_string(f.library.value());
    if (!f.text.empty()) s += ": \"" + f.text + "\"";
    return s;
  }
  return f.text.empty() ? std::string() : "; \"" + f.text + "\"";
}

// "; alert 50 sent" when the backend says it sent an alert (OpenSSL does after an EOF).
inline std::string sent_part(const failure_info& f) {
  return f.alert_sent >= 0 ? "; alert " + std::to_string(f.alert_sent) + " sent" : std::string();
}

// The line of a strict attempt that a server refused with a fatal alert 40.
inline std::string alert40_line(std::size_t n, std::size_t of, const backend& b, const failure_info& f,
                                const std::string& verdict) {
  return "attempt " + std::to_string(n) + "/" + std::to_string(of) + " " + rung_text(b, profile::strict) +
         ": handshake failed: handshake_failure (TLS handshake failure: no parameters in common; alert 40 received" +
         sent_part(f) + library_part(f) + ") -> " + verdict;
}

inline const std::string alert40_next =
    "next rung: fatal alert 40 (handshake_failure) before the server's first handshake message: policy mismatch";

// The line of a legacy attempt that won on TLS_RSA_WITH_AES_128_GCM_SHA256.
inline std::string legacy_rsa_win_line(std::size_t n, std::size_t of, const backend& b) {
  return "attempt " + std::to_string(n) + "/" + std::to_string(of) + " " + rung_text(b, profile::legacy) +
         ": connected: TLSv1.2 TLS_RSA_WITH_AES_128_GCM_SHA256 (RSA, not forward secret) -> won: legacy session "
         "after a policy fallback, not forward secret";
}

// Every legacy-capable backend compiled in, for rungs that need RSA key exchange.
inline bool has_rsa(const backend& b) { return b.caps().rsa_key_exchange; }

}  // namespace uptls::test
