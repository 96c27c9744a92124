// The server side as a state machine: one connection, command by command, with
// STARTTLS on the same connection and the state reset the upgrade demands (RFC
// 3207 4.2). Replies are queued on the stream and flushed before the session
// waits for the client again, so one reply is one write, and a pipelined batch
// of commands is answered without waiting in between.
#include <charconv>
#include <utility>

#include "dialogue.hpp"
#include "uptls/smtp.hpp"

namespace uptls::smtp {
namespace {

// The mail transaction being built (RFC 5321 3.3).
struct envelope {
  bool open = false;  // MAIL was accepted
  std::string from;
  std::vector<std::string> to;
};

// Splits "VERB args" at the first space; the verb is compared case-insensitively.
std::pair<std::string_view, std::string_view> split_command(std::string_view line) {
  const std::size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return {line, {}};
  std::string_view args = line.substr(sp + 1);
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  return {line.substr(0, sp), args};
}

// Parses "FROM:<path> params" / "TO:<path> params" after the verb. The path goes to
// `path` without its brackets, what follows it to `params`. False on bad syntax.
bool parse_path_arg(std::string_view args, std::string_view keyword, std::string& path, std::string_view& params) {
  if (!detail::istarts_with(args, keyword)) return false;
  args.remove_prefix(keyword.size());
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);  // "FROM: <x>" is common
  if (args.empty() || args.front() != '<') return false;
  const std::size_t close = args.find('>');
  if (close == std::string_view::npos) return false;
  const std::string_view inner = args.substr(1, close - 1);
  if (!detail::valid_path(inner)) return false;
  path.assign(inner);
  params = args.substr(close + 1);
  if (!params.empty() && params.front() != ' ') return false;
  while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
  return true;
}

}  // namespace

class server_session::impl {
 public:
  impl(stream s, std::shared_ptr<const server_options> opts, message_sink sink)
      : s_(std::move(s)), opts_(std::move(opts)), sink_(std::move(sink)) {}

  result<> resume();
  bool done() const noexcept { return step_ == step::done; }

  stream s_;

 private:
  enum class step { greet, command, data, handshake, closing, done };

  const server_options& opts() const noexcept { return *opts_; }
  bool lmtp() const noexcept { return opts().proto == dialect::lmtp; }
  void note(std::string_view text) const {
    if (opts().trace) opts().trace("*", text);
  }
  // Queues one reply line (sent before the session next waits for the client).
  void send(std::string_view text) {
    const result<> r = detail::write_line(s_, text, opts().trace, "S");
    if (r.failed()) end(r.error());
  }
  // A refused command; the last one allowed turns into 421 and the end of the session.
  void refuse(std::string_view text) {
    if (++errors_ >= opts().max_errors) {
      send("421 4.7.0 " + opts().hostname + " too many errors, closing");
      end(make_error_code(errc::protocol_error));
      return;
    }
    send(text);
  }
  // The session ends with why once what is queued has gone out.
  void end(std::error_code why) {
    if (step_ == step::closing || step_ == step::done) return;
    outcome_ = why;
    step_ = step::closing;
  }
  void wait_for_command() {
    step_ = step::command;
    s_.set_read_deadline(clock::now() + opts().timeouts.command);
  }
  bool tls_offered() const { return opts().tls != nullptr && !s_.is_tls(); }

  result<> on_command();
  result<> on_data();
  void dispatch(std::string_view line);
  void on_hello(std::string_view args, std::string_view verb);
  void on_starttls(std::string_view args);
  std::string transaction_refusal() const;
  void on_mail(std::string_view args);
  void on_rcpt(std::string_view args);
  void on_data_command(std::string_view args);
  void deliver();

  std::shared_ptr<const server_options> opts_;
  message_sink sink_;
  step step_ = step::greet;
  result<> outcome_;
  std::string helo_;
  envelope env_;
  int errors_ = 0;
  // DATA in progress
  message msg_;
  bool too_big_ = false;
  bool too_long_ = false;
};

result<> server_session::impl::resume() {
  // Bounded: each round handles one command or moves the session on; a batch of
  // pipelined commands is worked through here, one reply each, up to the bound.
  for (int round = 0; round < 256; ++round) {
    switch (step_) {
      case step::done:
        return outcome_;
      case step::greet:
        send("220 " + opts().hostname + (lmtp() ? " LMTP uptls" : " ESMTP uptls"));
        s_.set_read_deadline(clock::now() + opts().timeouts.greeting);
        if (step_ == step::greet) step_ = step::command;
        break;
      case step::command:
        if (const result<> r = on_command(); r.would_block()) return r;
        break;
      case step::data:
        if (const result<> r = on_data(); r.would_block()) return r;
        break;
      case step::handshake: {
        const result<> r = s_.start_tls(opts().tls);
        if (r.would_block()) return r;
        if (r.failed()) {
          note("TLS handshake failed: " + r.error().message());
          end(r.error());
          break;
        }
        // Forget everything learnt in plaintext; the client must greet again.
        helo_.clear();
        env_ = {};
        if (opts().trace) {
          const session_info& info = *s_.session();
          note("TLS established: " + std::string(to_string(info.version)) + " " + info.suite.name);
        }
        wait_for_command();
        break;
      }
      case step::closing: {
        const result<> r = s_.close();  // flushes what is queued (a 221, a 421) first
        if (r.would_block()) return r;
        step_ = step::done;
        s_.set_read_deadline(std::nullopt);
        break;
      }
    }
  }
  // A long batch: yield so that one busy client cannot starve the others of an
  // event loop. The socket is writable at once, so the loop comes back next round.
  return result<>::blocked(wait_for::write);
}

// One command: the replies so far go out, then the next line is read and run.
result<> server_session::impl::on_command() {
  if (const result<> f = s_.flush(); !f) {
    if (!f.would_block()) end(f.error());
    return f;
  }
  const result<std::string_view> got = s_.read_line();
  if (got.would_block()) return got.status();
  if (got.error() == errc::line_too_long) {
    note("a command line over the limit was discarded");
    refuse("500 5.5.2 line too long");
    return {};
  }
  if (got.failed()) {
    if (got.error() == errc::timeout) send("421 4.4.2 " + opts().hostname + " timeout, closing");
    end(got.error());
    return {};
  }
  const std::string line(*got);  // the view lives until the next read; replies may read more
  if (opts().trace) opts().trace("C", line);
  s_.set_read_deadline(clock::now() + opts().timeouts.command);
  if (line.size() > max_line - 2) {
    refuse("500 5.5.2 line too long");
    return {};
  }
  dispatch(line);
  return {};
}

void server_session::impl::dispatch(std::string_view line) {
  const auto [verb, args] = split_command(line);
  using detail::iequals;
  if (!lmtp() && iequals(verb, "EHLO")) return on_hello(args, "EHLO");
  if (!lmtp() && iequals(verb, "HELO")) return on_hello(args, "HELO");
  if (lmtp() && iequals(verb, "LHLO")) return on_hello(args, "LHLO");
  if (iequals(verb, "STARTTLS")) return on_starttls(args);
  if (iequals(verb, "MAIL")) return on_mail(args);
  if (iequals(verb, "RCPT")) return on_rcpt(args);
  if (iequals(verb, "DATA")) return on_data_command(args);
  if (iequals(verb, "RSET")) {
    if (!args.empty()) return refuse("501 5.5.4 RSET takes no arguments");
    env_ = {};
    return send("250 2.0.0 OK");
  }
  if (iequals(verb, "NOOP")) return send("250 2.0.0 OK");
  if (iequals(verb, "QUIT")) {
    send("221 2.0.0 " + opts().hostname + " closing connection");
    end({});
    return;
  }
  if (iequals(verb, "VRFY")) {
    if (args.empty()) return refuse("501 5.5.4 VRFY needs an argument");
    return send("252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
  }
  if (iequals(verb, "HELP")) {
    return send(lmtp() ? "214 2.0.0 Commands: LHLO STARTTLS MAIL RCPT DATA RSET NOOP VRFY HELP QUIT"
                       : "214 2.0.0 Commands: EHLO HELO STARTTLS MAIL RCPT DATA RSET NOOP VRFY HELP QUIT");
  }
  return refuse("500 5.5.2 command not recognized");
}

void server_session::impl::on_hello(std::string_view args, std::string_view verb) {
  if (!detail::valid_ehlo_name(args)) {  // also keeps control octets out of our replies
    return refuse("501 5.5.4 Syntax: " + std::string(verb) + " hostname");
  }
  helo_.assign(args);
  env_ = {};
  if (verb == "HELO") return send("250 " + opts().hostname);
  std::vector<std::string> lines = {opts().hostname + " greets " + helo_,
                                    "SIZE " + std::to_string(opts().max_message), "8BITMIME",
                                    "ENHANCEDSTATUSCODES", "PIPELINING"};
  if (tls_offered()) lines.emplace_back("STARTTLS");
  lines.emplace_back("HELP");
  // One write for the whole reply (one TLS record after the upgrade): a scanner
  // that reads the reply with one recv() must see STARTTLS in it.
  std::string wire;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string line = (i + 1 == lines.size() ? "250 " : "250-") + lines[i];
    if (opts().trace) opts().trace("S", line);
    wire.append(line).append("\r\n");
  }
  if (const result<> r = s_.write(wire); r.failed()) end(r.error());
}

void server_session::impl::on_starttls(std::string_view args) {
  if (!args.empty()) return refuse("501 5.5.4 STARTTLS takes no arguments");
  if (s_.is_tls()) return refuse("503 5.5.1 TLS already active");
  if (opts().tls == nullptr) return refuse("502 5.5.1 STARTTLS not available");
  if (s_.buffered() > 0) {
    // Commands pipelined behind STARTTLS came in plaintext; executing them after
    // the handshake would treat them as protected (CVE-2011-0411).
    note("bytes were pipelined after STARTTLS: refusing the upgrade");
    send("554 5.5.1 no commands may follow STARTTLS before the TLS handshake");
    end(make_error_code(errc::plaintext_injection));
    return;
  }
  send("220 2.0.0 Ready to start TLS");
  // start_tls() sends the queued 220 before the handshake; the handshake has its
  // own deadline (tls_config::handshake_timeout).
  s_.set_read_deadline(std::nullopt);
  if (step_ == step::command) step_ = step::handshake;
}

// Refusals that MAIL, RCPT and DATA share. Empty when the command may go on.
std::string server_session::impl::transaction_refusal() const {
  if (opts().require_tls && !s_.is_tls()) return "530 5.7.0 Must issue a STARTTLS command first";
  if (helo_.empty()) return lmtp() ? "503 5.5.1 send LHLO first" : "503 5.5.1 send EHLO or HELO first";
  return {};
}

void server_session::impl::on_mail(std::string_view args) {
  if (const std::string why = transaction_refusal(); !why.empty()) return refuse(why);
  if (env_.open) return refuse("503 5.5.1 nested MAIL command");
  std::string from;
  std::string_view params;
  if (!parse_path_arg(args, "FROM:", from, params)) return refuse("501 5.5.4 Syntax: MAIL FROM:<address>");
  while (!params.empty()) {
    const auto [param, rest] = split_command(params);
    params = rest;
    if (detail::istarts_with(param, "SIZE=")) {
      std::size_t size = 0;
      const std::string_view digits = param.substr(5);
      const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
      if (err != std::errc{} || end != digits.data() + digits.size()) return refuse("501 5.5.4 bad SIZE parameter");
      if (size > opts().max_message) return send("552 5.3.4 message size exceeds fixed limit");
    } else if (!detail::iequals(param, "BODY=7BIT") && !detail::iequals(param, "BODY=8BITMIME")) {
      return refuse("555 5.5.4 unsupported MAIL parameter");
    }
  }
  env_ = {true, std::move(from), {}};
  send("250 2.1.0 OK");
}

void server_session::impl::on_rcpt(std::string_view args) {
  if (const std::string why = transaction_refusal(); !why.empty()) return refuse(why);
  if (!env_.open) return refuse("503 5.5.1 need MAIL before RCPT");
  std::string to;
  std::string_view params;
  if (!parse_path_arg(args, "TO:", to, params) || to.empty()) return refuse("501 5.5.4 Syntax: RCPT TO:<address>");
  if (!params.empty()) return refuse("555 5.5.4 unsupported RCPT parameter");
  if (env_.to.size() >= opts().max_recipients) return send("452 4.5.3 too many recipients");
  env_.to.push_back(std::move(to));
  send("250 2.1.5 OK");
}

void server_session::impl::on_data_command(std::string_view args) {
  if (!args.empty()) return refuse("501 5.5.4 DATA takes no arguments");
  if (const std::string why = transaction_refusal(); !why.empty()) return refuse(why);
  if (!env_.open) return refuse("503 5.5.1 need MAIL before DATA");
  if (env_.to.empty()) return refuse("554 5.5.1 no valid recipients");
  send("354 End data with <CR><LF>.<CR><LF>");
  msg_ = message{};
  too_big_ = false;
  too_long_ = false;
  s_.set_read_deadline(clock::now() + opts().timeouts.data);
  if (step_ == step::command) step_ = step::data;
}

// The message, line by line, until the line with a single dot.
result<> server_session::impl::on_data() {
  if (const result<> f = s_.flush(); !f) {
    if (!f.would_block()) end(f.error());
    return f;
  }
  // Bounded per call: the lines that are there; a long message takes many calls.
  for (int lines = 0; lines < 256; ++lines) {
    const result<std::string_view> got = s_.read_line();
    if (got.would_block()) return got.status();
    if (got.error() == errc::line_too_long) {
      too_long_ = true;  // the stream discarded it; keep reading to the final dot
      continue;
    }
    if (got.failed()) {
      if (got.error() == errc::timeout) send("421 4.4.2 " + opts().hostname + " timeout, closing");
      end(got.error());  // a message cut short is never delivered
      return {};
    }
    const std::string_view line = *got;
    if (opts().trace) opts().trace("C", line);
    if (!s_.last_line_crlf()) {
      // Only CRLF.CRLF ends a message. Servers that also took LF.LF let a second,
      // forged message ride inside the first one ("SMTP smuggling", 2023); like
      // Postfix's smtpd_forbid_bare_newline, refuse the session instead.
      note("bare LF inside message data: closing");
      send("521 5.5.2 " + opts().hostname + " bare <LF> received in message data, closing");
      end(make_error_code(errc::protocol_error));
      return {};
    }
    if (line.find('\r') != std::string_view::npos) {
      // A CR not followed by LF (RFC 5321 2.3.8: never alone) is the other half
      // of smuggling: a next hop that ends lines at a bare CR would read
      // "<CR>.<CR>" as the end of the message. Found by fuzzing the server.
      note("bare CR inside message data: closing");
      send("521 5.5.2 " + opts().hostname + " bare <CR> received in message data, closing");
      end(make_error_code(errc::protocol_error));
      return {};
    }
    if (line == ".") {
      deliver();
      return {};
    }
    if (line.size() > max_line - 2) too_long_ = true;
    const std::string_view text = !line.empty() && line.front() == '.' ? line.substr(1) : line;
    if (too_big_ || too_long_) continue;
    if (msg_.data.size() + text.size() + 2 > opts().max_message) {
      too_big_ = true;
      msg_.data = std::string{};  // bounded memory: nothing more is kept
      continue;
    }
    msg_.data.append(text).append("\r\n");
  }
  return {};  // more lines are waiting: the next round reads them
}

void server_session::impl::deliver() {
  envelope env = std::exchange(env_, {});
  wait_for_command();
  const std::size_t replies = lmtp() ? env.to.size() : 1;
  if (too_long_ || too_big_) {
    const char* why = too_long_ ? "500 5.5.2 line too long" : "552 5.3.4 message size exceeds fixed limit";
    for (std::size_t i = 0; i < replies; ++i) {
      if (too_long_) refuse(why);
      else send(why);
    }
    msg_ = message{};
    return;
  }
  msg_.from = std::move(env.from);
  msg_.to = std::move(env.to);
  msg_.over_tls = s_.is_tls();
  msg_.helo = helo_;
  if (const session_info* info = s_.session()) msg_.session = *info;
  if (sink_) sink_(msg_);
  if (lmtp()) {
    // One reply per recipient, in RCPT order (RFC 2033 4.2).
    for (const std::string& rcpt : msg_.to) send("250 2.0.0 <" + rcpt + "> delivered");
  } else {
    send("250 2.0.0 OK: queued");
  }
  msg_ = message{};
}

server_session::server_session(stream s, std::shared_ptr<const server_options> opts, message_sink sink)
    : impl_(std::make_unique<impl>(std::move(s), std::move(opts), std::move(sink))) {}
server_session::~server_session() = default;
server_session::server_session(server_session&&) noexcept = default;
server_session& server_session::operator=(server_session&&) noexcept = default;
result<> server_session::resume() { return impl_->resume(); }
bool server_session::done() const noexcept { return impl_->done(); }
stream& server_session::connection() noexcept { return impl_->s_; }

event_server::factory session_factory(std::shared_ptr<const server_options> opts, message_sink sink) {
  return [opts = std::move(opts), sink = std::move(sink)](stream s) -> std::unique_ptr<loop_session> {
    return std::make_unique<server_session>(std::move(s), opts, sink);
  };
}

result<> serve(stream s, const server_options& opts, const message_sink& sink) {
  server_session session(std::move(s), std::make_shared<const server_options>(opts), sink);
  // Bounded: a session ends at QUIT, EOF, an error, or a timeout of its stream.
  for (;;) {
    const result<> r = session.resume();
    if (!r.would_block()) return r;
    stream& io = session.connection();
    if (const result<> w = io.wait(r.wants()); w.failed() && w.error() != errc::timeout) return w;
  }
}

}  // namespace uptls::smtp
