// The server side: one connection, command by command, with STARTTLS on the
// same connection and the state reset the upgrade demands (RFC 3207 4.2).
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

class session {
 public:
  session(stream s, const server_options& opts, const std::function<void(const message&)>& sink)
      : s_(std::move(s)), opts_(opts), sink_(sink) {}

  std::error_code run() {
    if (const std::error_code ec = send("220 " + opts_.hostname + " ESMTP uptls")) return finish(ec);
    for (;;) {
      std::string line;
      const std::error_code ec = s_.read_line(line);
      if (ec == errc::line_too_long) {
        note("a command line over the limit was discarded");
        if (const std::error_code rec = refuse("500 5.5.2 line too long")) return finish(rec);
        continue;
      }
      if (ec) {
        if (ec == errc::timeout) (void)send("421 4.4.2 " + opts_.hostname + " timeout, closing");
        return finish(ec);
      }
      if (opts_.trace) opts_.trace("C", line);
      std::error_code cec = line.size() > max_line - 2 ? refuse("500 5.5.2 line too long") : dispatch(line);
      if (cec || done_) return finish(cec);
    }
  }

 private:
  std::error_code finish(std::error_code ec) {
    (void)s_.close();
    return ec;
  }

  void note(std::string_view text) const {
    if (opts_.trace) opts_.trace("*", text);
  }

  std::error_code send(std::string_view text) { return detail::write_line(s_, text, opts_.trace, "S"); }

  // A refused command; the last one allowed turns into 421 and the end of the session.
  std::error_code refuse(std::string_view text) {
    if (++errors_ >= opts_.max_errors) {
      (void)send("421 4.7.0 " + opts_.hostname + " too many errors, closing");
      return errc::protocol_error;
    }
    return send(text);
  }

  bool tls_offered() const { return opts_.tls != nullptr && !s_.is_tls(); }

  std::error_code dispatch(std::string_view line) {
    const auto [verb, args] = split_command(line);
    using detail::iequals;
    if (iequals(verb, "EHLO")) return on_hello(args, true);
    if (iequals(verb, "HELO")) return on_hello(args, false);
    if (iequals(verb, "STARTTLS")) return on_starttls(args);
    if (iequals(verb, "MAIL")) return on_mail(args);
    if (iequals(verb, "RCPT")) return on_rcpt(args);
    if (iequals(verb, "DATA")) return on_data(args);
    if (iequals(verb, "RSET")) {
      if (!args.empty()) return refuse("501 5.5.4 RSET takes no arguments");
      env_ = {};
      return send("250 2.0.0 OK");
    }
    if (iequals(verb, "NOOP")) return send("250 2.0.0 OK");
    if (iequals(verb, "QUIT")) {
      done_ = true;
      return send("221 2.0.0 " + opts_.hostname + " closing connection");
    }
    if (iequals(verb, "VRFY")) {
      if (args.empty()) return refuse("501 5.5.4 VRFY needs an argument");
      return send("252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
    }
    if (iequals(verb, "HELP")) return send("214 2.0.0 Commands: EHLO HELO STARTTLS MAIL RCPT DATA RSET NOOP VRFY HELP QUIT");
    return refuse("500 5.5.2 command not recognized");
  }

  std::error_code on_hello(std::string_view args, bool extended) {
    if (!detail::valid_ehlo_name(args)) {  // also keeps control octets out of our replies
      return refuse(extended ? "501 5.5.4 Syntax: EHLO hostname" : "501 5.5.4 Syntax: HELO hostname");
    }
    helo_.assign(args);
    env_ = {};
    if (!extended) return send("250 " + opts_.hostname);
    std::vector<std::string> lines = {opts_.hostname + " greets " + helo_, "SIZE " + std::to_string(opts_.max_message),
                                      "8BITMIME", "ENHANCEDSTATUSCODES", "PIPELINING"};
    if (tls_offered()) lines.emplace_back("STARTTLS");
    lines.emplace_back("HELP");
    // One write for the whole reply (one TLS record after the upgrade): a
    // scanner that reads the reply with one recv() must see STARTTLS in it.
    std::string wire;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string line = (i + 1 == lines.size() ? "250 " : "250-") + lines[i];
      if (opts_.trace) opts_.trace("S", line);
      wire.append(line).append("\r\n");
    }
    return s_.write(wire);
  }

  std::error_code on_starttls(std::string_view args) {
    if (!args.empty()) return refuse("501 5.5.4 STARTTLS takes no arguments");
    if (s_.is_tls()) return refuse("503 5.5.1 TLS already active");
    if (opts_.tls == nullptr) return refuse("502 5.5.1 STARTTLS not available");
    if (s_.buffered() > 0) {
      // Commands pipelined behind STARTTLS came in plaintext; executing them after
      // the handshake would treat them as protected (CVE-2011-0411).
      note("bytes were pipelined after STARTTLS: refusing the upgrade");
      (void)send("554 5.5.1 no commands may follow STARTTLS before the TLS handshake");
      return errc::plaintext_injection;
    }
    if (const std::error_code ec = send("220 2.0.0 Ready to start TLS")) return ec;
    if (const std::error_code ec = s_.start_tls(opts_.tls)) {
      note("TLS handshake failed: " + ec.message());
      return ec;
    }
    // Forget everything learnt in plaintext; the client must greet again.
    helo_.clear();
    env_ = {};
    if (const session_info* info = s_.session()) {
      note("TLS established: " + std::string(to_string(info->version)) + " " + info->cipher);
    }
    return {};
  }

  // Refusals that MAIL, RCPT and DATA share. Empty when the command may go on.
  std::string transaction_refusal() const {
    if (opts_.require_tls && !s_.is_tls()) return "530 5.7.0 Must issue a STARTTLS command first";
    if (helo_.empty()) return "503 5.5.1 send EHLO or HELO first";
    return {};
  }

  std::error_code on_mail(std::string_view args) {
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
        if (size > opts_.max_message) return send("552 5.3.4 message size exceeds fixed limit");
      } else if (!detail::iequals(param, "BODY=7BIT") && !detail::iequals(param, "BODY=8BITMIME")) {
        return refuse("555 5.5.4 unsupported MAIL parameter");
      }
    }
    env_ = {true, std::move(from), {}};
    return send("250 2.1.0 OK");
  }

  std::error_code on_rcpt(std::string_view args) {
    if (const std::string why = transaction_refusal(); !why.empty()) return refuse(why);
    if (!env_.open) return refuse("503 5.5.1 need MAIL before RCPT");
    std::string to;
    std::string_view params;
    if (!parse_path_arg(args, "TO:", to, params) || to.empty()) return refuse("501 5.5.4 Syntax: RCPT TO:<address>");
    if (!params.empty()) return refuse("555 5.5.4 unsupported RCPT parameter");
    if (env_.to.size() >= opts_.max_recipients) return send("452 4.5.3 too many recipients");
    env_.to.push_back(std::move(to));
    return send("250 2.1.5 OK");
  }

  std::error_code on_data(std::string_view args) {
    if (!args.empty()) return refuse("501 5.5.4 DATA takes no arguments");
    if (const std::string why = transaction_refusal(); !why.empty()) return refuse(why);
    if (!env_.open) return refuse("503 5.5.1 need MAIL before DATA");
    if (env_.to.empty()) return refuse("554 5.5.1 no valid recipients");
    if (const std::error_code ec = send("354 End data with <CR><LF>.<CR><LF>")) return ec;

    message msg;
    bool too_big = false;
    bool too_long = false;
    std::string line;
    for (;;) {
      const std::error_code ec = s_.read_line(line);
      if (ec == errc::line_too_long) {
        too_long = true;  // the stream discarded it; keep reading to the final dot
        continue;
      }
      if (ec) return ec;  // a message cut short is never delivered
      if (opts_.trace) opts_.trace("C", line);
      if (!s_.last_line_crlf()) {
        // Only CRLF.CRLF ends a message. Servers that also took LF.LF let a second,
        // forged message ride inside the first one ("SMTP smuggling", 2023); like
        // Postfix's smtpd_forbid_bare_newline, refuse the session instead.
        note("bare LF inside message data: closing");
        (void)send("521 5.5.2 " + opts_.hostname + " bare <LF> received in message data, closing");
        return errc::protocol_error;
      }
      if (line == ".") break;
      if (line.size() > max_line - 2) too_long = true;
      const std::string_view text = !line.empty() && line.front() == '.' ? std::string_view(line).substr(1) : line;
      if (too_big || too_long) continue;
      if (msg.data.size() + text.size() + 2 > opts_.max_message) {
        too_big = true;
        msg.data = std::string{};  // bounded memory: nothing more is kept
        continue;
      }
      msg.data.append(text).append("\r\n");
    }
    envelope env = std::exchange(env_, {});
    if (too_long) return refuse("500 5.5.2 line too long");
    if (too_big) return send("552 5.3.4 message size exceeds fixed limit");
    msg.from = std::move(env.from);
    msg.to = std::move(env.to);
    msg.over_tls = s_.is_tls();
    msg.helo = helo_;
    if (const session_info* info = s_.session()) msg.session = *info;
    if (sink_) sink_(msg);
    return send("250 2.0.0 OK: queued");
  }

  stream s_;
  const server_options& opts_;
  const std::function<void(const message&)>& sink_;
  std::string helo_;
  envelope env_;
  int errors_ = 0;
  bool done_ = false;
};

}  // namespace

std::error_code serve(stream s, const server_options& opts, const std::function<void(const message&)>& sink) {
  session one(std::move(s), opts, sink);
  return one.run();
}

}  // namespace uptls::smtp
