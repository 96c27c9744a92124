// The server side as a state machine: one connection, command by command, with
// STARTTLS on the same connection and the state reset it demands (RFC 9051
// 6.2.1, RFC 2595 3.1). Responses are queued on the stream and flushed before
// the session waits for the client again. The application sees a session only
// through its mailbox, which exists from a successful LOGIN on: nothing of a
// plaintext prelude reaches it.
#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

#include "uptls/imap.hpp"
#include "../sasl.hpp"
#include "wire.hpp"

namespace uptls::imap {
namespace {

using detail::iequals;

// Most messages one FETCH may return (a "1:*" on a huge mailbox stays bounded per command).
constexpr std::size_t max_fetch_set = 10000;

bool atom_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != '(' && c != ')' && c != '{' && c != '"' && c != '\\';
}

// Walks the arguments of a command (text after the verb, with its literals).
class arg_reader {
 public:
  arg_reader(std::string_view text, const std::vector<std::string>& literals) : t_(text), lits_(literals) {}

  bool at_end() const noexcept { return pos_ >= t_.size(); }
  bool space() noexcept {
    if (pos_ < t_.size() && t_[pos_] == ' ') {
      ++pos_;
      return true;
    }
    return false;
  }
  bool peek(char c) const noexcept { return pos_ < t_.size() && t_[pos_] == c; }
  void skip() noexcept { ++pos_; }

  // astring: an atom, a quoted string or a literal (RFC 9051 9).
  bool astring(std::string& out) {
    out.clear();
    if (peek('"')) {
      ++pos_;
      while (pos_ < t_.size()) {
        const char c = t_[pos_++];
        if (c == '"') return true;
        if (c == '\\') {
          if (pos_ >= t_.size() || (t_[pos_] != '"' && t_[pos_] != '\\')) return false;
          out.push_back(t_[pos_++]);
          continue;
        }
        out.push_back(c);
      }
      return false;
    }
    if (peek('{')) {
      const std::size_t close = t_.find('}', pos_);
      if (close == std::string_view::npos || li_ >= lits_.size()) return false;
      pos_ = close + 1;
      out = lits_[li_++];
      return true;
    }
    return token(out);
  }
  // Atom characters (and '[' ']' '%' '*', for FETCH items and LIST patterns).
  bool token(std::string& out) {
    out.clear();
    while (pos_ < t_.size() && atom_char(t_[pos_])) out.push_back(t_[pos_++]);
    return !out.empty();
  }

 private:
  std::string_view t_;
  const std::vector<std::string>& lits_;
  std::size_t pos_ = 0;
  std::size_t li_ = 0;
};

// A sequence set ("3", "1:4", "2,5:*") as message numbers within 1..count; for
// UIDs (uid == seq here) numbers past count are dropped, for sequence numbers
// they make the set invalid (RFC 9051 6.4.5).
bool parse_set(std::string_view set, std::uint32_t count, bool uid, std::vector<std::uint32_t>& out) {
  const auto number = [&](std::string_view n, std::uint32_t& v) {
    if (n == "*") {
      v = count;
      return count > 0 || uid;
    }
    const auto [end, err] = std::from_chars(n.data(), n.data() + n.size(), v);
    return err == std::errc{} && end == n.data() + n.size() && v > 0;
  };
  out.clear();
  std::size_t pos = 0;
  while (pos <= set.size()) {
    const std::size_t comma = std::min(set.find(',', pos), set.size());
    const std::string_view item = set.substr(pos, comma - pos);
    const std::size_t colon = item.find(':');
    std::uint32_t lo = 0;
    std::uint32_t hi = 0;
    if (!number(item.substr(0, colon), lo)) return false;
    hi = lo;
    if (colon != std::string_view::npos && !number(item.substr(colon + 1), hi)) return false;
    if (lo > hi) std::swap(lo, hi);
    if (!uid && (hi > count || lo == 0)) return false;
    for (std::uint64_t n = lo; n <= std::min(hi, count); ++n) {
      if (out.size() >= max_fetch_set) return false;
      out.push_back(static_cast<std::uint32_t>(n));
    }
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return true;
}

// LIST's pattern against a name: "*" and "%" match anything (a flat namespace), else equality.
bool matches(std::string_view pattern, std::string_view name) {
  if (pattern == "*" || pattern == "%") return true;
  if (iequals(pattern, "INBOX")) return iequals(name, "INBOX");
  return pattern == name;
}

}  // namespace

class server_session::impl {
 public:
  impl(stream s, std::shared_ptr<const server_options> opts, login_handler on_login)
      : s_(std::move(s)), opts_(std::move(opts)), on_login_(std::move(on_login)) {
    reader_.ack_literals(true);
  }

  result<> resume();
  bool done() const noexcept { return step_ == step::done; }

  stream s_;

 private:
  enum class step { greet, command, handshake, closing, done };

  const server_options& opts() const noexcept { return *opts_; }
  void note(std::string_view text) const {
    if (opts().trace) opts().trace("*", text);
  }
  void send(std::string_view text) {
    const result<> r = detail::write_line(s_, text, opts().trace);
    if (r.failed()) end(r.error());
  }
  // A refused command; the last one allowed turns into BYE and the end of the session.
  void refuse(std::string_view text) {
    if (++errors_ >= opts().max_errors) {
      send("* BYE too many errors, closing");
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
  void wait_for_command() {
    step_ = step::command;
    s_.set_read_deadline(clock::now() + opts().timeouts.command);
  }
  bool tls_offered() const { return opts().tls != nullptr && !s_.is_tls() && mailbox_ == nullptr; }
  // Credentials may not cross this connection (RFC 9051 6.2.3, 11.1).
  bool login_disabled() const { return opts().require_tls && !s_.is_tls(); }
  std::string capabilities() const {
    std::string caps = "IMAP4rev1";
    if (tls_offered()) caps += " STARTTLS";
    if (login_disabled()) caps += " LOGINDISABLED";
    // SASL PLAIN where credentials may cross (clients such as curl log in only
    // through a mechanism once LOGINDISABLED was seen, even after STARTTLS).
    else if (mailbox_ == nullptr) caps += " AUTH=PLAIN SASL-IR";
    return caps;
  }

  result<> on_command();
  void dispatch(const std::string& tag, const std::string& verb, arg_reader& args);
  void on_starttls(const std::string& tag, arg_reader& args);
  void on_login(const std::string& tag, arg_reader& args);
  void on_authenticate(const std::string& tag, arg_reader& args);
  void on_sasl_plain(const std::string& tag, std::string_view response);
  void finish_login(const std::string& tag, std::string_view verb, std::string_view user, std::string_view password);
  void on_select(const std::string& tag, arg_reader& args, bool read_only);
  void on_list(const std::string& tag, arg_reader& args);
  void on_fetch(const std::string& tag, arg_reader& args, bool uid);

  std::shared_ptr<const server_options> opts_;
  login_handler on_login_;
  step step_ = step::greet;
  result<> outcome_;
  int errors_ = 0;
  detail::line_reader reader_;
  std::string text_;
  std::vector<std::string> literals_;
  std::unique_ptr<mailbox> mailbox_;           // from a successful LOGIN on
  std::optional<std::uint32_t> selected_;      // message count of the selected mailbox
  // The tag of an AUTHENTICATE PLAIN waiting for its response line after "+ ".
  std::optional<std::string> sasl_tag_;
};

result<> server_session::impl::resume() {
  // Bounded: each round handles one command or moves the session on.
  for (int round = 0; round < 256; ++round) {
    switch (step_) {
      case step::done:
        return outcome_;
      case step::greet:
        send("* OK [CAPABILITY " + capabilities() + "] " + opts().hostname + " uptls IMAP ready");
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
        // A fresh not-authenticated state: the client asks for capabilities again.
        mailbox_.reset();
        selected_.reset();
        if (opts().trace) {
          const session_info& info = *s_.session();
          note("TLS established: " + std::string(to_string(info.version)) + " " + info.suite.name);
        }
        wait_for_command();
        break;
      }
      case step::closing: {
        const result<> r = s_.close();  // flushes what is queued (a BYE, a tagged OK) first
        if (r.would_block()) return r;
        step_ = step::done;
        s_.set_read_deadline(std::nullopt);
        break;
      }
    }
  }
  // A long batch: yield so that one busy client cannot starve an event loop.
  return result<>::blocked(wait_for::write);
}

result<> server_session::impl::on_command() {
  if (const result<> f = s_.flush(); !f) {
    if (!f.would_block()) end(f.error());
    return f;
  }
  const result<> got = reader_.read(s_, opts().max_literal, text_, literals_, {}, "C");
  if (got.would_block()) return got;
  if (got.error() == errc::line_too_long) {
    note("a command line over the limit was discarded");
    refuse("* BAD line too long");
    return {};
  }
  if (got.error() == errc::protocol_error) {
    // A literal over the bound: its octets (a LITERAL+ client sends them at
    // once) would be read as commands, so the session ends here.
    note("a literal over the limit: closing");
    send("* BYE literal too large");
    end(make_error_code(errc::protocol_error));
    return {};
  }
  if (got.failed()) {
    if (got.error() == errc::timeout) send("* BYE autologout; idle for too long");
    end(got.error());
    return {};
  }
  if (reader_.wants_ack()) {
    // A synchronising literal: the client waits for our go-ahead.
    if (opts().trace) opts().trace("C", text_);
    reader_.acked();
    send("+ Ready for literal data");
    return {};
  }
  s_.set_read_deadline(clock::now() + opts().timeouts.command);
  const std::string text = std::move(text_);
  const std::vector<std::string> literals = std::move(literals_);
  if (sasl_tag_) {
    // The line after "+ " is the SASL response, not a command (RFC 9051 6.2.2).
    const std::string tag = std::move(*sasl_tag_);
    sasl_tag_.reset();
    if (opts().trace) opts().trace("C", "***");
    if (text == "*") {
      refuse(tag + " BAD AUTHENTICATE cancelled");
      return {};
    }
    on_sasl_plain(tag, text);
    return {};
  }
  const std::size_t sp = text.find(' ');
  const std::string tag = text.substr(0, sp);
  if (tag.empty() || tag == "*" || tag == "+" || !std::all_of(tag.begin(), tag.end(), [](char c) {
        return atom_char(c) && c != '+' && c != '%' && c != '*';
      })) {
    if (opts().trace) opts().trace("C", text);
    refuse("* BAD invalid tag");
    return {};
  }
  arg_reader args(sp == std::string::npos ? std::string_view{} : std::string_view(text).substr(sp + 1), literals);
  std::string verb;
  (void)args.token(verb);
  if (opts().trace) {
    // Passwords stay out of logs.
    opts().trace("C", iequals(verb, "LOGIN")          ? tag + " LOGIN ***"
                      : iequals(verb, "AUTHENTICATE") ? tag + " AUTHENTICATE ***"
                                                      : text);
  }
  if (verb.empty()) {
    refuse(tag + " BAD missing command");
    return {};
  }
  dispatch(tag, verb, args);
  return {};
}

void server_session::impl::dispatch(const std::string& tag, const std::string& verb, arg_reader& args) {
  const bool has_args = args.space();
  if (iequals(verb, "CAPABILITY") || iequals(verb, "NOOP") || iequals(verb, "LOGOUT") || iequals(verb, "CHECK") ||
      iequals(verb, "CLOSE") || iequals(verb, "UNSELECT")) {
    if (has_args) return refuse(tag + " BAD " + verb + " takes no arguments");
  }
  if (iequals(verb, "CAPABILITY")) {
    send("* CAPABILITY " + capabilities());
    return send(tag + " OK CAPABILITY completed");
  }
  if (iequals(verb, "NOOP")) return send(tag + " OK NOOP completed");
  if (iequals(verb, "LOGOUT")) {
    send("* BYE " + opts().hostname + " logging out");
    send(tag + " OK LOGOUT completed");
    end({});
    return;
  }
  if (iequals(verb, "STARTTLS")) return on_starttls(tag, args);
  if (iequals(verb, "LOGIN")) return on_login(tag, args);
  if (iequals(verb, "AUTHENTICATE")) return on_authenticate(tag, args);
  if (mailbox_ == nullptr) {
    return refuse(tag + " BAD " + verb + (login_disabled() ? " not valid before STARTTLS and LOGIN" : " not valid before LOGIN"));
  }
  if (iequals(verb, "SELECT")) return on_select(tag, args, false);
  if (iequals(verb, "EXAMINE")) return on_select(tag, args, true);
  if (iequals(verb, "LIST")) return on_list(tag, args);
  if (iequals(verb, "FETCH")) return on_fetch(tag, args, false);
  if (iequals(verb, "UID")) {
    std::string sub;
    if (!args.token(sub) || !iequals(sub, "FETCH") || !args.space()) return refuse(tag + " BAD only UID FETCH is supported");
    return on_fetch(tag, args, true);
  }
  if (iequals(verb, "CHECK")) return send(tag + " OK CHECK completed");
  if (iequals(verb, "CLOSE") || iequals(verb, "UNSELECT")) {
    if (!selected_) return refuse(tag + " BAD no mailbox selected");
    selected_.reset();
    return send(tag + " OK " + verb + " completed");
  }
  return refuse(tag + " BAD unknown command");
}

void server_session::impl::on_starttls(const std::string& tag, arg_reader& args) {
  if (!args.at_end()) return refuse(tag + " BAD STARTTLS takes no arguments");
  // Neither advertised nor accepted once TLS is on (RFC 9051 6.2.1).
  if (s_.is_tls()) return refuse(tag + " BAD TLS is already active");
  if (opts().tls == nullptr) return refuse(tag + " BAD STARTTLS is not available");
  if (mailbox_ != nullptr) return refuse(tag + " BAD STARTTLS only before LOGIN");
  if (s_.buffered() > 0) {
    // Commands pipelined behind STARTTLS came in plaintext; running them inside
    // TLS would treat them as protected (CVE-2021-33515, CVE-2011-0411).
    note("bytes were pipelined after STARTTLS: refusing the upgrade");
    send(tag + " BAD no commands may follow STARTTLS before the TLS handshake");
    end(make_error_code(errc::plaintext_injection));
    return;
  }
  send(tag + " OK Begin TLS negotiation now");
  // start_tls() sends the queued OK first; the handshake has its own deadline.
  s_.set_read_deadline(std::nullopt);
  if (step_ == step::command) step_ = step::handshake;
}

void server_session::impl::on_login(const std::string& tag, arg_reader& args) {
  if (login_disabled()) return refuse(tag + " NO [PRIVACYREQUIRED] use STARTTLS first");
  if (mailbox_ != nullptr) return refuse(tag + " BAD already logged in");
  std::string user;
  std::string password;
  if (!args.astring(user) || !args.space() || !args.astring(password) || !args.at_end()) {
    return refuse(tag + " BAD Syntax: LOGIN user password");
  }
  finish_login(tag, "LOGIN", user, password);
}

void server_session::impl::finish_login(const std::string& tag, std::string_view verb, std::string_view user,
                                        std::string_view password) {
  login_request req{user, password, s_.is_tls(), s_.session()};
  std::unique_ptr<mailbox> box = on_login_ ? on_login_(req) : nullptr;
  if (box == nullptr) return refuse(tag + " NO [AUTHENTICATIONFAILED] Invalid credentials");
  mailbox_ = std::move(box);
  selected_.reset();
  send(tag + " OK [CAPABILITY " + capabilities() + "] " + std::string(verb) + " completed");
}

// AUTHENTICATE PLAIN (RFC 4616), with the initial response on the command line
// (SASL-IR, RFC 4959) or after a "+ " continuation. No other mechanism.
void server_session::impl::on_authenticate(const std::string& tag, arg_reader& args) {
  if (login_disabled()) return refuse(tag + " NO [PRIVACYREQUIRED] use STARTTLS first");
  if (mailbox_ != nullptr) return refuse(tag + " BAD already logged in");
  // dispatch() has read the space after the verb.
  std::string mechanism;
  if (!args.token(mechanism)) return refuse(tag + " BAD Syntax: AUTHENTICATE mechanism");
  if (!iequals(mechanism, "PLAIN")) return refuse(tag + " NO [CANNOT] only the PLAIN mechanism is offered");
  if (args.at_end()) {
    sasl_tag_ = tag;
    return send("+ ");
  }
  std::string initial;
  if (!args.space() || !args.token(initial) || !args.at_end()) return refuse(tag + " BAD Syntax: AUTHENTICATE PLAIN response");
  on_sasl_plain(tag, initial == "=" ? std::string_view{} : std::string_view(initial));
}

void server_session::impl::on_sasl_plain(const std::string& tag, std::string_view response) {
  const std::optional<uptls::detail::sasl::plain_credentials> creds = uptls::detail::sasl::parse_plain(response);
  if (!creds) return refuse(tag + " BAD invalid SASL PLAIN response");
  const std::string_view user = creds->user;
  const std::string_view password = creds->password;
  if (!creds->authzid.empty() && creds->authzid != user) return refuse(tag + " NO [AUTHORIZATIONFAILED] no proxy login");
  finish_login(tag, "AUTHENTICATE", user, password);
}

void server_session::impl::on_select(const std::string& tag, arg_reader& args, bool read_only) {
  std::string name;
  if (!args.astring(name) || !args.at_end()) return refuse(tag + " BAD Syntax: SELECT mailbox");
  selected_.reset();
  const std::optional<std::uint32_t> count = mailbox_->open_folder(name);
  if (!count) return send(tag + " NO [NONEXISTENT] no such mailbox");
  selected_ = *count;
  send("* FLAGS (\\Seen)");
  send("* " + std::to_string(*count) + " EXISTS");
  send("* 0 RECENT");
  send("* OK [UIDVALIDITY 1] UIDs valid");
  send("* OK [UIDNEXT " + std::to_string(*count + 1) + "] predicted next UID");
  send("* OK [PERMANENTFLAGS ()] read-only mailbox");
  (void)read_only;  // every mailbox here is read-only
  send(tag + " OK [READ-ONLY] " + (read_only ? "EXAMINE" : "SELECT") + " completed");
}

void server_session::impl::on_list(const std::string& tag, arg_reader& args) {
  std::string reference;
  std::string pattern;
  if (!args.astring(reference) || !args.space() || !args.astring(pattern) || !args.at_end()) return refuse(tag + " BAD Syntax: LIST reference pattern");
  if (pattern.empty()) {
    // The hierarchy delimiter and root (RFC 9051 6.3.9).
    send("* LIST (\\Noselect) \"/\" \"\"");
    return send(tag + " OK LIST completed");
  }
  for (const std::string& name : mailbox_->folders()) {
    if (!matches(pattern, name)) continue;
    send("* LIST () \"/\" " + (detail::quotable(name) ? detail::quoted(name) : std::string("NIL")));
  }
  send(tag + " OK LIST completed");
}

void server_session::impl::on_fetch(const std::string& tag, arg_reader& args, bool uid) {
  if (!selected_) return refuse(tag + " BAD no mailbox selected");
  std::string set;
  if (!args.token(set) || !args.space()) return refuse(tag + " BAD Syntax: FETCH set items");
  std::vector<std::string> items;
  std::string item;
  if (args.peek('(')) {
    args.skip();
    for (int i = 0; i < 16 && args.token(item); ++i) {
      items.push_back(item);
      if (!args.space()) break;
    }
    if (!args.peek(')')) return refuse(tag + " BAD Syntax: FETCH set (items)");
    args.skip();
  } else if (args.token(item)) {
    items.push_back(item);
  }
  if (items.empty() || !args.at_end()) return refuse(tag + " BAD Syntax: FETCH set items");
  // What each message's response holds, in a fixed order.
  bool want_uid = uid;
  bool want_flags = false;
  bool want_size = false;
  const char* body_item = nullptr;  // "BODY[]" or "RFC822"
  for (const std::string& it : items) {
    if (iequals(it, "UID")) want_uid = true;
    else if (iequals(it, "FLAGS")) want_flags = true;
    else if (iequals(it, "RFC822.SIZE")) want_size = true;
    else if (iequals(it, "BODY[]") || iequals(it, "BODY.PEEK[]")) body_item = "BODY[]";
    else if (iequals(it, "RFC822")) body_item = "RFC822";
    else if (iequals(it, "FAST") || iequals(it, "ALL")) want_flags = want_size = true;
    else return refuse(tag + " BAD unsupported FETCH item " + (detail::quotable(it) ? it : std::string("?")));
  }
  std::vector<std::uint32_t> seqs;
  if (!parse_set(set, *selected_, uid, seqs)) return refuse(tag + " BAD invalid message set");
  for (const std::uint32_t n : seqs) {
    const std::optional<std::string> body = mailbox_->message(n);
    if (!body) continue;
    std::string head = "* " + std::to_string(n) + " FETCH (";
    std::string sep;
    if (want_uid) head += std::exchange(sep, " ") + "UID " + std::to_string(n);
    if (want_flags) head += std::exchange(sep, " ") + "FLAGS ()";
    if (want_size) head += std::exchange(sep, " ") + "RFC822.SIZE " + std::to_string(body->size());
    if (body_item == nullptr) {
      send(head + ")");
      continue;
    }
    head += sep + body_item + " {" + std::to_string(body->size()) + "}";
    if (opts().trace) {
      opts().trace("S", head);
      opts().trace("S", "{" + std::to_string(body->size()) + " octets})");
    }
    // One write for the response: the literal follows its marker at once.
    std::string wire;
    wire.reserve(head.size() + body->size() + 8);
    wire.append(head).append("\r\n").append(*body).append(")\r\n");
    if (const result<> w = s_.write(wire); w.failed()) return end(w.error());
  }
  send(tag + " OK " + (uid ? "UID FETCH" : "FETCH") + " completed");
}

server_session::server_session(stream s, std::shared_ptr<const server_options> opts, login_handler on_login)
    : impl_(std::make_unique<impl>(std::move(s), std::move(opts), std::move(on_login))) {}
server_session::~server_session() = default;
server_session::server_session(server_session&&) noexcept = default;
server_session& server_session::operator=(server_session&&) noexcept = default;
result<> server_session::resume() { return impl_->resume(); }
bool server_session::done() const noexcept { return impl_->done(); }
stream& server_session::connection() noexcept { return impl_->s_; }

event_server::factory session_factory(std::shared_ptr<const server_options> opts, login_handler on_login) {
  return [opts = std::move(opts), on_login = std::move(on_login)](stream s) -> std::unique_ptr<loop_session> {
    return std::make_unique<server_session>(std::move(s), opts, on_login);
  };
}

result<> serve(stream s, const server_options& opts, const login_handler& on_login) {
  server_session session(std::move(s), std::make_shared<const server_options>(opts), on_login);
  // Bounded: a session ends at LOGOUT, EOF, an error, or a timeout of its stream.
  for (;;) {
    const result<> r = session.resume();
    if (!r.would_block()) return r;
    stream& io = session.connection();
    if (const result<> w = io.wait(r.wants()); w.failed() && w.error() != errc::timeout) return w;
  }
}

}  // namespace uptls::imap
