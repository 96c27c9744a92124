// The IMAP server of `uptls serve imap`: uptls's own server session in front of
// a one-message INBOX. It takes every login (it is a tool for trying clients
// and TLS settings, not a mail store) and reports each one, never the password.
#include <algorithm>

#include "serve.hpp"
#include "uptls/imap.hpp"

namespace uptls::cli {
namespace {

const std::string welcome =
    "From: uptls <uptls@localhost>\r\n"
    "To: you@localhost\r\n"
    "Subject: uptls serve imap\r\n"
    "\r\n"
    "This INBOX is served by uptls serve imap: every login sees this one message.\r\n";

class welcome_mailbox final : public imap::mailbox {
 public:
  std::vector<std::string> folders() override { return {"INBOX"}; }
  std::optional<std::uint32_t> open_folder(std::string_view name) override {
    if (name.size() != 5 || !std::equal(name.begin(), name.end(), "INBOX", [](char a, char b) {
          return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
        })) {
      return std::nullopt;
    }
    return 1;
  }
  std::optional<std::string> message(std::uint32_t seq) override {
    if (seq != 1) return std::nullopt;
    return welcome;
  }
};

// The user name as it may go into the output: printable ASCII only.
std::string shown(std::string_view user) {
  const bool printable = !user.empty() && user.size() <= 64 &&
                         std::all_of(user.begin(), user.end(), [](char c) { return c >= ' ' && c < 0x7f; });
  return printable ? "'" + std::string(user) + "'" : std::string("(a name that is not printable)");
}

}  // namespace

event_server::factory make_imap_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks) {
  auto opts = std::make_shared<imap::server_options>();
  // With implicit TLS the stream is TLS before the session starts, and the
  // session offers no STARTTLS on it.
  opts->tls = std::move(tls);
  opts->require_tls = plan.require_tls;
  opts->timeouts = imap::server_timeouts{plan.timeout, plan.timeout};
  opts->trace = hooks.tracer();
  return imap::session_factory(opts, [&hooks](const imap::login_request& r) -> std::unique_ptr<imap::mailbox> {
    hooks.note("login as " + shown(r.user) + (r.over_tls ? " inside TLS" : " in PLAINTEXT") +
               ": accepted (uptls serve imap takes every login)");
    return std::make_unique<welcome_mailbox>();
  });
}

}  // namespace uptls::cli
