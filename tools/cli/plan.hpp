// What a command was asked to do, after the command line was parsed and checked:
// the commands and their outputs read these, never the command line itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "schemes.hpp"
#include "uptls/backend.hpp"
#include "uptls/config.hpp"
#include "uptls/fallback.hpp"

namespace uptls::cli {

// A message to send: envelope and the data read from standard input.
struct outgoing_message {
  std::string from;
  std::vector<std::string> to;
  std::string data;
};

struct probe_plan {
  std::string url;                 // as given
  const scheme* proto = nullptr;   // from the table
  std::string host;
  std::uint16_t port = 0;
  const backend* library = nullptr;  // without --ladder
  profile security = profile::strict;  // without --ladder
  std::vector<rung> ladder;        // --ladder: non-empty
  bool eof_is_trigger = false;
  tls_config tls;                  // trust, client certificate, timeouts (security set per rung)
  std::string trust;               // "the system store" or the CA file, for the output
  std::string server_name;         // SNI and the name the certificate must carry
  std::chrono::milliseconds timeout{30'000};
  bool opportunistic = false;
  std::string ehlo = "localhost";
  std::optional<outgoing_message> send;
  bool json = false;

  bool implicit() const noexcept { return proto->start == tls_start::implicit; }
  bool laddered() const noexcept { return !ladder.empty(); }
};

// "openssl:strict,openssl:legacy": a ladder as --ladder writes it.
std::string ladder_text(const std::vector<rung>& ladder);

// The protocols `uptls serve` knows.
struct serve_protocol;

struct serve_plan {
  const serve_protocol* proto = nullptr;
  std::string listen = "127.0.0.1";
  std::uint16_t port = 0;          // 0: any free port (printed)
  const backend* library = nullptr;
  profile security = profile::strict;
  std::string cert_file;           // empty: no TLS offered
  std::string key_file;
  bool require_tls = false;
  bool implicit = false;
  std::size_t max_connections = 1024;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  bool once = false;
  bool json = false;

  // "STARTTLS", "implicit TLS" or "no TLS".
  std::string_view tls_mode() const noexcept {
    return cert_file.empty() ? "no TLS" : implicit ? "implicit TLS" : "STARTTLS";
  }
};

}  // namespace uptls::cli
