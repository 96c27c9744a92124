// What the commands report, as events, and the two ways to show them: text
// (the dialogue and the facts on standard output as they happen, errors and
// hints on standard error) and JSON (one object on standard output at the end,
// or one object per line for the server). The commands never print themselves.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "exit_code.hpp"
#include "plan.hpp"
#include "uptls/event_server.hpp"
#include "uptls/fallback.hpp"
#include "uptls/result.hpp"
#include "uptls/session.hpp"
#include "uptls/smtp.hpp"

namespace uptls::cli {

// Why a command failed, as both outputs show it.
struct failure_report {
  std::string name;        // "cert_untrusted", "smtp:550", "scheme_not_supported"
  std::string text;        // in words
  std::error_code code;    // empty when the failure is not an error_code (an unsupported scheme)
  const failure_info* detail = nullptr;  // the TLS library's code and text, alerts (handshake failures)
  stage where = stage::connect;
  std::string hint;        // what to try; may be empty
  int exit_status = exit_failed;
};

// "cert_expired" for uptls's own codes, "smtp:550" for a reply code, "generic:111" otherwise.
std::string error_name(std::error_code ec);

// How the peer's certificate was checked.
struct cert_check {
  bool verified = false;   // false only with --dangerous-skip-verification
  std::string server_name; // what it had to be for
  std::string trust;       // "the system store" or the CA file
};

// A message the server took (or refused).
struct delivery_report {
  const outgoing_message* message = nullptr;
  bool accepted = false;
  int code = 0;                  // the final reply code
  std::string reply;             // its last line's text
  std::vector<int> per_recipient;  // LMTP: one code per recipient
};

class probe_output {
 public:
  virtual ~probe_output() = default;
  // What is about to be tried.
  virtual void start(const probe_plan& plan) = 0;
  // A dialogue line: "C" (client), "S" (server), "*" (a note from uptls).
  virtual void line(std::string_view dir, std::string_view text) = 0;
  // A ladder attempt as it ended, and the ladder's outcome.
  virtual void attempt(const attempt_report& a) = 0;
  virtual void outcome(const fallback_report& r) = 0;
  // TLS is up: what it negotiated and how the certificate was checked.
  virtual void tls_up(const session_info& s, const cert_check& c) = 0;
  // The session went on in plaintext (--opportunistic), and why.
  virtual void without_tls(std::error_code why) = 0;
  // The server's capabilities (after the upgrade: the ones it gave over TLS).
  virtual void capabilities(const std::vector<std::string>& caps) = 0;
  virtual void delivered(const delivery_report& d) = 0;
  virtual void failure(const failure_report& f) = 0;
  // The end; status is the exit status.
  virtual void finish(int status) = 0;
};

std::unique_ptr<probe_output> make_text_probe_output();
std::unique_ptr<probe_output> make_json_probe_output();

class serve_output {
 public:
  virtual ~serve_output() = default;
  // Ready for connections (tests read the port from this line).
  virtual void listening(const serve_plan& plan, std::uint16_t port) = 0;
  // A connection was taken into a session; address and port of the client.
  virtual void session_start(std::uint64_t id, std::string_view address, std::uint16_t port) = 0;
  virtual void line(std::uint64_t id, std::string_view dir, std::string_view text) = 0;
  virtual void message(std::uint64_t id, const smtp::message& m) = 0;
  virtual void session_end(std::uint64_t id, const result<>& why) = 0;
  // A connection past --max-connections was told busy and closed.
  virtual void refused(std::size_t refused_so_far, std::size_t limit) = 0;
  // The server could not start or its loop failed.
  virtual void failure(const failure_report& f) = 0;
  virtual void stopped(const event_server_stats& stats, std::string_view why) = 0;
};

std::unique_ptr<serve_output> make_text_serve_output();
std::unique_ptr<serve_output> make_json_serve_output();

// The compiled-in backends, for `uptls backends`.
void print_backends_text();
void print_backends_json();

}  // namespace uptls::cli
