// `uptls matrix`: the compatibility matrix. Every cell (protocol x mode x
// client x client profile x server x server configuration) is run on loopback
// with real sockets and compared with the reviewed expectations of a data file
// (tests/matrix/expected.json). The data file's rules are read in
// matrix_model.cpp, the cells run in matrix_run.cpp (uptls against uptls) and
// matrix_peers.cpp (real peers), the reports are written in matrix_report.cpp.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "uptls/backend.hpp"
#include "uptls/session.hpp"

namespace uptls::cli::matrix {

// What a cell must do, as the data file says.
struct expectation {
  enum class kind { ok, error, peer_error, not_run };
  kind what = kind::ok;
  std::string version;     // ok: "TLSv1.3" / "TLSv1.2"
  std::string suite;       // ok: a suite family of the data file, e.g. "tls13-aead"
  std::string error;       // error: the errc name, e.g. "cert_expired"
  std::string peer_text;   // peer_error: words the real peer prints (case-insensitive)
  bool fell_back = false;  // the ladder used its second rung
  std::string why;         // not_run: the capability that is missing
  int rule = -1;           // index of the deciding rule (or of the "needs" entry)
};

// The negotiated facts a cell reports. Read from a session_info by facts_of()
// only, so that a change of session_info's fields changes one function.
struct facts {
  std::string version;       // "TLSv1.3"
  std::string cipher;        // IANA name
  std::string key_exchange;  // "ECDHE", "DHE", "RSA", "PSK" (uptls::to_string(key_exchange))
};
facts facts_of(const session_info& s);

// What a cell did.
struct outcome {
  bool ran = false;
  bool ok = false;
  facts negotiated;
  std::string error;      // errc name at the uptls end, when it failed
  std::string peer_text;  // a real peer's own output, trimmed (failures and oddities)
  std::string detail;     // what went wrong, in words, for the report
  bool fell_back = false;
  std::chrono::milliseconds elapsed{0};
};

struct cell {
  std::string protocol, mode, client, client_profile, server, server_config;
  bool client_is_peer = false, server_is_peer = false;
  expectation expect;
  outcome got;
  bool matched = false;
  std::string mismatch;  // why it did not match, in words
  // "smtp/starttls/openssl:strict->gnutls/tls13"
  std::string name() const;
};

// The data file, parsed.
struct server_config {
  std::string id, title, cert;
  std::optional<std::string> min, max;
  bool rsa_kx_only = false;
};
struct peer_info {
  std::string id, title, package;
  std::vector<std::string> modes;
};
struct model {
  std::string path;
  std::vector<std::pair<std::string, std::vector<std::string>>> protocols;  // protocol -> modes
  std::map<std::string, std::string> mode_titles;
  std::vector<std::string> client_profiles;  // for uptls clients (not "default")
  std::vector<server_config> server_configs;
  std::vector<peer_info> peer_clients, peer_servers;
  std::map<std::string, std::vector<std::string>> suite_families;
};

// Reads the data file; throws std::runtime_error naming the file and what is wrong.
model load_model(const std::string& path);
// Every cell of the model for the compiled-in backends, each with its
// expectation (not run yet). Throws when a cell matches no rule.
std::vector<cell> enumerate(const model& m);
// Compares got with expect, sets matched and mismatch.
void judge(const model& m, cell& c);

struct run_options {
  std::string certs;  // ca.pem, server-rsa.*, server-ecdsa.*, expired.*, wronghost.*
  std::string helpers;  // folder of matrix helper scripts (peer_smtpd.py)
  int jobs = 8;
  std::chrono::milliseconds timeout{10'000};  // per cell
};
// Runs the cells (those with expect.what != not_run) in parallel; fills got.
// Throws std::runtime_error when a real peer is missing (naming its package).
void run_cells(const model& m, std::vector<cell>& cells, const run_options& o);

// Reports.
std::string markdown(const model& m, const std::vector<cell>& cells);
std::string json_report(const model& m, const std::vector<cell>& cells, std::chrono::milliseconds total);
std::string html_report(const model& m, const std::vector<cell>& cells, std::chrono::milliseconds total);
// One line per cell: name, expectation (and the rule that gave it).
std::string expectation_list(const model& m, const std::vector<cell>& cells);
std::string describe(const expectation& e);
std::string describe(const outcome& o);

}  // namespace uptls::cli::matrix
