// The server side of the SMTP dialogue, without any I/O: the raw OpenSSL and the
// Asio servers feed it lines and send what it answers, so they say exactly the
// same bytes and differ only in how they move them.
//
//   220 localhost ESMTP                         on connect
//   EHLO x     -> 250-localhost / 250-8BITMIME / 250-ENHANCEDSTATUSCODES / 250 STARTTLS
//   STARTTLS   -> 220 2.0.0 Ready to start TLS, then the handshake on the same socket
//                 (554 and close when bytes were pipelined behind it: CVE-2011-0411)
//   EHLO x     -> the same reply without STARTTLS (RFC 3207: everything said in
//                 plaintext is forgotten, so the client must greet again)
//   MAIL FROM:<...> -> 250 2.1.0, RCPT TO:<...> -> 250 2.1.5, DATA -> 354
//   message, dot-stuffed, up to CRLF.CRLF -> 250 2.0.0 OK: queued when its X-Check
//                 header matches the body, else 554 5.6.0
//   QUIT       -> 221 2.0.0 Bye, and close
//
// MAIL, RCPT and DATA need TLS (530 before it), as on a server that requires
// STARTTLS. Every reply is a constant: the dialogue allocates nothing, and a
// multi-line reply is one string, so it goes out in one write.
#pragma once

#include <cstdint>
#include <string_view>

#include "common.hpp"

namespace conc {

// What the connection does once the reply (if any) is flushed.
enum class after : std::uint8_t {
  read,       // read the next line
  start_tls,  // begin the server handshake on the socket
  close,      // close the connection: a refusal (an injection, a line too long)
  quit,       // close the connection: QUIT answered, the session is complete
};

struct step {
  std::string_view reply;  // the bytes to send; empty: nothing
  after next = after::read;
};

// The longest line, CRLF included, that a server must buffer: RFC 5321 4.5.3.1.6
// allows 1000 octets in a text line (commands are shorter). A connection's line
// buffer holds one such line.
constexpr std::size_t max_line = 1024;

class smtp_dialogue {
 public:
  static constexpr std::string_view greeting = "220 localhost ESMTP\r\n";
  static constexpr std::string_view too_many = "421 4.7.0 too many connections\r\n";

  // One line without its CRLF (or bare LF). `tls`: the session is encrypted.
  // `more_buffered`: bytes follow this line in the input (pipelining); behind
  // STARTTLS they are an injection. Counts messages and sessions in `c`.
  step on_line(std::string_view line, bool tls, bool more_buffered, server_counters& c);

  // The input buffer filled up without a line end.
  static step line_too_long() { return {"500 5.5.0 line too long\r\n", after::close}; }

  // After the handshake: back to needing EHLO (RFC 3207 4.2).
  void tls_started() noexcept { state_ = state::need_ehlo; }

  bool in_data() const noexcept { return state_ == state::headers || state_ == state::body; }

 private:
  enum class state : std::uint8_t { need_ehlo, ready, mail, rcpt, headers, body };

  step command(std::string_view line, bool tls, bool more_buffered, server_counters& c);
  step data_line(std::string_view line, server_counters& c);

  state state_ = state::need_ehlo;
  bool check_seen_ = false;    // the message had an X-Check header that parsed
  std::uint64_t expected_ = 0;  // its value
  fnv1a64 body_;               // the body so far
};

}  // namespace conc
