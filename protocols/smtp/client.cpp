// The client side as a state machine: greeting, EHLO, STARTTLS, the handshake
// on the same connection, EHLO again, then mail transactions. Each operation
// is a sequence of steps; a step that would block returns, and resume() comes
// back to the same step.
#include <algorithm>
#include <gsl/assert>
#include <utility>

#include "dialogue.hpp"
#include "prelude.hpp"
#include "uptls/smtp.hpp"

namespace uptls::smtp {

using detail::exchange;

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
    if (!s_.is_tls() || !detail::valid_ehlo_name(opts_.ehlo_name)) return errc::usage;
    opened_ = true;
    return start(op::open_implicit);
  }
  result<> open_upgraded() {
    if (op_ != op::none || opened_ || error_) return errc::usage;
    if (!s_.is_tls()) return errc::usage;
    opened_ = true;
    return start(op::open_upgraded);
  }
  result<> send_mail(std::string_view from, const std::vector<std::string>& to, std::string_view data) {
    if (op_ != op::none) return errc::usage;
    if (error_) return error_;
    if (!opened_ || (!s_.is_tls() && !tls_skipped_)) return errc::usage;
    if (to.empty() || !detail::valid_path(from)) return errc::usage;
    for (const auto& rcpt : to) {
      if (rcpt.empty() || !detail::valid_path(rcpt)) return errc::usage;
    }
    if (!detail::dot_stuff(data, wire_)) return errc::line_too_long;
    from_.assign(from);
    to_ = to;
    rcpt_replies_.clear();
    return start(op::send_mail);
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
  reply last_;
  bool tls_skipped_ = false;
  std::error_code skip_reason_;
  std::vector<int> rcpt_replies_;

 private:
  enum class op { none, open, open_implicit, open_upgraded, send_mail, quit, closing };

  result<> start(op o) {
    op_ = o;
    step_ = 0;
    return resume();
  }

  result<> step() {
    switch (op_) {
      case op::open: return step_open();
      case op::open_implicit: return step_open_implicit();
      case op::open_upgraded: return step_hello();
      case op::send_mail: return step_send_mail();
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
  // Ends the operation with ec after the connection is closed (which may take
  // more steps on a non-blocking stream: a flush, a close_notify, a drain).
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

  // EHLO (or LHLO) and its 250: the keywords become the capabilities.
  result<> step_hello() {
    const std::string line = std::string(detail::hello_verb(opts_.proto)) + " " + opts_.ehlo_name;
    const result<> r = exchange_.run(s_, line, last_, opts_.trace);
    if (r.would_block()) return r;
    if (r.failed()) return fail(r.error());
    if (last_.code != 250) return fail(errc::protocol_error);
    caps_ = detail::keywords(last_);
    return {};
  }

  result<> step_open_implicit() {
    if (step_ == 0) {
      const result<> r = reader_.read(s_, last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return fail(r.error());
      if (last_.code != 220) return fail(errc::protocol_error);
      step_ = 1;
    }
    return step_hello();
  }

  // 0 prelude, 1 HELO (opportunistic, EHLO refused), 2 handshake, 3 EHLO over TLS.
  result<> step_open() {
    if (step_ == 0) {
      const result<> r = prelude_->resume(s_);
      if (r.would_block()) return r;
      last_ = prelude_->last_reply();
      const std::error_code ec = r.error();
      const bool skippable = ec == errc::starttls_not_offered || ec == errc::starttls_refused;
      if (skippable && opts_.mode == tls_mode::opportunistic) {
        return skip_tls(ec);
      }
      if (ec) {
        note("STARTTLS failed (" + ec.message() + "): closing");
        return close_then(ec);  // the session never goes on in plaintext after a failed upgrade
      }
      prelude_.reset();
      step_ = 2;
    }
    if (step_ == 1) {
      // EHLO was refused: an old server; greet it with HELO instead.
      const result<> r = exchange_.run(s_, "HELO " + opts_.ehlo_name, last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return close_then(r.error());
      if (last_.code != 250) return close_then(make_error_code(errc::protocol_error));
      return {};
    }
    if (step_ == 2) {
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
      // Everything the server said in plaintext could have been forged (RFC 3207 4.2).
      caps_.clear();
      step_ = 3;
    }
    const result<> r = step_hello();
    if (r.failed()) return close_then(r.error());
    return r;
  }

  // "TLS if available": a refused STARTTLS (454) is like one not offered.
  result<> skip_tls(std::error_code why) {
    tls_skipped_ = true;
    skip_reason_ = why;
    note(why == errc::starttls_refused
             ? "STARTTLS refused (" + std::to_string(prelude_->last_reply().code) +
                   "): continuing WITHOUT TLS (opportunistic mode)"
             : std::string("STARTTLS not offered: continuing WITHOUT TLS (opportunistic mode)"));
    caps_ = std::move(prelude_->capabilities());
    const bool ehlo_refused = prelude_->ehlo_refused();
    prelude_.reset();
    if (why == errc::starttls_refused) {
      // It was refused: not a capability to use again in this session.
      std::erase_if(caps_, [](const std::string& c) { return detail::iequals(detail::keyword_of(c), "STARTTLS"); });
      return {};
    }
    if (!ehlo_refused) return {};
    // LMTP has no HELO to fall back on (RFC 2033 4.1).
    if (opts_.proto == dialect::lmtp) return close_then(make_error_code(errc::protocol_error));
    step_ = 1;
    return step_open();
  }

  // 0 MAIL, 1 RCPT (rcpt_i_), 2 RSET after a refused RCPT, 3 DATA, 4 the message, 5 its replies.
  result<> step_send_mail() {
    if (step_ == 0) {
      std::string mail = "MAIL FROM:<" + from_ + ">";
      if (detail::offers(caps_, "SIZE")) mail += " SIZE=" + std::to_string(wire_.size());
      const result<> r = exchange_.run(s_, mail, last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return fail(r.error());
      if (last_.code != 250) return make_reply_error(last_.code);
      rcpt_i_ = 0;
      refused_ = 0;
      accepted_at_.clear();
      step_ = 1;
    }
    const bool lmtp = opts_.proto == dialect::lmtp;
    while (step_ == 1 && rcpt_i_ < to_.size()) {
      const result<> r = exchange_.run(s_, "RCPT TO:<" + to_[rcpt_i_] + ">", last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return fail(r.error());
      rcpt_replies_.push_back(last_.code);
      const bool accepted = last_.code == 250 || last_.code == 251;
      if (accepted) accepted_at_.push_back(rcpt_i_);
      if (!accepted && refused_ == 0) refused_ = last_.code;
      ++rcpt_i_;
      // SMTP: one refused recipient ends the transaction. LMTP delivers to each
      // recipient on its own (RFC 2033 4.2): the others still get the message.
      if (!accepted && !lmtp) {
        step_ = 2;
        break;
      }
    }
    if (step_ == 1) step_ = accepted_at_.empty() ? 2 : 3;
    if (step_ == 2) {
      reply ignored;
      const result<> r = exchange_.run(s_, "RSET", ignored, opts_.trace);
      if (r.would_block()) return r;
      return make_reply_error(refused_);
    }
    if (step_ == 3) {
      const result<> r = exchange_.run(s_, "DATA", last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return fail(r.error());
      if (last_.code != 354) return make_reply_error(last_.code);
      step_ = 4;
      if (opts_.trace) {
        std::string_view rest = wire_;
        while (!rest.empty()) {
          const std::size_t eol = rest.find("\r\n");
          opts_.trace("C", rest.substr(0, eol));
          rest.remove_prefix(eol + 2);
        }
      }
      // The stream takes the whole message now; what would block it holds.
      if (const result<> w = s_.write(wire_); w.failed()) return fail(w.error());
      wire_.clear();
      wire_.shrink_to_fit();
      reply_i_ = 0;
    }
    if (step_ == 4) {
      if (const result<> f = s_.flush(); !f) return f.would_block() ? f : fail(f.error());
      step_ = 5;
      // Until its own reply comes, an accepted recipient has no delivery to show.
      if (lmtp) {
        for (const std::size_t i : accepted_at_) rcpt_replies_[i] = 0;
      }
    }
    // SMTP: one reply for the message; LMTP: one per accepted recipient, in
    // RCPT order (RFC 2033 4.2), each replacing that recipient's RCPT code.
    const std::size_t replies = lmtp ? accepted_at_.size() : 1;
    while (reply_i_ < replies) {
      const result<> r = reader_.read(s_, last_, opts_.trace);
      if (r.would_block()) return r;
      if (r.failed()) return fail(r.error());
      if (lmtp) rcpt_replies_[accepted_at_[reply_i_]] = last_.code;
      ++reply_i_;
    }
    if (lmtp) {
      for (const int code : rcpt_replies_) {
        if (code != 250) return make_reply_error(code);
      }
      return {};
    }
    return last_.code == 250 ? result<>{} : result<>(make_reply_error(last_.code));
  }

  result<> step_quit() {
    if (step_ == 0) {
      const result<> r = exchange_.run(s_, "QUIT", last_, opts_.trace);
      if (r.would_block()) return r;
      pending_ = r.failed() ? r.error()
                            : (last_.code == 221 ? std::error_code{} : make_error_code(errc::protocol_error));
      op_ = op::closing;
    }
    return step_closing();
  }

  op op_ = op::none;
  int step_ = 0;
  bool opened_ = false;
  std::error_code error_;
  std::error_code pending_;  // what a closing operation returns once closed
  exchange exchange_;
  detail::reply_reader reader_;
  std::unique_ptr<detail::prelude_machine> prelude_;
  std::shared_ptr<const context> tls_;
  peer_options peer_;
  std::string from_;
  std::vector<std::string> to_;
  std::string wire_;
  std::size_t rcpt_i_ = 0;
  std::size_t reply_i_ = 0;
  int refused_ = 0;                       // the first refused RCPT's code
  std::vector<std::size_t> accepted_at_;  // the recipients (by index) RCPT accepted
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
result<> client::send_mail(std::string_view from, const std::vector<std::string>& to, std::string_view data) {
  return impl_->send_mail(from, to, data);
}
result<> client::quit() { return impl_->quit(); }
result<> client::resume() { return impl_->resume(); }
bool client::busy() const noexcept { return impl_->busy(); }
const std::vector<std::string>& client::capabilities() const noexcept { return impl_->caps_; }
bool client::supports(std::string_view keyword) const { return detail::offers(impl_->caps_, keyword); }
bool client::tls_skipped() const noexcept { return impl_->tls_skipped_; }
std::error_code client::tls_skip_reason() const noexcept { return impl_->skip_reason_; }
const std::vector<int>& client::recipient_replies() const noexcept { return impl_->rcpt_replies_; }
stream& client::connection() noexcept { return impl_->s_; }
const reply& client::last_reply() const noexcept { return impl_->last_; }

}  // namespace uptls::smtp
