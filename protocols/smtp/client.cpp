// The client side: greeting, EHLO, STARTTLS, the handshake on the same
// connection, EHLO again, then mail transactions.
#include <algorithm>
#include <gsl/assert>
#include <utility>

#include "dialogue.hpp"
#include "uptls/smtp.hpp"

namespace uptls::smtp {
namespace {

// The keyword lines of an EHLO reply: every line after the first (which names the server).
std::vector<std::string> keywords(const reply& r) {
  if (r.lines.size() <= 1) return {};
  return {r.lines.begin() + 1, r.lines.end()};
}

bool offers(const std::vector<std::string>& caps, std::string_view keyword) {
  return std::any_of(caps.begin(), caps.end(),
                     [&](const std::string& c) { return detail::iequals(detail::keyword_of(c), keyword); });
}

std::error_code read_greeting(stream& s, const trace_fn& trace, reply& r) {
  if (const std::error_code ec = detail::read_reply(s, r, trace)) return ec;
  return r.code == 220 ? std::error_code{} : make_error_code(errc::protocol_error);
}

// starttls_prelude, also telling which reply it read last (the client needs to
// know whether EHLO itself was refused).
std::error_code prelude(stream& s, const client_options& opts, std::vector<std::string>* caps, reply& r) {
  if (!detail::valid_ehlo_name(opts.ehlo_name)) return errc::usage;  // checked before anything is read or sent
  if (const std::error_code ec = read_greeting(s, opts.trace, r)) return ec;
  if (const std::error_code ec = detail::write_line(s, "EHLO " + opts.ehlo_name, opts.trace, "C")) return ec;
  if (const std::error_code ec = detail::read_reply(s, r, opts.trace)) return ec;
  // 421 and 221 mean the server is closing the session (RFC 5321 3.8): nothing
  // more may be said, in any mode.
  if (r.code == 421 || r.code == 221) return make_reply_error(r.code);
  // A server that refuses EHLO has no extensions, so no STARTTLS either.
  if (r.code != 250) return errc::starttls_not_offered;
  std::vector<std::string> offered = keywords(r);
  if (caps != nullptr) *caps = offered;
  if (!offers(offered, "STARTTLS")) return errc::starttls_not_offered;
  if (const std::error_code ec = detail::write_line(s, "STARTTLS", opts.trace, "C")) return ec;
  // read_reply stops at the end of the 220 reply; whatever the stream read beyond
  // it stays buffered, and start_tls() refuses it as an injection.
  if (const std::error_code ec = detail::read_reply(s, r, opts.trace)) return ec;
  if (r.code == 421) return make_reply_error(r.code);
  return r.code == 220 ? std::error_code{} : make_error_code(errc::starttls_refused);
}

}  // namespace

std::error_code starttls_prelude(stream& s, const client_options& opts, std::vector<std::string>* caps) {
  reply r;
  return prelude(s, opts, caps, r);
}

client::client(stream s, client_options opts) : s_(std::move(s)), opts_(std::move(opts)) {}

bool client::supports(std::string_view keyword) const { return offers(caps_, keyword); }

std::error_code client::fail(std::error_code ec) {
  if (ec && !error_) error_ = ec;
  return ec;
}

std::error_code client::command(std::string_view line, reply& r) {
  if (const std::error_code ec = detail::write_line(s_, line, opts_.trace, "C")) return fail(ec);
  if (const std::error_code ec = detail::read_reply(s_, r, opts_.trace)) return fail(ec);
  return {};
}

std::error_code client::ehlo() {
  if (!detail::valid_ehlo_name(opts_.ehlo_name)) return fail(errc::usage);
  if (const std::error_code ec = command("EHLO " + opts_.ehlo_name, last_)) return ec;
  if (last_.code != 250) return fail(errc::protocol_error);
  caps_ = keywords(last_);
  return {};
}

std::error_code client::open(std::shared_ptr<const context> tls, const peer_options& peer) {
  Expects(tls != nullptr);
  if (opened_ || error_) return errc::usage;
  opened_ = true;
  std::vector<std::string> plain_caps;
  const std::error_code ec = prelude(s_, opts_, &plain_caps, last_);
  const bool skippable = ec == errc::starttls_not_offered || ec == errc::starttls_refused;
  if (skippable && opts_.mode == tls_mode::opportunistic) {
    // "TLS if available": a refused STARTTLS (454) is like one not offered.
    tls_skipped_ = true;
    skip_reason_ = ec;
    if (opts_.trace) {
      opts_.trace("*", ec == errc::starttls_refused
                           ? "STARTTLS refused (" + std::to_string(last_.code) +
                                 "): continuing WITHOUT TLS (opportunistic mode)"
                           : std::string("STARTTLS not offered: continuing WITHOUT TLS (opportunistic mode)"));
    }
    caps_ = std::move(plain_caps);
    if (ec == errc::starttls_refused) {
      // It was refused: not a capability to use again in this session.
      caps_.erase(std::remove_if(caps_.begin(), caps_.end(),
                                 [](const std::string& c) { return detail::iequals(detail::keyword_of(c), "STARTTLS"); }),
                  caps_.end());
      return {};
    }
    if (last_.code == 250) return {};
    // EHLO was refused: an old server; greet it with HELO instead.
    std::error_code hec = command("HELO " + opts_.ehlo_name, last_);
    if (!hec && last_.code != 250) hec = fail(errc::protocol_error);
    if (hec) (void)s_.close();
    return hec;
  }
  if (!ec) {
    if (const std::error_code hec = s_.start_tls(std::move(tls), peer)) {
      if (opts_.trace) opts_.trace("*", "TLS handshake failed: " + hec.message());
      (void)s_.close();  // also after an injection, which leaves the socket open
      return fail(hec);
    }
    if (opts_.trace) {
      const session_info& info = *s_.session();
      opts_.trace("*", "TLS established (" + std::string(to_string(info.version)) + ", " + info.cipher + ", " +
                           info.backend + "); plaintext capabilities forgotten");
    }
    // Everything the server said in plaintext could have been forged (RFC 3207 4.2).
    caps_.clear();
    const std::error_code eec = ehlo();
    if (eec) (void)s_.close();
    return eec;
  }
  if (opts_.trace) opts_.trace("*", "STARTTLS failed (" + ec.message() + "): closing");
  (void)s_.close();  // the session never goes on in plaintext after a failed upgrade
  return fail(ec);
}

std::error_code client::open_implicit() {
  if (opened_ || error_) return errc::usage;
  if (!s_.is_tls() || !detail::valid_ehlo_name(opts_.ehlo_name)) return errc::usage;
  opened_ = true;
  if (const std::error_code ec = read_greeting(s_, opts_.trace, last_)) return fail(ec);
  return ehlo();
}

std::error_code client::open_upgraded() {
  if (opened_ || error_) return errc::usage;
  if (!s_.is_tls()) return errc::usage;
  opened_ = true;
  return ehlo();
}

std::error_code client::send_mail(std::string_view from, const std::vector<std::string>& to, std::string_view data) {
  if (error_) return error_;
  if (!opened_ || (!s_.is_tls() && !tls_skipped_)) return errc::usage;
  if (to.empty() || !detail::valid_path(from)) return errc::usage;
  for (const auto& rcpt : to) {
    if (rcpt.empty() || !detail::valid_path(rcpt)) return errc::usage;
  }
  std::string wire;
  if (!detail::dot_stuff(data, wire)) return errc::line_too_long;

  std::string mail = "MAIL FROM:<" + std::string(from) + ">";
  if (supports("SIZE")) mail += " SIZE=" + std::to_string(wire.size());
  if (const std::error_code ec = command(mail, last_)) return ec;
  if (last_.code != 250) return make_reply_error(last_.code);
  for (const auto& rcpt : to) {
    if (const std::error_code ec = command("RCPT TO:<" + rcpt + ">", last_)) return ec;
    if (last_.code != 250 && last_.code != 251) {
      // Leave the server in a clean state for the next transaction.
      const int refused = last_.code;
      reply ignored;
      (void)command("RSET", ignored);
      return make_reply_error(refused);
    }
  }
  if (const std::error_code ec = command("DATA", last_)) return ec;
  if (last_.code != 354) return make_reply_error(last_.code);
  if (opts_.trace) {
    std::string_view rest = wire;
    while (!rest.empty()) {
      const std::size_t eol = rest.find("\r\n");
      opts_.trace("C", rest.substr(0, eol));
      rest.remove_prefix(eol + 2);
    }
  }
  if (const std::error_code ec = s_.write(wire)) return fail(ec);
  if (const std::error_code ec = detail::read_reply(s_, last_, opts_.trace)) return fail(ec);
  return last_.code == 250 ? std::error_code{} : make_reply_error(last_.code);
}

std::error_code client::quit() {
  if (error_) {
    (void)s_.close();
    return error_;
  }
  if (!opened_) return errc::usage;
  const std::error_code ec = command("QUIT", last_);
  (void)s_.close();
  if (ec) return ec;
  return last_.code == 221 ? std::error_code{} : make_error_code(errc::protocol_error);
}

}  // namespace uptls::smtp
