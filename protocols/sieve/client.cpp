// The client side as a state machine: the capability greeting, STARTTLS, the
// handshake on the same connection, the capabilities again inside TLS, then
// AUTHENTICATE, LISTSCRIPTS and LOGOUT. A step that would block returns, and
// resume() comes back to the same step.
#include <gsl/assert>
#include <utility>

#include "uptls/sieve.hpp"
#include "../sasl.hpp"
#include "wire.hpp"

namespace uptls::sieve {
namespace detail {

// The plaintext dialogue up to the OK to STARTTLS, shared by client::open and
// starttls_dialogue. The outcome is kept: later calls repeat it.
class prelude_machine {
 public:
  explicit prelude_machine(const client_options& opts) : opts_(opts) {}

  result<> resume(stream& s) {
    // Bounded: each round moves to a later step or returns.
    for (int round = 0; round < 4; ++round) {
      switch (step_) {
        case step::finished:
          return outcome_;
        case step::greeting: {
          const result<> r = reader_.read(s, last_, opts_.max_literal, opts_.trace);
          if (!r) return r.would_block() ? r : finish(r);
          if (last_.kind == status::bye) return finish(make_response_error(status::bye));
          if (last_.kind != status::ok) return finish(errc::protocol_error);
          if (const std::error_code ec = capabilities_of(last_, caps_)) return finish(ec);
          if (!offers(caps_, "STARTTLS")) return finish(errc::starttls_not_offered);
          step_ = step::starttls;
          break;
        }
        case step::starttls: {
          // The reader stops at the end of the OK line; whatever the stream read
          // beyond it stays buffered, and start_tls() refuses it as an injection.
          const result<> r = exchange_.run(s, "STARTTLS", last_, opts_.max_literal, opts_.trace);
          if (!r) return r.would_block() ? r : finish(r);
          if (last_.kind == status::bye) return finish(make_response_error(status::bye));
          if (last_.kind != status::ok) return finish(errc::starttls_refused);
          if (!last_.data.empty()) return finish(errc::protocol_error);  // STARTTLS answers nothing but OK
          return finish({});
        }
      }
    }
    return finish(errc::internal);
  }

  std::vector<capability>& capabilities() noexcept { return caps_; }
  const response& last_response() const noexcept { return last_; }

 private:
  enum class step { greeting, starttls, finished };
  result<> finish(result<> r) {
    step_ = step::finished;
    outcome_ = r;
    return r;
  }

  const client_options& opts_;
  step step_ = step::greeting;
  response_reader reader_;
  exchange exchange_;
  response last_;
  std::vector<capability> caps_;
  result<> outcome_;
};

}  // namespace detail

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
  result<> open_upgraded() {
    if (op_ != op::none || opened_ || error_) return errc::usage;
    if (!s_.is_tls()) return errc::usage;
    opened_ = true;
    return start(op::open_upgraded);
  }
  result<> authenticate(std::string_view user, std::string_view password) {
    if (op_ != op::none) return errc::usage;
    if (error_) return error_;
    if (!usable() || authenticated_) return errc::usage;
    if (user.find('\0') != std::string_view::npos || password.find('\0') != std::string_view::npos) return errc::usage;
    if (!detail::list_has(detail::value_of(caps_, "SASL"), "PLAIN")) return errc::unsupported;
    line_ = "AUTHENTICATE \"PLAIN\" " + detail::client_string(uptls::detail::sasl::plain_response(user, password));
    return start(op::authenticate);
  }
  result<> listscripts() {
    if (op_ != op::none) return errc::usage;
    if (error_) return error_;
    if (!usable() || !authenticated_) return errc::usage;
    return start(op::listscripts);
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
  std::vector<capability> caps_;
  response last_;
  bool tls_skipped_ = false;
  std::error_code skip_reason_;
  std::vector<script_entry> scripts_;

 private:
  enum class op { none, open, open_upgraded, authenticate, listscripts, logout, closing };

  // Commands other than STARTTLS go only over TLS, or in plaintext the caller chose.
  bool usable() const noexcept { return opened_ && (s_.is_tls() || tls_skipped_); }

  result<> start(op o) {
    op_ = o;
    step_ = 0;
    return resume();
  }
  result<> step() {
    switch (op_) {
      case op::open: return step_open();
      case op::open_upgraded: return step_capabilities();
      case op::authenticate: return step_authenticate();
      case op::listscripts: return step_listscripts();
      case op::logout: return step_logout();
      case op::closing: return step_closing();
      case op::none: break;
    }
    return errc::usage;
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

  // The capabilities the server sends unasked once TLS is up (RFC 5804 2.2).
  result<> step_capabilities() {
    const result<> r = reader_.read(s_, last_, opts_.max_literal, opts_.trace);
    if (r.would_block()) return r;
    if (r.failed()) return close_then(r.error());
    if (last_.kind == status::bye) return close_then(make_response_error(status::bye));
    if (last_.kind != status::ok) return close_then(make_error_code(errc::protocol_error));
    if (const std::error_code ec = detail::capabilities_of(last_, caps_)) return close_then(ec);
    // A server that still offers STARTTLS inside TLS is confused or forged.
    if (detail::offers(caps_, "STARTTLS")) return close_then(make_error_code(errc::protocol_error));
    return {};
  }

  // 0 prelude, 1 handshake, 2 capabilities over TLS.
  result<> step_open() {
    if (step_ == 0) {
      const result<> r = prelude_->resume(s_);
      if (r.would_block()) return r;
      last_ = prelude_->last_response();
      const std::error_code ec = r.error();
      if ((ec == errc::starttls_not_offered || ec == errc::starttls_refused) && opts_.mode == tls_mode::opportunistic) {
        tls_skipped_ = true;
        skip_reason_ = ec;
        note(ec == errc::starttls_refused ? "STARTTLS refused: continuing WITHOUT TLS (opportunistic mode)"
                                          : "STARTTLS not offered: continuing WITHOUT TLS (opportunistic mode)");
        caps_ = std::move(prelude_->capabilities());
        std::erase_if(caps_, [](const capability& c) { return detail::iequals(c.name, "STARTTLS"); });
        prelude_.reset();
        return {};
      }
      if (ec) {
        note("STARTTLS failed (" + ec.message() + "): closing");
        return close_then(ec);  // never goes on in plaintext after a failed upgrade
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
      caps_.clear();
      step_ = 2;
    }
    return step_capabilities();
  }

  result<> step_authenticate() {
    const result<> r = exchange_.run(s_, line_, last_, opts_.max_literal, opts_.trace,
                                     "AUTHENTICATE \"PLAIN\" (credentials not shown)");
    if (r.would_block()) return r;
    line_.assign(line_.size(), '\0');  // the credentials do not linger
    line_.clear();
    if (r.failed()) return fail(r.error());
    if (last_.kind == status::bye) return close_then(make_response_error(status::bye));
    if (last_.kind != status::ok) return make_response_error(last_.kind);
    authenticated_ = true;
    return {};
  }

  result<> step_listscripts() {
    const result<> r = exchange_.run(s_, "LISTSCRIPTS", last_, opts_.max_literal, opts_.trace);
    if (r.would_block()) return r;
    if (r.failed()) return fail(r.error());
    if (last_.kind == status::bye) return close_then(make_response_error(status::bye));
    if (last_.kind != status::ok) return make_response_error(last_.kind);
    scripts_.clear();
    for (const auto& line : last_.data) {
      if (line.empty() || line.size() > 2) return fail(make_error_code(errc::protocol_error));
      const bool active = line.size() == 2;
      if (active && !detail::iequals(line[1], "ACTIVE")) return fail(make_error_code(errc::protocol_error));
      scripts_.push_back({line[0], active});
    }
    return {};
  }

  result<> step_logout() {
    if (step_ == 0) {
      const result<> r = exchange_.run(s_, "LOGOUT", last_, opts_.max_literal, opts_.trace);
      if (r.would_block()) return r;
      pending_ = r.failed() ? r.error()
                            : (last_.kind == status::ok ? std::error_code{} : make_error_code(errc::protocol_error));
      op_ = op::closing;
    }
    return step_closing();
  }

  op op_ = op::none;
  int step_ = 0;
  bool opened_ = false;
  bool authenticated_ = false;
  std::error_code error_;
  std::error_code pending_;
  detail::exchange exchange_;
  detail::response_reader reader_;
  std::unique_ptr<detail::prelude_machine> prelude_;
  std::shared_ptr<const context> tls_;
  peer_options peer_;
  std::string line_;
};

client::client(stream s, client_options opts) : impl_(std::make_unique<impl>(std::move(s), std::move(opts))) {}
client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

result<> client::open(std::shared_ptr<const context> tls, const peer_options& peer) {
  return impl_->open(std::move(tls), peer);
}
result<> client::open_upgraded() { return impl_->open_upgraded(); }
result<> client::authenticate(std::string_view user, std::string_view password) {
  return impl_->authenticate(user, password);
}
result<> client::listscripts() { return impl_->listscripts(); }
result<> client::logout() { return impl_->logout(); }
result<> client::resume() { return impl_->resume(); }
bool client::busy() const noexcept { return impl_->busy(); }
const std::vector<capability>& client::capabilities() const noexcept { return impl_->caps_; }
bool client::supports(std::string_view name) const { return detail::offers(impl_->caps_, name); }
std::string client::capability_value(std::string_view name) const { return detail::value_of(impl_->caps_, name); }
bool client::tls_skipped() const noexcept { return impl_->tls_skipped_; }
std::error_code client::tls_skip_reason() const noexcept { return impl_->skip_reason_; }
const std::vector<script_entry>& client::scripts() const noexcept { return impl_->scripts_; }
stream& client::connection() noexcept { return impl_->s_; }
const response& client::last_response() const noexcept { return impl_->last_; }

class starttls_dialogue::impl {
 public:
  explicit impl(client_options opts) : opts_(std::move(opts)), machine_(opts_) {}
  client_options opts_;
  detail::prelude_machine machine_;
};

starttls_dialogue::starttls_dialogue(client_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}
starttls_dialogue::~starttls_dialogue() = default;
starttls_dialogue::starttls_dialogue(starttls_dialogue&&) noexcept = default;
starttls_dialogue& starttls_dialogue::operator=(starttls_dialogue&&) noexcept = default;
result<> starttls_dialogue::resume(stream& s) { return impl_->machine_.resume(s); }
const std::vector<capability>& starttls_dialogue::capabilities() const noexcept {
  return impl_->machine_.capabilities();
}
const response& starttls_dialogue::last_response() const noexcept { return impl_->machine_.last_response(); }

prelude starttls_prelude(client_options opts) {
  return [opts = std::move(opts)] { return std::make_unique<starttls_dialogue>(opts); };
}

}  // namespace uptls::sieve
