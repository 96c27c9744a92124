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

// The exchange written by hand for the stream, and the one that matches, byte
// for byte, what uptls's SMTP library (uptls/smtp.hpp) says on each side.
smtp_script hand_script();
smtp_script library_script();

// Writes facts into result (version, cipher, group, resumed).
void put_facts(json& result, const facts& f);

}  // namespace bench
