// The server side as a state machine: the capability greeting, STARTTLS on the
// same connection, the capabilities again inside TLS (RFC 5804 2.2),
// AUTHENTICATE PLAIN, then the application's commands. Responses are queued on
// the stream and flushed before the session waits for the client again.
#include <utility>

#include "uptls/sieve.hpp"
#include "../sasl.hpp"
#include "wire.hpp"

namespace uptls::sieve {

class server_session::impl {
 public:
  impl(stream s, std::shared_ptr<const server_options> opts) : s_(std::move(s)), opts_(std::move(opts)) {
    // The client's lines are traced here, with credentials masked.
    if (opts_->trace) {
      reader_trace_ = [this](std::string_view dir, std::string_view line) {
        if (step_ == step::auth_response) return opts_->trace(dir, "(SASL response not shown)");
        if (line.size() >= 12 && detail::iequals(line.substr(0, 12), "AUTHENTICATE")) {
          return opts_->trace(dir, "AUTHENTICATE (mechanism and credentials not shown)");
        }
        opts_->trace(dir, line);
      };
    }
  }

  result<> resume();
  bool done() const noexcept { return step_ == step::done; }

  stream s_;

 private:
  enum class step { greet, command, auth_response, handshake, closing, done };

  const server_options& opts() const noexcept { return *opts_; }
  void note(std::string_view text) const {
    if (opts().trace) opts().trace("*", text);
  }
  void send(std::string_view text) {
    const result<> r = detail::write_line(s_, text, opts().trace, "S");
    if (r.failed()) end(r.error());
  }
  // A status line: OK / NO / BYE, the optional (code) and the quoted text.
  void answer(status kind, std::string_view code, std::string_view text) {
    std::string line = kind == status::ok ? "OK" : kind == status::no ? "NO" : "BYE";
    if (!code.empty()) line.append(" (").append(code).append(")");
    if (!text.empty()) line.append(" ").append(quote(text));
    send(line);
  }
  // A refused command; the last one allowed turns into BYE and the end of the session.
  void refuse(std::string_view text, std::string_view code = {}) {
    if (++errors_ >= opts().max_errors) {
      answer(status::bye, {}, "too many errors, closing");
      end(make_error_code(errc::protocol_error));
      return;
    }
    answer(status::no, code, text);
  }
  void end(std::error_code why) {
    if (step_ == step::closing || step_ == step::done) return;
    outcome_ = why;
    step_ = step::closing;
  }
  void wait_for_command() {
    step_ = step::command;
    s_.set_read_deadline(clock::now() + opts().timeouts.command);
  }
  bool tls_offered() const { return opts().tls != nullptr && !s_.is_tls() && !authenticated_; }
  // SASL mechanisms are offered only where a login may happen.
  bool login_allowed() const { return opts().check_login && (s_.is_tls() || !opts().require_tls); }

  void send_capabilities(std::string_view done_text);
  result<> on_line();
  void dispatch(std::vector<detail::token>& tokens);
  void on_starttls(const std::vector<std::string>& args);
  void on_authenticate(const std::vector<std::string>& args);
  void check_plain(std::string_view base64);
  void on_application(command cmd);

  std::shared_ptr<const server_options> opts_;
  trace_fn reader_trace_;
  step step_ = step::greet;
  result<> outcome_;
  detail::line_reader reader_;
  std::vector<detail::token> tokens_;
  bool authenticated_ = false;
  std::string user_;
  int errors_ = 0;
};

result<> server_session::impl::resume() {
  // Bounded: each round handles one command or moves the session on.
  for (int round = 0; round < 256; ++round) {
    switch (step_) {
      case step::done:
        return outcome_;
      case step::greet:
        send_capabilities("uptls ManageSieve ready");
        s_.set_read_deadline(clock::now() + opts().timeouts.greeting);
        if (step_ == step::greet) step_ = step::command;
        break;
      case step::command:
      case step::auth_response:
        if (const result<> r = on_line(); r.would_block()) return r;
        break;
      case step::handshake: {
        const result<> r = s_.start_tls(opts().tls);
        if (r.would_block()) return r;
        if (r.failed()) {
          note("TLS handshake failed: " + r.error().message());
          end(r.error());
          break;
        }
        if (opts().trace) {
          const session_info& info = *s_.session();
          note("TLS established: " + std::string(to_string(info.version)) + " " + info.suite.name);
        }
        // RFC 5804 2.2: the capabilities again, now that they cannot be forged.
        send_capabilities("TLS negotiation successful");
        if (step_ == step::handshake) wait_for_command();
        break;
      }
      case step::closing: {
        const result<> r = s_.close();
        if (r.would_block()) return r;
        step_ = step::done;
        s_.set_read_deadline(std::nullopt);
        break;
      }
    }
  }
  // A long batch: yield so that one client cannot starve the others of an event loop.
  return result<>::blocked(wait_for::write);
}

void server_session::impl::send_capabilities(std::string_view done_text) {
  std::vector<std::string> lines = {"\"IMPLEMENTATION\" " + quote(opts().implementation),
                                    // RFC 5804 1.7: SASL is always listed, empty where no login may happen.
                                    std::string("\"SASL\" ") + (login_allowed() ? "\"PLAIN\"" : "\"\""),
                                    "\"SIEVE\" " + quote(opts().sieve_extensions)};
  if (tls_offered()) lines.emplace_back("\"STARTTLS\"");
  lines.emplace_back("\"VERSION\" \"1.0\"");
  // One write for the whole response (one TLS record after the upgrade).
  std::string wire;
  for (const auto& l : lines) {
    if (opts().trace) opts().trace("S", l);
    wire.append(l).append("\r\n");
  }
  if (const result<> r = s_.write(wire); r.failed()) return end(r.error());
  answer(status::ok, {}, done_text);
}

// One command line (or the SASL response): replies so far go out, then it is read and run.
result<> server_session::impl::on_line() {
  if (const result<> f = s_.flush(); !f) {
    if (!f.would_block()) end(f.error());
    return f;
  }
  // No command takes more than two strings: a few literals bound a command's memory.
  const detail::line_limits_t lim{opts().max_literal, 64, 4};
  const result<> got = reader_.read(s_, tokens_, lim, reader_trace_, "C");
  if (got.would_block()) return got;
  if (got.error() == errc::line_too_long) {
    note("a command line over the limit was discarded");
    if (step_ == step::auth_response) step_ = step::command;
    refuse("line too long");
    return {};
  }
  if (got.error() == errc::protocol_error && reader_.literal_too_long()) {
    // Its octets are on their way whatever we say: end the session rather than
    // read them as commands.
    note("a literal over the limit was announced: closing");
    answer(status::bye, {}, "literal too long");
    end(make_error_code(errc::protocol_error));
    return {};
  }
  if (got.error() == errc::protocol_error) {
    if (step_ == step::auth_response) step_ = step::command;
    refuse("syntax error");
    return {};
  }
  if (got.failed()) {
    if (got.error() == errc::timeout) answer(status::bye, {}, "timeout, closing");
    end(got.error());
    return {};
  }
  s_.set_read_deadline(clock::now() + opts().timeouts.command);
  if (step_ == step::auth_response) {
    step_ = step::command;
    if (tokens_.size() != 1 || tokens_[0].k != detail::token::kind::string) {
      refuse("syntax error");
    } else if (tokens_[0].text == "*") {
      answer(status::no, {}, "authentication aborted");
    } else {
      check_plain(tokens_[0].text);
    }
    return {};
  }
  dispatch(tokens_);
  return {};
}

void server_session::impl::dispatch(std::vector<detail::token>& tokens) {
  if (tokens.empty() || tokens[0].k != detail::token::kind::atom) return refuse("syntax error");
  command cmd{detail::upper(tokens[0].text), {}};
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    if (tokens[i].k == detail::token::kind::open || tokens[i].k == detail::token::kind::close) {
      return refuse("syntax error");
    }
    cmd.args.push_back(std::move(tokens[i].text));
  }
  if (cmd.name == "CAPABILITY") {
    if (!cmd.args.empty()) return refuse("CAPABILITY takes no arguments");
    return send_capabilities("Capability completed");
  }
  if (cmd.name == "NOOP") {
    if (cmd.args.size() > 1) return refuse("NOOP takes at most one argument");
    return answer(status::ok, cmd.args.empty() ? std::string() : "TAG " + quote(cmd.args[0]), "Done");
  }
  if (cmd.name == "LOGOUT") {
    answer(status::ok, {}, "Logout completed");
    return end({});
  }
  if (cmd.name == "STARTTLS") return on_starttls(cmd.args);
  if (cmd.name == "AUTHENTICATE") return on_authenticate(cmd.args);
  if (!authenticated_) return refuse("authenticate first");
  on_application(std::move(cmd));
}

void server_session::impl::on_starttls(const std::vector<std::string>& args) {
  if (!args.empty()) return refuse("STARTTLS takes no arguments");
  if (s_.is_tls()) return refuse("TLS already active");
  if (authenticated_) return refuse("STARTTLS after login is not allowed");
  if (opts().tls == nullptr) return refuse("STARTTLS not available");
  if (s_.buffered() > 0) {
    // Commands pipelined behind STARTTLS came in plaintext; running them inside
    // TLS would treat them as protected (CVE-2011-0411 and its kin).
    note("bytes were pipelined after STARTTLS: refusing the upgrade");
    answer(status::bye, {}, "no commands may follow STARTTLS before the TLS handshake");
    return end(make_error_code(errc::plaintext_injection));
  }
  answer(status::ok, {}, "Begin TLS negotiation now");
  // start_tls() sends the queued OK before the handshake, which has its own deadline.
  s_.set_read_deadline(std::nullopt);
  if (step_ == step::command) step_ = step::handshake;
}

void server_session::impl::on_authenticate(const std::vector<std::string>& args) {
  if (authenticated_) return refuse("already authenticated");
  if (args.empty() || args.size() > 2) return refuse("syntax: AUTHENTICATE mechanism [initial-response]");
  if (opts().require_tls && !s_.is_tls()) {
    // RFC 5804 1.3: the response code that tells the client to use STARTTLS first.
    note("AUTHENTICATE before TLS refused (TLS is required)");
    return refuse("TLS is required before authentication", "ENCRYPT-NEEDED");
  }
  if (!detail::iequals(args[0], "PLAIN") || !opts().check_login) return refuse("unsupported SASL mechanism");
  if (args.size() == 2) return check_plain(args[1]);
  send("\"\"");  // the empty PLAIN challenge; the client answers with its string
  step_ = step::auth_response;
}

void server_session::impl::check_plain(std::string_view base64) {
  const std::optional<uptls::detail::sasl::plain_credentials> creds = uptls::detail::sasl::parse_plain(base64);
  if (!creds) return refuse("malformed PLAIN response");
  const std::string_view user = creds->user;
  if (user.empty() || !opts().check_login(creds->authzid, user, creds->password)) return refuse("authentication failed");
  authenticated_ = true;
  user_.assign(user);
  note("authenticated as " + user_);
  answer(status::ok, {}, "Logged in");
}

void server_session::impl::on_application(command cmd) {
  if (!opts().handler) return refuse("command not supported");
  session_facts facts;
  facts.user = user_;
  facts.over_tls = s_.is_tls();
  if (const session_info* info = s_.session()) facts.session = *info;
  const reply r = opts().handler(cmd, facts);
  for (const auto& line : r.data) {
    if (opts().trace) opts().trace("S", line.size() > 200 ? line.substr(0, 200) + "..." : line);
    if (const result<> w = s_.write(line + "\r\n"); w.failed()) return end(w.error());
  }
  answer(r.kind, r.code, r.text);
  if (r.kind == status::bye) end({});
}

server_session::server_session(stream s, std::shared_ptr<const server_options> opts)
    : impl_(std::make_unique<impl>(std::move(s), std::move(opts))) {}
server_session::~server_session() = default;
server_session::server_session(server_session&&) noexcept = default;
server_session& server_session::operator=(server_session&&) noexcept = default;
result<> server_session::resume() { return impl_->resume(); }
bool server_session::done() const noexcept { return impl_->done(); }
stream& server_session::connection() noexcept { return impl_->s_; }

event_server::factory session_factory(std::shared_ptr<const server_options> opts) {
  return [opts = std::move(opts)](stream s) -> std::unique_ptr<loop_session> {
    return std::make_unique<server_session>(std::move(s), opts);
  };
}

result<> serve(stream s, const server_options& opts) {
  server_session session(std::move(s), std::make_shared<const server_options>(opts));
  // Bounded: a session ends at LOGOUT, EOF, an error, or a timeout of its stream.
  for (;;) {
    const result<> r = session.resume();
    if (!r.would_block()) return r;
    stream& io = session.connection();
    if (const result<> w = io.wait(r.wants()); w.failed() && w.error() != errc::timeout) return w;
  }
}

}  // namespace uptls::sieve
