// The measured cases, the same for every implementation.
#pragma once

#include <cstddef>
#include <string>

#include "bench.hpp"

namespace bench {

struct options {
  std::string case_name;
  std::string transport = "unix";
  double seconds = 1.0;          // handshake cases: time box
  std::size_t min_count = 10;    // handshake cases: at least this many
  std::size_t bytes = 64 << 20;  // bulk: total
  std::size_t write = 16 << 10;  // bulk: bytes per write call
  std::size_t count = 200;       // starttls: samples; idle-heap: connections
  setup tls;
};

// Each fills result with the case's figures; throws on failure or bench::unsupported.
void run_handshakes(implementation& impl, const options& o, json& result);
void run_bulk(implementation& impl, const options& o, json& result);
void run_starttls(implementation& impl, const options& o, json& result);
void run_idle_heap(implementation& impl, const options& o, json& result);

// The SMTP exchange up to the first reply over TLS (RFC 3207), written by hand
// so that every implementation sends the same bytes.
void smtp_server_dialogue(connection& c);
void smtp_client_dialogue(connection& c);
// After the timed part: QUIT and its reply.
void smtp_server_quit(connection& c);
void smtp_client_quit(connection& c);

// Writes facts into result (version, cipher, group, resumed).
void put_facts(json& result, const facts& f);

}  // namespace bench
