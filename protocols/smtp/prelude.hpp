// The client's plaintext dialogue up to the go-ahead (greeting, EHLO, STARTTLS,
// 220) as a state machine, shared by smtp::client::open and starttls_dialogue.
#pragma once

#include <string>
#include <system_error>
#include <vector>

#include "dialogue.hpp"
#include "uptls/smtp.hpp"

namespace uptls::smtp::detail {

class prelude_machine {
 public:
  // opts must outlive the machine.
  explicit prelude_machine(const client_options& opts) : opts_(opts) {}

  // ok once the 220 go-ahead was read (nothing past it); would-block; or why it
  // stopped (see starttls_dialogue). The outcome is kept: later calls repeat it.
  result<> resume(stream& s);

  // The pre-TLS EHLO keywords (empty if EHLO was refused).
  std::vector<std::string>& capabilities() noexcept { return caps_; }
  const std::vector<std::string>& capabilities() const noexcept { return caps_; }
  const reply& last_reply() const noexcept { return last_; }
  // EHLO was refused with something else than 421/221 (an old server that only knows HELO).
  bool ehlo_refused() const noexcept { return ehlo_refused_; }

 private:
  enum class step { check, greeting, hello, starttls, finished };
  result<> finish(result<> r) {
    step_ = step::finished;
    outcome_ = r;
    return r;
  }

  const client_options& opts_;
  step step_ = step::check;
  reply_reader reader_;
  exchange exchange_;
  reply last_;
  std::vector<std::string> caps_;
  bool ehlo_refused_ = false;
  result<> outcome_;
};

// "EHLO" or "LHLO".
inline const char* hello_verb(dialect d) noexcept { return d == dialect::lmtp ? "LHLO" : "EHLO"; }

}  // namespace uptls::smtp::detail
