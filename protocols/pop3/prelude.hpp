// The client's plaintext dialogue up to the go-ahead (greeting, CAPA, STLS,
// +OK) as a state machine, shared by pop3::client::open and starttls_dialogue.
#pragma once

#include <string>
#include <vector>

#include "dialogue.hpp"
#include "uptls/pop3.hpp"

namespace uptls::pop3::detail {

// CAPA and its list, across calls: ok with caps filled (empty after a -ERR:
// the server knows no CAPA, so it offers nothing).
class capa_exchange {
 public:
  result<> run(stream& s, response& r, std::vector<std::string>& caps, const trace_fn& trace);

 private:
  bool listing_ = false;
  exchange exchange_;
  list_reader list_;
};

class prelude_machine {
 public:
  // opts must outlive the machine.
  explicit prelude_machine(const client_options& opts) : opts_(opts) {}

  // ok once the +OK to STLS was read (nothing past it); would-block; or why it
  // stopped (see starttls_dialogue). The outcome is kept: later calls repeat it.
  result<> resume(stream& s);

  std::vector<std::string>& capabilities() noexcept { return caps_; }
  const std::vector<std::string>& capabilities() const noexcept { return caps_; }
  const response& last_response() const noexcept { return last_; }

 private:
  enum class step { greeting, capa, stls, finished };
  result<> finish(result<> r) {
    step_ = step::finished;
    outcome_ = r;
    return r;
  }

  const client_options& opts_;
  step step_ = step::greeting;
  capa_exchange capa_;
  exchange exchange_;
  response last_;
  std::vector<std::string> caps_;
  result<> outcome_;
};

}  // namespace uptls::pop3::detail
