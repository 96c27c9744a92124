// The client side as a state machine: greeting, CAPABILITY, STARTTLS, the
// handshake on the same connection, CAPABILITY again inside TLS, then LOGIN,
// SELECT, FETCH, NOOP and LOGOUT. Each operation is a sequence of steps; a step
// that would block returns, and resume() comes back to the same step.
#include <charconv>
#include <gsl/assert>
#include <utility>

#include "prelude.hpp"
#include "uptls/imap.hpp"
#include "wire.hpp"

namespace uptls::imap {
namespace {

using detail::first_word;
using detail::iequals;

bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

// The number at the start of "3 EXISTS" / "3 FETCH (...)", if the second word is kind.
std::optional<std::uint32_t> numbered(std::string_view text, std::string_view kind) {
  const std::string_view num = first_word(text);
  std::uint32_t n = 0;
  const auto [end, err] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (err != std::errc{} || end != num.data() + num.size()) return std::nullopt;
  if (!iequals(first_word(detail::after_first_word(text)), kind)) return std::nullopt;
  return n;
}

// The body of an untagged FETCH response ("BODY[] {n}" with its literal, or a
// quoted string; "RFC822" the same). Walks the text as IMAP tokens, so that a
// "BODY[]" inside a quoted string is not taken for the item.
bool fetched_body(const response& r, std::string& body) {
  const std::string_view t = r.text;
  std::size_t literal = 0;
  bool in_quote = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (in_quote) {
      if (c == '\\') ++i;
      else if (c == '"') in_quote = false;
      continue;
    }
    if (c == '"') {
      in_quote = true;
      continue;
    }
    if (c == '{') {
      ++literal;
      continue;
    }
    const std::string_view rest = t.substr(i);
    std::size_t skip = 0;
    if (istarts_with(rest, "BODY[] ")) skip = 7;
    else if (istarts_with(rest, "RFC822 ")) skip = 7;
    if (skip == 0 || (i > 0 && t[i - 1] != ' ' && t[i - 1] != '(')) continue;
    const std::string_view value = rest.substr(skip);
    if (!value.empty() && value.front() == '{') {
      if (literal >= r.literals.size()) return false;
      body = r.literals[literal];
      return true;
    }
    if (!value.empty() && value.front() == '"') {
      body.clear();
      for (std::size_t k = 1; k < value.size(); ++k) {
        if (value[k] == '\\' && k + 1 < value.size()) {
          body.push_back(value[++k]);
        } else if (value[k] == '"') {
          return true;
        } else {
          body.push_back(value[k]);
        }
      }
      return false;
    }
    if (istarts_with(value, "NIL")) {
      body.clear();
      return true;
    }
    return false;
  }
  return false;
}

}  // namespace

class client::impl {
 public:
  impl(stream s, client_options opts) : s_(std::move(s)), opts_(std::move(opts)) {}

  result<> open(std::shared_ptr<const context> tls, const peer_options& peer) {
    Expects(tls != nullptr);
    if (op_ != op::none || opened_ || error_) return errc::usage;
    opened_ = true;
    tls_ = std::move(tls);
    peer_ = peer;
    prelude_ = std::make_unique<detail::prelude_machine>(opts_);
    return start(op::open);
  }
  result<> open_implicit() {
    if (op_ != op::none || opened_ || error_) return errc::usage;
    if (!s_.is_tls()) return errc::usage;
    opened_ = true;
    return start(op::open_implicit);
  }
  result<> open_upgraded() {
    if (op_ != op::none || opened_ || error_) return errc::usage;
    if (!s_.is_tls()) return errc::usage;
    opened_ = true;
    caps_.clear();
    return start(op::open_upgraded);
  }
  result<> login(std::string_view user, std::string_view password) {
    if (const result<> r = may_run(); !r) return r;
    if (authenticated_) return errc::usage;
    // Credentials never cross a plaintext connection by accident.
    if (!s_.is_tls() && !opts_.allow_plaintext_login) return errc::usage;
    if (detail::has_capability(caps_, "LOGINDISABLED")) return errc::usage;
    parts_ = {"LOGIN "};
    traced_ = {"LOGIN "};
    add_string(user, false);
    parts_.back() += ' ';
    traced_.back() += ' ';
    add_string(password, true);
    return start(op::login);
  }
  result<> select(std::string_view mailbox) {
    if (const result<> r = may_run(); !r) return r;
    if (!authenticated_) return errc::usage;
    parts_ = {"SELECT "};
    traced_ = {"SELECT "};
    add_string(mailbox, false);
    selected_ = false;
    exists_ = 0;
    return start(op::select);
  }
  result<> fetch(std::uint32_t seq) {
    if (const result<> r = may_run(); !r) return r;
    if (!selected_ || seq == 0) return errc::usage;
    seq_ = seq;
    got_body_ = false;
    message_.clear();
    return start(op::fetch);
  }
  result<> noop() {
    if (const result<> r = may_run(); !r) return r;
    return start(op::noop);
  }
  result<> logout() {
    if (op_ != op::none) return errc::usage;
    if (error_) {
      pending_ = error_;
      return start(op::closing);
    }
    if (!opened_) return errc::usage;
    return start(op::logout);
  }

  result<> resume() {
    if (op_ == op::none) return errc::usage;
    const result<> r = step();
    if (!r.would_block()) op_ = op::none;
    return r;
  }
  bool busy() const noexcept { return op_ != op::none; }

  stream s_;
  client_options opts_;
  std::vector<std::string> caps_;
  response last_;
  bool tls_skipped_ = false;
  std::error_code skip_reason_;
  bool authenticated_ = false;
  std::uint32_t exists_ = 0;
  std::string message_;

 private:
  enum class op { none, open, open_implicit, open_upgraded, login, select, fetch, noop, logout, closing };

  result<> may_run() const {
    if (op_ != op::none) return errc::usage;
    if (error_) return error_;
    if (!opened_ || (!s_.is_tls() && !tls_skipped_)) return errc::usage;
    return {};
  }
  result<> start(op o) {
    op_ = o;
    step_ = 0;
    return resume();
  }
  result<> step() {
    switch (op_) {
      case op::open: return step_open();
      case op::open_implicit: return step_open_implicit();
      case op::open_upgraded: return step_capability();
      case op::login: return step_login();
      case op::select: return step_select();
      case op::fetch: return step_fetch();
      case op::noop: return step_simple("NOOP");
      case op::logout: return step_logout();
      case op::closing: return step_closing();
      case op::none: break;
    }
    return errc::usage;
  }

  // A string argument: quoted when it can be, else a synchronising literal
  // (the command_run waits for the server's "+" before its octets).
  void add_string(std::string_view value, bool secret) {
    if (detail::quotable(value)) {
      parts_.back() += detail::quoted(value);
      traced_.back() += secret ? "\"***\"" : detail::quoted(value);
      return;
    }
    const std::string marker = "{" + std::to_string(value.size()) + "}";
    parts_.back() += marker;
    traced_.back() += marker;
    parts_.emplace_back(value);
    traced_.emplace_back(secret ? "***" : "{" + std::to_string(value.size()) + " octets}");
  }

  std::size_t literal_bound() const noexcept {
    return s_.is_tls() || tls_skipped_ ? opts_.max_literal : max_plaintext_literal;
  }

  // What every command does with untagged data: new capabilities and EXISTS
  // counts are taken; a BYE outside LOGOUT means the server is going away.
  std::error_code on_untagged(const response& u) {
    if (std::vector<std::string> caps; detail::parse_capabilities(u.text, caps)) {
      caps_ = std::move(caps);
      return {};
    }
    if (const auto n = numbered(u.text, "EXISTS")) {
      exists_ = *n;
      return {};
    }
    if (iequals(first_word(u.text), "BYE") && op_ != op::logout) return make_error_code(errc::protocol_error);
    return {};
  }
  detail::untagged_fn untagged() {
    return [this](const response& u) { return on_untagged(u); };
  }

  result<> fail(std::error_code ec) {
    if (ec && !error_) error_ = ec;
    return ec;
  }
  result<> close_then(std::error_code ec) {
    (void)fail(ec);
    pending_ = ec;
    op_ = op::closing;
    return step_closing();
  }
  result<> step_closing() {
    const result<> c = s_.close();
    if (c.would_block()) return c;
    return pending_;
  }
  void note(const std::string& text) const {
    if (opts_.trace) opts_.trace("*", text);
  }
  bool tagged_ok() const { return iequals(first_word(last_.text), "OK"); }

  // Runs parts_ as one command; ok once its tagged response is in last_.
  result<> run_parts() {
    return command_.run(s_, parts_, traced_, opts_, literal_bound(), last_, untagged());
  }
  result<> run_line(const std::string& line) {
    return command_.run(s_, line, opts_, literal_bound(), last_, untagged());
  }

  // CAPABILITY and its tagged OK: the list replaces whatever was known.
  // The caller has cleared caps_ before the command starts.
  result<> step_capability() {
    const result<> r = run_line("CAPABILITY");
    if (r.would_block()) return r;
    if (r.failed()) return fail(r.error());
    if (!tagged_ok()) return fail(make_error_code(errc::protocol_error));
    if (std::vector<std::string> code; detail::parse_capabilities(last_.text, code)) caps_ = std::move(code);
    return {};
  }

  // 0 greeting inside TLS, then (unless it listed them) CAPABILITY.
  result<> step_open_implicit() {
    if (step_ == 0) {
      const result<> r = reader_.read(s_, opts_.max_literal, last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return fail(r.error());
      if (last_.tag != "*") return fail(make_error_code(errc::protocol_error));
      const std::string_view status = first_word(last_.text);
      // Inside TLS a PREAUTH greeting is the server's choice to make.
      if (iequals(status, "PREAUTH")) authenticated_ = true;
      else if (!iequals(status, "OK")) return fail(make_error_code(errc::protocol_error));
      if (detail::parse_capabilities(last_.text, caps_)) return {};
      caps_.clear();
      step_ = 1;
    }
    return step_capability();
  }

  // 0 prelude, 1 handshake, 2 CAPABILITY inside TLS.
  result<> step_open() {
    if (step_ == 0) {
      const result<> r = prelude_->resume(s_);
      if (r.would_block()) return r;
      last_ = prelude_->last_response();
      const std::error_code ec = r.error();
      const bool skippable = ec == errc::starttls_not_offered || ec == errc::starttls_refused ||
                             ec == errc::preauthenticated;
      if (skippable && opts_.mode == tls_mode::opportunistic) return skip_tls(ec);
      if (ec) {
        note("STARTTLS failed (" + ec.message() + "): closing");
        return close_then(ec);  // never on in plaintext after a failed upgrade
      }
      prelude_.reset();
      step_ = 1;
    }
    if (step_ == 1) {
      const result<> r = s_.start_tls(tls_, peer_);
      if (r.would_block()) return r;
      if (r.failed()) {
        note("TLS handshake failed: " + r.error().message());
        return close_then(r.error());  // also after an injection, which start_tls refused
      }
      if (opts_.trace) {
        const session_info& info = *s_.session();
        note("TLS established (" + std::string(to_string(info.version)) + ", " + info.suite.name + ", " + info.backend +
             "); plaintext capabilities forgotten");
      }
      // Anything said in plaintext could have been forged (RFC 9051 6.2.1):
      // capabilities, response codes, untagged data.
      caps_.clear();
      step_ = 2;
    }
    const result<> r = step_capability();
    if (r.failed()) return close_then(r.error());
    return r;
  }

  result<> skip_tls(std::error_code why) {
    tls_skipped_ = true;
    skip_reason_ = why;
    caps_ = std::move(prelude_->capabilities());
    prelude_.reset();
    if (why == errc::preauthenticated) {
      authenticated_ = true;
      note("PREAUTH greeting: STARTTLS impossible, continuing WITHOUT TLS (opportunistic mode)");
    } else if (why == errc::starttls_refused) {
      note("STARTTLS refused (" + last_.text + "): continuing WITHOUT TLS (opportunistic mode)");
    } else {
      note("STARTTLS not offered: continuing WITHOUT TLS (opportunistic mode)");
    }
    // A refused STARTTLS is no capability to use again in this session.
    std::erase_if(caps_, [](const std::string& c) { return iequals(c, "STARTTLS"); });
    return {};
  }

  result<> step_login() {
    const result<> r = run_parts();
    if (r.would_block()) return r;
    if (r.failed()) return fail(r.error());
    if (!tagged_ok()) return make_error_code(errc::protocol_error);
    authenticated_ = true;
    // Capabilities change at login; a server may list the new ones in its OK.
    if (std::vector<std::string> code; detail::parse_capabilities(last_.text, code)) caps_ = std::move(code);
    return {};
  }

  result<> step_select() {
    const result<> r = run_parts();
    if (r.would_block()) return r;
    if (r.failed()) return fail(r.error());
    if (!tagged_ok()) return make_error_code(errc::protocol_error);
    selected_ = true;
    return {};
  }

  result<> step_fetch() {
    const result<> r = command_.run(s_, "FETCH " + std::to_string(seq_) + " BODY.PEEK[]", opts_, literal_bound(), last_,
                                    [this](const response& u) -> std::error_code {
                                      if (numbered(u.text, "FETCH") == seq_ && fetched_body(u, message_)) {
                                        got_body_ = true;
                                        return {};
                                      }
                                      return on_untagged(u);
                                    });
    if (r.would_block()) return r;
    if (r.failed()) return fail(r.error());
    if (!tagged_ok() || !got_body_) return make_error_code(errc::protocol_error);
    return {};
  }

  result<> step_simple(const char* command) {
    const result<> r = run_line(command);
    if (r.would_block()) return r;
    if (r.failed()) return fail(r.error());
    return tagged_ok() ? result<>{} : result<>(make_error_code(errc::protocol_error));
  }

  result<> step_logout() {
    if (step_ == 0) {
      const result<> r = run_line("LOGOUT");
      if (r.would_block()) return r;
      pending_ = r.failed() ? r.error() : (tagged_ok() ? std::error_code{} : make_error_code(errc::protocol_error));
      op_ = op::closing;
    }
    return step_closing();
  }

  op op_ = op::none;
  int step_ = 0;
  bool opened_ = false;
  bool selected_ = false;
  bool got_body_ = false;
  std::uint32_t seq_ = 0;
  std::error_code error_;
  std::error_code pending_;
  detail::command_run command_;
  detail::response_reader reader_;
  std::unique_ptr<detail::prelude_machine> prelude_;
  std::shared_ptr<const context> tls_;
  peer_options peer_;
  std::vector<std::string> parts_;
  std::vector<std::string> traced_;
};

client::client(stream s, client_options opts) : impl_(std::make_unique<impl>(std::move(s), std::move(opts))) {}
client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

result<> client::open(std::shared_ptr<const context> tls, const peer_options& peer) {
  return impl_->open(std::move(tls), peer);
}
result<> client::open_implicit() { return impl_->open_implicit(); }
result<> client::open_upgraded() { return impl_->open_upgraded(); }
result<> client::login(std::string_view user, std::string_view password) { return impl_->login(user, password); }
result<> client::select(std::string_view mailbox) { return impl_->select(mailbox); }
result<> client::fetch(std::uint32_t seq) { return impl_->fetch(seq); }
result<> client::noop() { return impl_->noop(); }
result<> client::logout() { return impl_->logout(); }
result<> client::resume() { return impl_->resume(); }
bool client::busy() const noexcept { return impl_->busy(); }
const std::vector<std::string>& client::capabilities() const noexcept { return impl_->caps_; }
bool client::supports(std::string_view capability) const { return detail::has_capability(impl_->caps_, capability); }
bool client::tls_skipped() const noexcept { return impl_->tls_skipped_; }
std::error_code client::tls_skip_reason() const noexcept { return impl_->skip_reason_; }
bool client::authenticated() const noexcept { return impl_->authenticated_; }
std::uint32_t client::exists() const noexcept { return impl_->exists_; }
const std::string& client::message() const noexcept { return impl_->message_; }
stream& client::connection() noexcept { return impl_->s_; }
const response& client::last_response() const noexcept { return impl_->last_; }

}  // namespace uptls::imap
