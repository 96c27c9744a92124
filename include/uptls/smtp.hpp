// SMTP with STARTTLS (RFC 5321, RFC 3207): the client and server dialogues over
// an uptls::stream, upgraded in place on the same connection.
//
// The client never sends anything but EHLO and STARTTLS before TLS when TLS is
// required, forgets what the server said before the upgrade, and refuses bytes
// injected around the go-ahead. The server stops advertising STARTTLS once TLS
// is on, refuses a second one, and never executes commands pipelined behind
// STARTTLS inside the TLS session.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uptls/backend.hpp"
#include "uptls/config.hpp"
#include "uptls/session.hpp"
#include "uptls/stream.hpp"

namespace uptls::smtp {

// Longest SMTP text line, CRLF included (RFC 5321 4.5.3.1.6).
inline constexpr std::size_t max_line = 1000;

// Stream options for an SMTP connection (max_line = 1000).
inline stream_options line_limits() noexcept { return stream_options{max_line}; }

// The category of errors that carry an SMTP reply code as their value (e.g. 550
// when the server refused a recipient); its name() is "smtp".
const std::error_category& reply_category() noexcept;
// An error_code in reply_category() for a reply code (e.g. 530).
std::error_code make_reply_error(int code) noexcept;

// Called with each dialogue line: direction "C" (client to server), "S" (server
// to client) or "*" (a note from uptls, e.g. that TLS was skipped).
using trace_fn = std::function<void(std::string_view direction, std::string_view line)>;

// Whether the client insists on TLS.
enum class tls_mode {
  required,       // stop before anything but EHLO when STARTTLS is missing, refused or fails
  // "TLS if available" (an MTA's "may" level): go on in plaintext, and say so,
  // when the server does not offer STARTTLS or refuses it (454). A failed
  // handshake still ends the session: the server said yes, so something is wrong.
  opportunistic,
};

// One server reply: its code and the text of each line after "250-" / "250 ".
struct reply {
  int code = 0;
  std::vector<std::string> lines;
};

struct client_options {
  std::string ehlo_name = "localhost";  // printable ASCII without spaces, else errc::usage
  tls_mode mode = tls_mode::required;
  trace_fn trace;  // the dialogue log; may be empty
};

// The plaintext dialogue up to the go-ahead: greeting (multi-line allowed, must be
// 220; else errc::protocol_error), EHLO (421 or 221: the server is closing, an
// error in reply_category() with that code; another refusal or a reply without
// STARTTLS gives errc::starttls_not_offered), STARTTLS (421: closing, as for
// EHLO; another reply than 220 gives errc::starttls_refused). Nothing else is sent, and nothing is read past the 220
// line. On success s is ready for start_tls(). caps (optional) receives the
// pre-TLS EHLO keyword lines. Transport errors (errc::timeout, eof, ...) as read.
std::error_code starttls_prelude(stream& s, const client_options& opts, std::vector<std::string>* caps = nullptr);

// An SMTP client session on one connection. Each reply is awaited at most the
// transport's I/O timeout (socket_options::io_timeout); a silent server gives
// errc::timeout. After a failure in the dialogue every later call returns it.
class client {
 public:
  client(stream s, client_options opts);

  // Greeting + EHLO + (per mode) STARTTLS + handshake + EHLO again over TLS.
  // required: never continues in plaintext (errc::starttls_not_offered,
  // starttls_refused, or the handshake's error), and nothing but EHLO/STARTTLS was
  // sent. opportunistic: goes on in plaintext when STARTTLS is not offered or is
  // refused with a reply other than 421, and says so (tls_skipped(),
  // tls_skip_reason() and a "*" trace line). A server closing the session (421
  // or 221 to EHLO, 421 to STARTTLS) ends it in every mode, with its reply code. errc::usage when called twice;
  // a null tls is a broken contract. On failure the connection is closed.
  std::error_code open(std::shared_ptr<const context> tls, const peer_options& peer);
  // For a stream that is already TLS (implicit TLS, port 465): greeting + EHLO.
  // errc::usage on a plaintext stream.
  std::error_code open_implicit();
  // For a stream upgraded elsewhere after starttls_prelude (the fallback ladder,
  // connect_with_fallback): EHLO over TLS only, no greeting (it came before the
  // upgrade). errc::usage on a plaintext stream.
  std::error_code open_upgraded();
  // MAIL FROM, RCPT TO for each recipient, DATA with dot-stuffing (line ends become
  // CRLF). A refused command gives an error in reply_category() with its code;
  // errc::usage before open() or for an address with a control octet, '<' or '>';
  // errc::line_too_long for a data line over 998 octets (checked before sending).
  std::error_code send_mail(std::string_view from, const std::vector<std::string>& to, std::string_view data);
  // QUIT, then closes the connection; errc::protocol_error when the reply is not 221.
  std::error_code quit();

  // The current EHLO keyword lines (post-TLS ones after the upgrade; pre-TLS ones are forgotten).
  const std::vector<std::string>& capabilities() const noexcept { return caps_; }
  // Whether the server advertised an extension keyword (case-insensitive, e.g. "SIZE").
  bool supports(std::string_view keyword) const;
  // True when open() went on in plaintext (opportunistic only) because STARTTLS
  // was not offered or the server refused it (454); tls_skip_reason() says which.
  bool tls_skipped() const noexcept { return tls_skipped_; }
  // errc::starttls_not_offered or errc::starttls_refused when tls_skipped(); empty otherwise.
  std::error_code tls_skip_reason() const noexcept { return skip_reason_; }
  stream& connection() noexcept { return s_; }
  const reply& last_reply() const noexcept { return last_; }

 private:
  std::error_code command(std::string_view line, reply& r);
  std::error_code ehlo();
  std::error_code fail(std::error_code ec);

  stream s_;
  client_options opts_;
  std::vector<std::string> caps_;
  reply last_;
  bool opened_ = false;
  bool tls_skipped_ = false;
  std::error_code skip_reason_;
  std::error_code error_;
};

// What a server received in one transaction.
struct message {
  std::string from;             // the reverse path without <> (empty for the null sender)
  std::vector<std::string> to;  // the forward paths without <>
  std::string data;             // dot-unstuffed, CRLF line ends, without the final "."
  bool over_tls = false;        // the whole transaction ran inside TLS
  std::string helo;             // the EHLO/HELO name given in the same (TLS) session
  session_info session;         // the TLS facts when over_tls
};

struct server_options {
  std::string hostname = "localhost";
  std::shared_ptr<const context> tls;          // nullptr: STARTTLS not offered
  bool require_tls = false;                    // refuse MAIL before STARTTLS with 530
  std::size_t max_message = 10 * 1024 * 1024;  // 552 above
  std::size_t max_recipients = 100;            // 452 above
  int max_errors = 10;                         // 421 and close after this many refused commands
  trace_fn trace;
};

// Serves one connection until QUIT, EOF, error or a fatal protocol violation;
// every delivered message goes to sink. Give it a stream made with line_limits();
// lines over 1000 octets are refused with 500 whatever the stream allows. A
// stream that is already TLS (implicit TLS) is served without STARTTLS. Only
// CRLF.CRLF ends a message: a bare LF inside message data gets 521 and the end
// of the session (no SMTP smuggling). A silent client ends the session after the
// transport's I/O timeout with 421 and errc::timeout. Returns why it ended: empty on QUIT,
// errc::eof when the client left without QUIT, errc::plaintext_injection when
// bytes were pipelined behind STARTTLS, errc::protocol_error after too many
// errors, the handshake's error, or the transport's (errc::timeout, ...).
std::error_code serve(stream s, const server_options& opts, const std::function<void(const message&)>& sink);

}  // namespace uptls::smtp
