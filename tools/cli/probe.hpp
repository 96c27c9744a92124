// `uptls probe URL`: the part every scheme shares. probe_env is what a scheme's
// dialogue (schemes.hpp) works with: the plan, the output, dialling, the
// direct handshake's context, the fallback ladder, and the endings that pick
// the exit status and the hint.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

#include "exit_code.hpp"
#include "output.hpp"
#include "plan.hpp"
#include "uptls/fallback.hpp"
#include "uptls/stream.hpp"

namespace uptls::cli {

// Runs the probe the plan describes; returns the exit status.
int run_probe(const probe_plan& plan);

class probe_env {
 public:
  using trace_fn = std::function<void(std::string_view dir, std::string_view line)>;

  probe_env(const probe_plan& plan, probe_output& out) : plan_(plan), out_(out) {}

  const probe_plan& plan() const noexcept { return plan_; }
  // Shows each dialogue line and counts the server's (a silent server is a hint).
  trace_fn tracer();
  // Where the session is now; a dialogue moves it on as it goes.
  void at(stage s) noexcept { stage_ = s; }
  stage where() const noexcept { return stage_; }

  // Stream options with the plan's timeout; a scheme adds its line limits.
  stream_options stream_defaults() const;
  // Without --ladder: dials the plan's host and port, a blocking plaintext stream.
  result<stream> dial(const stream_options& opts);
  // Without --ladder: the client context of the plan's backend and profile (made once).
  result<std::shared_ptr<const context>> tls_context();
  // The name to send as SNI and to check the certificate against.
  peer_options peer() const;
  // With --ladder: runs it with the scheme's prelude, showing every attempt and the outcome.
  fallback_result climb(prelude before_tls, const stream_options& opts);

  void tls_up(const session_info& s);
  void without_tls(std::error_code why);
  void capabilities(const std::vector<std::string>& caps) { out_.capabilities(caps); }
  void delivered(const delivery_report& d) { out_.delivered(d); }

  // Endings: each reports and returns the exit status.
  int failed(std::error_code ec, const failure_info* detail = nullptr);
  int ladder_failed(const fallback_report& r);
  int succeeded() { return exit_ok; }

 private:
  int fail_with(std::error_code ec, const failure_info* detail, stage where, profile failed_profile);

  const probe_plan& plan_;
  probe_output& out_;
  stage stage_ = stage::connect;
  int server_lines_ = 0;
  std::shared_ptr<const context> ctx_;
};

}  // namespace uptls::cli
