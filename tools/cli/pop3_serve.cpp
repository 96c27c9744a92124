// `uptls serve pop3`: uptls's POP3 server over a small built-in maildrop, for
// trying a POP3 client against STLS. It is a test server: every user name and
// password is accepted (the login is printed, the password never), and the
// maildrop holds one message that says what the session was.
#include "serve.hpp"
#include "uptls/pop3.hpp"

namespace uptls::cli {
namespace {

class welcome_drop final : public pop3::maildrop {
 public:
  explicit welcome_drop(serve_hooks& hooks) : hooks_(hooks) {}
  bool login(const pop3::login_request& who) override {
    hooks_.note("login as " + std::string(who.user) + (who.over_tls ? " inside TLS" : " WITHOUT TLS") +
                " (uptls serve accepts every password)");
    text_ = "From: uptls serve <postmaster@localhost>\r\n"
            "To: " + std::string(who.user) + "@localhost\r\n"
            "Subject: uptls serve pop3\r\n"
            "\r\n"
            "You are logged in as " + std::string(who.user) + (who.over_tls ? " over TLS" : " without TLS") +
            (who.session != nullptr ? " (" + std::string(to_string(who.session->version)) + ", " + who.session->suite.name + ")" : "") +
            ".\r\n";
    return true;
  }
  std::size_t count() const override { return 1; }
  std::size_t size(std::size_t) const override { return pop3::wire_size(text_); }
  std::string retrieve(std::size_t) override { return text_; }

 private:
  serve_hooks& hooks_;
  std::string text_;
};

}  // namespace

event_server::factory make_pop3_sessions(const serve_plan& plan, std::shared_ptr<const context> tls, serve_hooks& hooks) {
  auto opts = std::make_shared<pop3::server_options>();
  opts->tls = std::move(tls);  // with implicit TLS the stream is TLS already, and no STLS is offered
  opts->require_tls = plan.require_tls;
  opts->timeouts = pop3::server_timeouts{plan.timeout, plan.timeout};
  opts->trace = hooks.tracer();
  return pop3::session_factory(opts, [&hooks] { return std::make_unique<welcome_drop>(hooks); });
}

}  // namespace uptls::cli
