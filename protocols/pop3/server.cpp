// The server side as a state machine: one connection, command by command, with
// STLS on the same connection and the state reset the upgrade demands (RFC
// 2595 4). Responses are queued on the stream and flushed before the session
// waits for the client again, so a pipelined batch (RFC 2449 PIPELINING) is
// answered without waiting in between; nothing pipelined behind STLS ever runs.
#include <charconv>
#include <utility>

#include "dialogue.hpp"
#include "uptls/pop3.hpp"

namespace uptls::pop3 {
namespace {

// Splits "VERB args" at the first space.
std::pair<std::string_view, std::string_view> split_command(std::string_view line) {
  const std::size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return {line, {}};
  return {line.substr(0, sp), line.substr(sp + 1)};
}

// A message number: decimal digits only, from 1.
bool parse_number(std::string_view digits, std::size_t& n) {
  const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return !digits.empty() && err == std::errc{} && end == digits.data() + digits.size() && n > 0;
}

}  // namespace

class server_session::impl {
 public:
  impl(stream s, std::shared_ptr<const server_options> opts, maildrop_factory drops)
      : s_(std::move(s)), opts_(std::move(opts)), drops_(std::move(drops)) {}

  result<> resume();
  bool done() const noexcept { return step_ == step::done; }

  stream s_;

 private:
  enum class step { greet, command, handshake, closing, done };

  const server_options& opts() const noexcept { return *opts_; }
  void note(std::string_view text) const {
    if (opts().trace) opts().trace("*", text);
  }
  // Queues one response line (sent before the session next waits for the client).
  void send(std::string_view text) {
    if (const result<> r = detail::write_line(s_, text, opts().trace, "S"); r.failed()) end(r.error());
  }
  // Queues lines as one write (one TLS record): "+OK ..." then the list and ".".
  void send_list(std::string_view first, const std::vector<std::string>& lines) {
    std::string wire;
    const auto add = [&](std::string_view l) {
      if (opts().trace) opts().trace("S", l);
      wire.append(l).append("\r\n");
    };
    add(first);
    for (const auto& l : lines) add(l);
    add(".");
    if (const result<> r = s_.write(wire); r.failed()) end(r.error());
  }
  // A refused command; the last one allowed ends the session.
  void refuse(std::string_view text) {
    if (++errors_ >= opts().max_errors) {
      send("-ERR [SYS/PERM] too many errors, closing");
      end(make_error_code(errc::protocol_error));
      return;
    }
    send(text);
  }
  void end(std::error_code why) {
    if (step_ == step::closing || step_ == step::done) return;
    outcome_ = why;
    step_ = step::closing;
  }
  bool tls_offered() const { return opts().tls != nullptr && !s_.is_tls(); }
  // Credentials may be given now: TLS is on, or it is not demanded.
  bool credentials_allowed() const { return s_.is_tls() || !opts().require_tls; }

  result<> on_command();
  void dispatch(std::string_view line);
  void authorization(std::string_view verb, std::string_view args);
  void transaction(std::string_view verb, std::string_view args);
  void on_capa();
  void on_stls(std::string_view args);
  void on_pass(std::string_view args);
  // The message a command names, or 0 after a refusal was sent.
  std::size_t message_arg(std::string_view args);

  std::shared_ptr<const server_options> opts_;
  maildrop_factory drops_;
  step step_ = step::greet;
  result<> outcome_;
  int errors_ = 0;
  std::string user_;                // USER given, PASS due
  std::unique_ptr<maildrop> drop_;  // after a successful PASS: the TRANSACTION state
};

result<> server_session::impl::resume() {
  // Bounded: each round handles one command or moves the session on.
  for (int round = 0; round < 256; ++round) {
    switch (step_) {
      case step::done:
        return outcome_;
      case step::greet:
        send("+OK " + opts().hostname + " POP3 uptls ready");
        s_.set_read_deadline(clock::now() + opts().timeouts.greeting);
        if (step_ == step::greet) step_ = step::command;
        break;
      case step::command:
        if (const result<> r = on_command(); r.would_block()) return r;
        break;
      case step::handshake: {
        const result<> r = s_.start_tls(opts().tls);
        if (r.would_block()) return r;
        if (r.failed()) {
          note("TLS handshake failed: " + r.error().message());
          end(r.error());
          break;
        }
        // Nothing of the plaintext session survives: the client starts over.
        user_.clear();
        drop_.reset();
        if (opts().trace) {
          const session_info& info = *s_.session();
          note("TLS established: " + std::string(to_string(info.version)) + " " + info.suite.name);
        }
        step_ = step::command;
        s_.set_read_deadline(clock::now() + opts().timeouts.command);
        break;
      }
      case step::closing: {
        const result<> r = s_.close();  // flushes what is queued first
        if (r.would_block()) return r;
        step_ = step::done;
        s_.set_read_deadline(std::nullopt);
        drop_.reset();
        break;
      }
    }
  }
  // A long batch: yield so that one client cannot starve an event loop.
  return result<>::blocked(wait_for::write);
}

result<> server_session::impl::on_command() {
  if (const result<> f = s_.flush(); !f) {
    if (!f.would_block()) end(f.error());
    return f;
  }
  const result<std::string_view> got = s_.read_line();
  if (got.would_block()) return got.status();
  if (got.error() == errc::line_too_long) {
    note("a command line over the limit was discarded");
    refuse("-ERR line too long");
    return {};
  }
  if (got.failed()) {
    // RFC 1939 3: the autologout timer ends the session (without UPDATE).
    if (got.error() == errc::timeout) send("-ERR [SYS/TEMP] autologout: idle for too long, closing");
    end(got.error());
    return {};
  }
  const std::string line(*got);  // the view lives until the next read
  const auto [verb, args] = split_command(line);
  // Never trace a password.
  if (opts().trace) opts().trace("C", detail::iequals(verb, "PASS") ? std::string("PASS ****") : line);
  s_.set_read_deadline(clock::now() + opts().timeouts.command);
  if (line.size() > max_command_line - 2) {
    refuse("-ERR line too long");
    return {};
  }
  dispatch(line);
  return {};
}

void server_session::impl::dispatch(std::string_view line) {
  const auto [verb, args] = split_command(line);
  using detail::iequals;
  if (iequals(verb, "QUIT")) {
    // A read-only maildrop: the UPDATE state has nothing to do.
    send("+OK " + opts().hostname + " POP3 uptls signing off");
    end({});
    return;
  }
  if (iequals(verb, "NOOP")) {
    if (!args.empty()) return refuse("-ERR NOOP takes no arguments");
    return send("+OK");
  }
  if (iequals(verb, "CAPA")) {
    if (!args.empty()) return refuse("-ERR CAPA takes no arguments");
    return on_capa();
  }
  if (drop_) return transaction(verb, args);
  authorization(verb, args);
}

void server_session::impl::on_capa() {
  std::vector<std::string> caps;
  if (tls_offered()) caps.emplace_back("STLS");
  // No way to log in is advertised where logging in would be refused.
  if (credentials_allowed()) caps.emplace_back("USER");
  caps.emplace_back("RESP-CODES");
  caps.emplace_back("AUTH-RESP-CODE");
  caps.emplace_back("PIPELINING");
  caps.emplace_back("IMPLEMENTATION uptls");
  // One write for the whole list: a client reading it with one recv() sees all.
  send_list("+OK Capability list follows", caps);
}

void server_session::impl::authorization(std::string_view verb, std::string_view args) {
  using detail::iequals;
  if (iequals(verb, "STLS")) return on_stls(args);
  const bool credential = iequals(verb, "USER") || iequals(verb, "PASS") || iequals(verb, "APOP") || iequals(verb, "AUTH");
  if (credential && !credentials_allowed()) {
    // Refused before looking at the arguments: nothing of them is kept.
    user_.clear();
    return refuse("-ERR [AUTH] TLS is required before logging in: issue STLS first");
  }
  if (iequals(verb, "USER")) {
    if (!detail::valid_argument(args)) return refuse("-ERR Syntax: USER name");
    user_.assign(args);
    return send("+OK send PASS");
  }
  if (iequals(verb, "PASS")) return on_pass(args);
  if (iequals(verb, "APOP")) return refuse("-ERR [AUTH] APOP is not supported: use USER and PASS");
  if (iequals(verb, "AUTH")) return refuse("-ERR [AUTH] no SASL mechanism is supported: use USER and PASS");
  if (iequals(verb, "STAT") || iequals(verb, "LIST") || iequals(verb, "RETR") || iequals(verb, "DELE") ||
      iequals(verb, "RSET") || iequals(verb, "UIDL") || iequals(verb, "TOP")) {
    return refuse("-ERR log in first");
  }
  refuse("-ERR command not recognized");
}

void server_session::impl::on_stls(std::string_view args) {
  if (!args.empty()) return refuse("-ERR STLS takes no arguments");
  if (s_.is_tls()) return refuse("-ERR TLS already active");
  if (opts().tls == nullptr) return refuse("-ERR STLS not available");
  if (s_.buffered() > 0) {
    // Commands pipelined behind STLS came in plaintext; running them after the
    // handshake would treat them as protected (CVE-2011-0411 and its kin).
    note("bytes were pipelined after STLS: refusing the upgrade");
    send("-ERR no commands may follow STLS before the TLS handshake");
    end(make_error_code(errc::plaintext_injection));
    return;
  }
  send("+OK Begin TLS negotiation");
  // start_tls() sends the queued +OK before the handshake, which has its own deadline.
  s_.set_read_deadline(std::nullopt);
  if (step_ == step::command) step_ = step::handshake;
}

void server_session::impl::on_pass(std::string_view args) {
  if (user_.empty()) return refuse("-ERR give USER first");
  const std::string user = std::exchange(user_, {});
  if (!detail::valid_argument(args)) return refuse("-ERR Syntax: PASS password");
  std::unique_ptr<maildrop> drop = drops_ ? drops_() : nullptr;
  login_request who{user, args, s_.is_tls(), s_.session()};
  if (drop == nullptr || !drop->login(who)) {
    note("login refused for " + user);
    return refuse("-ERR [AUTH] invalid user name or password");
  }
  drop_ = std::move(drop);
  std::size_t total = 0;
  const std::size_t n = drop_->count();
  for (std::size_t i = 1; i <= n; ++i) total += drop_->size(i);
  send("+OK " + user + "'s maildrop has " + std::to_string(n) + (n == 1 ? " message (" : " messages (") +
       std::to_string(total) + " octets)");
}

std::size_t server_session::impl::message_arg(std::string_view args) {
  std::size_t n = 0;
  if (!parse_number(args, n)) {
    refuse("-ERR Syntax: a message number");
    return 0;
  }
  if (n > drop_->count()) {
    refuse("-ERR no such message");
    return 0;
  }
  return n;
}

void server_session::impl::transaction(std::string_view verb, std::string_view args) {
  using detail::iequals;
  if (iequals(verb, "STAT")) {
    if (!args.empty()) return refuse("-ERR STAT takes no arguments");
    std::size_t total = 0;
    const std::size_t n = drop_->count();
    for (std::size_t i = 1; i <= n; ++i) total += drop_->size(i);
    return send("+OK " + std::to_string(n) + " " + std::to_string(total));
  }
  if (iequals(verb, "LIST")) {
    if (!args.empty()) {
      const std::size_t n = message_arg(args);
      if (n == 0) return;
      return send("+OK " + std::to_string(n) + " " + std::to_string(drop_->size(n)));
    }
    std::vector<std::string> lines;
    const std::size_t count = drop_->count();
    lines.reserve(count);
    for (std::size_t i = 1; i <= count; ++i) lines.push_back(std::to_string(i) + " " + std::to_string(drop_->size(i)));
    return send_list("+OK " + std::to_string(count) + " messages", lines);
  }
  if (iequals(verb, "RETR")) {
    const std::size_t n = message_arg(args);
    if (n == 0) return;
    std::string wire = "+OK " + std::to_string(drop_->size(n)) + " octets\r\n";
    if (opts().trace) {
      opts().trace("S", wire.substr(0, wire.size() - 2));
      opts().trace("*", "message " + std::to_string(n) + " follows");
    }
    std::string body;
    detail::dot_stuff(drop_->retrieve(n), body);
    wire += body;
    if (const result<> r = s_.write(wire); r.failed()) end(r.error());
    return;
  }
  if (iequals(verb, "DELE")) {
    if (message_arg(args) == 0) return;
    return refuse("-ERR [SYS/PERM] this maildrop is read-only");
  }
  if (iequals(verb, "RSET")) {
    if (!args.empty()) return refuse("-ERR RSET takes no arguments");
    return send("+OK");
  }
  if (iequals(verb, "STLS")) return refuse("-ERR STLS is only allowed before logging in");
  if (iequals(verb, "USER") || iequals(verb, "PASS") || iequals(verb, "APOP") || iequals(verb, "AUTH")) {
    return refuse("-ERR already logged in");
  }
  refuse("-ERR command not recognized");
}

server_session::server_session(stream s, std::shared_ptr<const server_options> opts, maildrop_factory drops)
    : impl_(std::make_unique<impl>(std::move(s), std::move(opts), std::move(drops))) {}
server_session::~server_session() = default;
server_session::server_session(server_session&&) noexcept = default;
server_session& server_session::operator=(server_session&&) noexcept = default;
result<> server_session::resume() { return impl_->resume(); }
bool server_session::done() const noexcept { return impl_->done(); }
stream& server_session::connection() noexcept { return impl_->s_; }

event_server::factory session_factory(std::shared_ptr<const server_options> opts, maildrop_factory drops) {
  return [opts = std::move(opts), drops = std::move(drops)](stream s) -> std::unique_ptr<loop_session> {
    return std::make_unique<server_session>(std::move(s), opts, drops);
  };
}

result<> serve(stream s, const server_options& opts, const maildrop_factory& drops) {
  server_session session(std::move(s), std::make_shared<const server_options>(opts), drops);
  // Bounded: a session ends at QUIT, EOF, an error, or a timeout of its stream.
  for (;;) {
    const result<> r = session.resume();
    if (!r.would_block()) return r;
    stream& io = session.connection();
    if (const result<> w = io.wait(r.wants()); w.failed() && w.error() != errc::timeout) return w;
  }
}

}  // namespace uptls::pop3
