// The client's plaintext dialogue up to the go-ahead (greeting, CAPABILITY,
// STARTTLS, tagged OK) as a state machine, shared by imap::client::open and
// starttls_dialogue.
#pragma once

#include <string>
#include <system_error>
#include <vector>

#include "uptls/imap.hpp"
#include "wire.hpp"

namespace uptls::imap::detail {

class prelude_machine {
 public:
  // opts must outlive the machine.
  explicit prelude_machine(const client_options& opts) : opts_(opts) {}

  // ok once the tagged OK to STARTTLS was read (nothing past it); would-block;
  // or why it stopped (see starttls_dialogue). The outcome is kept: later calls
  // repeat it.
  result<> resume(stream& s);

  // The pre-TLS capabilities (empty until known).
  std::vector<std::string>& capabilities() noexcept { return caps_; }
  const std::vector<std::string>& capabilities() const noexcept { return caps_; }
  const response& last_response() const noexcept { return last_; }

 private:
  enum class step { greeting, capability, starttls, finished };
  result<> finish(result<> r) {
    step_ = step::finished;
    outcome_ = r;
    return r;
  }

  const client_options& opts_;
  step step_ = step::greeting;
  response_reader reader_;
  command_run command_;
  response last_;
  std::vector<std::string> caps_;
  bool have_caps_ = false;
  result<> outcome_;
};

}  // namespace uptls::imap::detail
