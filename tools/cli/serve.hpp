// `uptls serve PROTO`: a uptls server on the one-thread event loop
// (uptls::event_server) that prints every session, dialogue line and message.
// Like the probe's schemes, each protocol is a line in a small table with the
// function that makes its sessions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "output.hpp"
#include "plan.hpp"
#include "uptls/event_server.hpp"
#include "uptls/imap.hpp"
#include "uptls/smtp.hpp"

namespace uptls::cli {

// How a protocol's sessions report: the event loop resumes one session at a
// time on one thread, so the trace and the sink, which every session shares,
// report for the session being resumed now.
class serve_hooks {
 public:
  explicit serve_hooks(serve_output& out) : out_(out) {}
  std::function<void(std::string_view dir, std::string_view line)> tracer() {
    return [this](std::string_view dir, std::string_view line) { out_.line(current_, dir, line); };
  }
  void message(const smtp::message& m) { out_.message(current_, m); }
  void note(std::string_view text) { out_.line(current_, "*", text); }
  // The session being resumed (0 between sessions).
  std::uint64_t current_ = 0;

 private:
  serve_output& out_;
};

// Makes the sessions of one protocol. tls is null when no certificate was given.
using session_maker = event_server::factory (*)(const serve_plan& plan, std::shared_ptr<const context> tls,
                                                 serve_hooks& hooks);

struct serve_protocol {
  std::string_view name;        // "smtp"
  session_maker make;           // nullptr: not supported yet (exit_not_supported)
  std::string_view busy_reply;  // what a connection past --max-connections is told
  std::size_t max_line = smtp::max_line;  // the longest line a session reads
};

std::span<const serve_protocol> serve_protocols() noexcept;
const serve_protocol* find_serve_protocol(std::string_view name) noexcept;
// "smtp, lmtp" (supported) or "imap, pop3" (not yet).
std::string serve_protocol_names(bool supported);

// Runs the server the plan describes until SIGINT/SIGTERM (or, with --once, the
// end of the first session); returns the exit status.
int run_serve(const serve_plan& plan);

// The SMTP and LMTP sinks (smtp_serve.cpp).
event_server::factory make_smtp_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks);
event_server::factory make_lmtp_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks);
// The POP3 server over a built-in maildrop (pop3_serve.cpp).
event_server::factory make_pop3_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks);
// The ManageSieve server (sieve_serve.cpp).
event_server::factory make_sieve_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks);
// The IMAP server (imap_serve.cpp).
event_server::factory make_imap_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks);

}  // namespace uptls::cli
