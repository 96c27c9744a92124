// The client side as a state machine: greeting, CAPA, STLS, the handshake on
// the same connection, CAPA again, then USER/PASS, STAT, RETR and QUIT. Each
// operation is a sequence of steps; a step that would block returns, and
// resume() comes back to the same step.
#include <charconv>
#include <gsl/assert>
#include <utility>

#include "dialogue.hpp"
#include "prelude.hpp"
#include "uptls/pop3.hpp"

namespace uptls::pop3 {

namespace {

// "12 3456" (STAT's answer) -> the two numbers; false when it is not that.
bool parse_stat(std::string_view text, maildrop_stat& out) {
  const std::size_t sp = text.find(' ');
  if (sp == std::string_view::npos || sp == 0) return false;
  const std::string_view a = text.substr(0, sp);
  std::string_view b = text.substr(sp + 1);
  b = b.substr(0, std::min(b.find(' '), b.size()));  // RFC 1939 5: more may follow
  const auto number = [](std::string_view digits, std::size_t& v) {
    const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    return !digits.empty() && err == std::errc{} && end == digits.data() + digits.size();
  };
  return number(a, out.count) && number(b, out.size);
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
    if (op_ != op::none || opened_ || error_ || !s_.is_tls()) return errc::usage;
    opened_ = true;
    return start(op::open_implicit);
  }
  result<> open_upgraded() {
    if (op_ != op::none || opened_ || error_ || !s_.is_tls()) return errc::usage;
    opened_ = true;
    return start(op::open_upgraded);
  }
  result<> login(std::string_view user, std::string_view password) {
    if (const result<> r = ready(); !r) return r;
    if (!detail::valid_argument(user) || !detail::valid_argument(password)) return errc::usage;
    // Checked before anything is sent: the password never leaves in the clear
    // unless the application asked for exactly that.
    if (!s_.is_tls() && !opts_.plaintext_login) return errc::usage;
    user_.assign(user);
    password_.assign(password);
    return start(op::login);
  }
  result<> stat() {
    if (const result<> r = ready(); !r) return r;
    return start(op::stat);
  }
  result<> retr(std::size_t n) {
    if (const result<> r = ready(); !r) return r;
    if (n == 0) return errc::usage;
    msg_no_ = n;
    return start(op::retr);
  }
  result<> quit() {
    if (op_ != op::none) return errc::usage;
    if (error_) {
      pending_ = error_;
      return start(op::closing);
    }
    if (!opened_) return errc::usage;
    return start(op::quit);
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
  maildrop_stat stat_;
  std::string message_;

 private:
  enum class op { none, open, open_implicit, open_upgraded, login, stat, retr, quit, closing };

  // The common gate of the commands after open().
  result<> ready() const {
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
      case op::open_upgraded: return step_capa();
      case op::login: return step_login();
      case op::stat: return step_stat();
      case op::retr: return step_retr();
      case op::quit: return step_quit();
      case op::closing: return step_closing();
      case op::none: break;
    }
    return errc::usage;
  }
  result<> fail(std::error_code ec) {
    if (ec && !error_) error_ = ec;
    return ec;
  }
  // Ends the operation with ec after the connection is closed.
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

  // CAPA: its list becomes the capabilities (none after a -ERR).
  result<> step_capa() {
    const result<> r = capa_.run(s_, last_, caps_, opts_.trace);
    if (r.would_block()) return r;
    if (r.failed()) return close_then(r.error());
    return {};
  }

  result<> step_open_implicit() {
    if (step_ == 0) {
      const result<> r = detail::read_status(s_, last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return close_then(r.error());
      if (!last_.ok) return close_then(make_error_code(errc::protocol_error));
      step_ = 1;
    }
    return step_capa();
  }

  // 0 prelude, 1 handshake, 2 CAPA over TLS.
  result<> step_open() {
    if (step_ == 0) {
      const result<> r = prelude_->resume(s_);
      if (r.would_block()) return r;
      last_ = prelude_->last_response();
      const std::error_code ec = r.error();
      const bool skippable = ec == errc::starttls_not_offered || ec == errc::starttls_refused;
      if (skippable && opts_.mode == tls_mode::opportunistic) return skip_tls(ec);
      if (ec) {
        note("STLS failed (" + ec.message() + "): closing");
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
      // What the server said in plaintext could have been forged (RFC 2595 4).
      caps_.clear();
      step_ = 2;
    }
    return step_capa();
  }

  result<> skip_tls(std::error_code why) {
    tls_skipped_ = true;
    skip_reason_ = why;
    note(why == errc::starttls_refused ? "STLS refused: continuing WITHOUT TLS (opportunistic mode)"
                                       : "STLS not offered: continuing WITHOUT TLS (opportunistic mode)");
    caps_ = std::move(prelude_->capabilities());
    prelude_.reset();
    // Refused: not a capability to use again in this session.
    std::erase_if(caps_, [](const std::string& c) { return detail::iequals(detail::first_word(c), "STLS"); });
    return {};
  }

  // 0 USER, 1 PASS.
  result<> step_login() {
    if (step_ == 0) {
      const result<> r = exchange_.run(s_, "USER " + user_, last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return fail(r.error());
      if (!last_.ok) return forget_password(make_error_code(refusal::login));
      step_ = 1;
    }
    const result<> r = exchange_.run(s_, "PASS " + password_, last_, opts_.trace, "PASS ****");
    if (r.would_block()) return r;
    if (r.failed()) return forget_password(fail(r.error()).error());
    return forget_password(last_.ok ? std::error_code{} : make_error_code(refusal::login));
  }
  result<> forget_password(std::error_code ec) {
    std::fill(password_.begin(), password_.end(), '\0');
    password_.clear();
    return ec;
  }

  result<> step_stat() {
    const result<> r = exchange_.run(s_, "STAT", last_, opts_.trace);
    if (r.would_block()) return r;
    if (r.failed()) return fail(r.error());
    if (!last_.ok) return make_error_code(refusal::command);
    maildrop_stat st;
    if (!parse_stat(last_.text, st)) return fail(make_error_code(errc::protocol_error));
    stat_ = st;
    return {};
  }

  // 0 RETR and its status, 1 the lines up to ".".
  result<> step_retr() {
    if (step_ == 0) {
      const result<> r = exchange_.run(s_, "RETR " + std::to_string(msg_no_), last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return fail(r.error());
      if (!last_.ok) return make_error_code(refusal::command);
      message_.clear();
      too_long_ = false;
      discarded_ = 0;
      step_ = 1;
    }
    // Bounded per call by the message size limit: every round consumes a line.
    for (;;) {
      const result<std::string_view> got = s_.read_line();
      if (got.would_block()) return got.status();
      if (got.failed() && got.error() == errc::line_too_long) {
        too_long_ = true;  // discarded by the stream; read on to the final "."
        // It still counts towards the size limit, so that endless long lines end too.
        discarded_ += s_.options().max_line;
        if (discarded_ > opts_.max_message) return close_then(make_error_code(errc::protocol_error));
        continue;
      }
      if (got.failed()) return close_then(got.error());
      const std::string_view line = *got;
      if (line == ".") break;
      const std::string_view text = !line.empty() && line.front() == '.' ? line.substr(1) : line;
      if (message_.size() + text.size() + 2 > opts_.max_message) {
        note("message over max_message: closing");
        message_.clear();
        return close_then(make_error_code(errc::protocol_error));
      }
      message_.append(text).append("\r\n");
    }
    if (opts_.trace) note("message " + std::to_string(msg_no_) + ": " + std::to_string(message_.size()) + " octets");
    if (too_long_) {
      message_.clear();
      return make_error_code(errc::line_too_long);
    }
    return {};
  }

  result<> step_quit() {
    if (step_ == 0) {
      const result<> r = exchange_.run(s_, "QUIT", last_, opts_.trace);
      if (r.would_block()) return r;
      pending_ = r.failed() ? r.error() : (last_.ok ? std::error_code{} : make_error_code(errc::protocol_error));
      op_ = op::closing;
    }
    return step_closing();
  }

  op op_ = op::none;
  int step_ = 0;
  bool opened_ = false;
  std::error_code error_;
  std::error_code pending_;
  detail::exchange exchange_;
  detail::capa_exchange capa_;
  std::unique_ptr<detail::prelude_machine> prelude_;
  std::shared_ptr<const context> tls_;
  peer_options peer_;
  std::string user_;
  std::string password_;
  std::size_t msg_no_ = 0;
  bool too_long_ = false;
  std::size_t discarded_ = 0;
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
result<> client::stat() { return impl_->stat(); }
result<> client::retr(std::size_t n) { return impl_->retr(n); }
result<> client::quit() { return impl_->quit(); }
result<> client::resume() { return impl_->resume(); }
bool client::busy() const noexcept { return impl_->busy(); }
const std::vector<std::string>& client::capabilities() const noexcept { return impl_->caps_; }
bool client::supports(std::string_view keyword) const { return detail::offers(impl_->caps_, keyword); }
bool client::tls_skipped() const noexcept { return impl_->tls_skipped_; }
std::error_code client::tls_skip_reason() const noexcept { return impl_->skip_reason_; }
maildrop_stat client::last_stat() const noexcept { return impl_->stat_; }
const std::string& client::retrieved() const noexcept { return impl_->message_; }
stream& client::connection() noexcept { return impl_->s_; }
const response& client::last_response() const noexcept { return impl_->last_; }

}  // namespace uptls::pop3
