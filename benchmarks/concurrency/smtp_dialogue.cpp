// The SMTP server dialogue of the concurrency benchmark (see smtp_dialogue.hpp).
#include "smtp_dialogue.hpp"

#include <charconv>

namespace conc {
namespace {

constexpr std::string_view ehlo_plain =
    "250-localhost\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n";
constexpr std::string_view ehlo_tls = "250-localhost\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// "FROM:<a@b>" (RFC 5321 allows no space after the colon; many clients send one).
bool path_arg(std::string_view args, std::string_view keyword) noexcept {
  if (!istarts_with(args, keyword)) return false;
  args.remove_prefix(keyword.size());
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  return args.size() >= 2 && args.front() == '<' && args.find('>') != std::string_view::npos;
}

}  // namespace

step smtp_dialogue::on_line(std::string_view line, bool tls, bool more_buffered, server_counters& c) {
  if (in_data()) return data_line(line, c);
  return command(line, tls, more_buffered, c);
}

step smtp_dialogue::command(std::string_view line, bool tls, bool more_buffered, server_counters& c) {
  const std::size_t space = line.find(' ');
  const std::string_view verb = line.substr(0, space);
  const std::string_view args = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);

  if (iequals(verb, "EHLO") || iequals(verb, "HELO")) {
    if (args.empty()) return {"501 5.5.4 Syntax: EHLO hostname\r\n"};
    state_ = state::ready;
    if (iequals(verb, "HELO")) return {"250 localhost\r\n"};
    return {tls ? ehlo_tls : ehlo_plain};
  }
  if (iequals(verb, "STARTTLS")) {
    if (tls) return {"503 5.5.1 TLS already active\r\n"};
    if (!args.empty()) return {"501 5.5.4 STARTTLS takes no arguments\r\n"};
    if (more_buffered) {
      // Commands sent behind STARTTLS came in plaintext; running them after the
      // handshake would treat them as protected (CVE-2011-0411). Refuse and close.
      ++c.injections_refused;
      return {"554 5.5.1 no commands may follow STARTTLS before the TLS handshake\r\n", after::close};
    }
    return {"220 2.0.0 Ready to start TLS\r\n", after::start_tls};
  }
  if (iequals(verb, "MAIL") || iequals(verb, "RCPT") || iequals(verb, "DATA")) {
    if (!tls) return {"530 5.7.0 Must issue a STARTTLS command first\r\n"};
    if (state_ == state::need_ehlo) return {"503 5.5.1 send EHLO first\r\n"};
    if (iequals(verb, "MAIL")) {
      if (state_ != state::ready) return {"503 5.5.1 nested MAIL command\r\n"};
      if (!path_arg(args, "FROM:")) return {"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"};
      state_ = state::mail;
      return {"250 2.1.0 OK\r\n"};
    }
    if (iequals(verb, "RCPT")) {
      if (state_ != state::mail && state_ != state::rcpt) return {"503 5.5.1 need MAIL before RCPT\r\n"};
      if (!path_arg(args, "TO:")) return {"501 5.5.4 Syntax: RCPT TO:<address>\r\n"};
      state_ = state::rcpt;
      return {"250 2.1.5 OK\r\n"};
    }
    if (state_ != state::rcpt) return {"503 5.5.1 need RCPT before DATA\r\n"};
    state_ = state::headers;
    check_seen_ = false;
    expected_ = 0;
    body_ = fnv1a64{};
    return {"354 End data with <CR><LF>.<CR><LF>\r\n"};
  }
  if (iequals(verb, "RSET")) {
    if (state_ != state::need_ehlo) state_ = state::ready;
    return {"250 2.0.0 OK\r\n"};
  }
  if (iequals(verb, "NOOP")) return {"250 2.0.0 OK\r\n"};
  if (iequals(verb, "QUIT")) {
    if (tls) ++c.sessions_completed;
    return {"221 2.0.0 Bye\r\n", after::quit};
  }
  return {"500 5.5.2 command not recognized\r\n"};
}

step smtp_dialogue::data_line(std::string_view line, server_counters& c) {
  if (line == ".") {
    state_ = state::ready;
    if (check_seen_ && expected_ == body_.value()) {
      ++c.messages_good;
      return {"250 2.0.0 OK: queued\r\n"};
    }
    ++c.messages_bad;
    return {"554 5.6.0 message check failed (X-Check does not match the body)\r\n"};
  }
  // Dot-unstuffing (RFC 5321 4.5.2): a leading dot was doubled by the client.
  if (!line.empty() && line.front() == '.') line.remove_prefix(1);
  if (state_ == state::headers) {
    if (line.empty()) {
      state_ = state::body;
    } else if (istarts_with(line, check_header)) {
      std::string_view v = line.substr(check_header.size());
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      std::uint64_t x = 0;
      const auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), x, 16);
      check_seen_ = err == std::errc{} && end == v.data() + v.size() && v.size() == 16;
      expected_ = x;
    }
    return {};
  }
  body_.add(line);
  body_.add("\r\n");
  return {};
}

}  // namespace conc
