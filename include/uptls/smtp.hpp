/// @file
/// SMTP and LMTP with STARTTLS (RFC 5321, RFC 3207, RFC 2033): the client and
/// server dialogues over an uptls::stream, upgraded in place on the same connection.
///
/// Every dialogue is a resumable state machine: over a non-blocking stream a
/// call returns would-block and resume() continues it once the stream is ready;
/// over a blocking stream the same calls run to the end. serve() and the
/// blocking use of client are loops over the same machines.
///
/// The client never sends anything but EHLO and STARTTLS before TLS when TLS is
/// required, forgets what the server said before the upgrade, and refuses bytes
/// injected around the go-ahead. The server stops advertising STARTTLS once TLS
/// is on, refuses a second one, and never executes commands pipelined behind
/// STARTTLS inside the TLS session. See docs/architecture.md "Dialogues".
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uptls/backend.hpp"
#include "uptls/config.hpp"
#include "uptls/event_server.hpp"
#include "uptls/fallback.hpp"
#include "uptls/result.hpp"
#include "uptls/session.hpp"
#include "uptls/stream.hpp"
#include "uptls/trace.hpp"

/// SMTP and LMTP: the STARTTLS prelude, the client and the server session.
namespace uptls::smtp {

/// Longest SMTP text line, CRLF included (RFC 5321 4.5.3.1.6).
inline constexpr std::size_t max_line = 1000;

/// Stream options for an SMTP connection: base with max_line = 1000.
inline stream_options line_limits(stream_options base = {}) noexcept {
  base.max_line = max_line;
  return base;
}

/// The category of errors that carry an SMTP reply code as their value (e.g. 550
/// when the server refused a recipient); its name() is "smtp".
const std::error_category& reply_category() noexcept;
/// An error_code in reply_category() for a reply code (e.g. 530).
std::error_code make_reply_error(int code) noexcept;

/// The dialogue log (uptls/trace.hpp).
using trace_fn = uptls::trace_fn;

/// Which of the two protocols: SMTP, or LMTP (RFC 2033: LHLO instead of EHLO, no
/// HELO, and after DATA one reply per accepted recipient).
enum class dialect { smtp, lmtp };

/// Whether the client insists on TLS.
enum class tls_mode {
  required,  ///< stop before anything but EHLO when STARTTLS is missing, refused or fails
  /// "TLS if available" (an MTA's "may" level): go on in plaintext, and say so,
  /// when the server does not offer STARTTLS or refuses it (454). A failed
  /// handshake still ends the session: the server said yes, so something is wrong.
  opportunistic,
};

/// One server reply: its code and the text of each line after "250-" / "250 ".
struct reply {
  int code = 0;                    ///< the three-digit reply code, e.g. 250 (0 before any reply)
  std::vector<std::string> lines;  ///< the text of each line, in order, without the code and separator
};

/// How a client introduces itself, whether it insists on TLS, and its log.
struct client_options {
  std::string ehlo_name = "localhost";  ///< the EHLO/LHLO name: printable ASCII without spaces, else errc::usage
  tls_mode mode = tls_mode::required;   ///< required (the default) or opportunistic
  trace_fn trace;                       ///< the dialogue log; may be empty
  dialect proto = dialect::smtp;        ///< SMTP (EHLO) or LMTP (LHLO)
};

/// The plaintext dialogue up to the go-ahead, as the fallback ladder's prelude or
/// for a caller that upgrades the stream itself: greeting (multi-line allowed,
/// must be 220; else errc::protocol_error), EHLO (421 or 221: the server is
/// closing, an error in reply_category() with that code; another refusal or a
/// reply without STARTTLS gives errc::starttls_not_offered), STARTTLS (421:
/// closing, as for EHLO; another reply than 220 gives errc::starttls_refused).
/// Nothing else is sent, and nothing is read past the 220 line, so start_tls()
/// sees (and refuses) any byte injected behind it.
class starttls_dialogue final : public prelude_dialogue {
 public:
  /// A dialogue that will introduce itself with opts.ehlo_name (checked in the
  /// first resume(): errc::usage for a name that cannot follow EHLO).
  explicit starttls_dialogue(client_options opts);
  ~starttls_dialogue() override;
  /// Takes over the other dialogue where it stands.
  starttls_dialogue(starttls_dialogue&&) noexcept;
  /// Takes over the other dialogue where it stands.
  starttls_dialogue& operator=(starttls_dialogue&&) noexcept;

  /// ok once s is ready for start_tls(); would-block; or why it stopped.
  result<> resume(stream& s) override;
  /// The pre-TLS EHLO keyword lines (to be forgotten after the upgrade).
  const std::vector<std::string>& capabilities() const noexcept;
  /// The reply read last.
  const reply& last_reply() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// The SMTP prelude for fallback_request::before_tls: a new starttls_dialogue per attempt.
prelude starttls_prelude(client_options opts);

/// An SMTP (or LMTP) client session on one connection. Each call starts an
/// operation and runs it as far as the stream allows: over a blocking stream to
/// the end, over a non-blocking one until it would block; then resume()
/// continues it (calling another operation meanwhile is errc::usage). Each reply
/// is awaited at most the stream's io_timeout; a silent server gives
/// errc::timeout. After a failure in the dialogue every later call returns it.
class client {
 public:
  /// A client on s (a fresh connection, or one the fallback ladder upgraded);
  /// nothing is sent or read until open(), open_implicit() or open_upgraded().
  /// A stream made with line_limits() bounds lines as SMTP does.
  client(stream s, client_options opts);
  /// Closes the connection without QUIT (call quit() first for a clean end).
  ~client();
  /// Takes over the other client's session where it stands.
  client(client&&) noexcept;
  /// Drops this client's session and takes over the other's.
  client& operator=(client&&) noexcept;

  /// Greeting + EHLO + (per mode) STARTTLS + handshake + EHLO again over TLS.
  /// required: never continues in plaintext (errc::starttls_not_offered,
  /// starttls_refused, or the handshake's error), and nothing but EHLO/STARTTLS was
  /// sent. opportunistic: goes on in plaintext when STARTTLS is not offered or is
  /// refused with a reply other than 421, and says so (tls_skipped(),
  /// tls_skip_reason() and a "*" trace line). A server closing the session (421
  /// or 221 to EHLO, 421 to STARTTLS) ends it in every mode, with its reply code.
  /// errc::usage when called twice; a null tls is a broken contract. On failure
  /// the connection is closed.
  result<> open(std::shared_ptr<const context> tls, const peer_options& peer);
  /// For a stream that is already TLS (implicit TLS, port 465): greeting + EHLO.
  /// errc::usage on a plaintext stream.
  result<> open_implicit();
  /// For a stream upgraded elsewhere after a starttls_dialogue (the fallback
  /// ladder): EHLO over TLS only, no greeting (it came before the upgrade).
  /// errc::usage on a plaintext stream.
  result<> open_upgraded();
  /// MAIL FROM, RCPT TO for each recipient, DATA with dot-stuffing (line ends become
  /// CRLF). A refused command gives an error in reply_category() with its code;
  /// errc::usage before open() or for an address with a control octet, '<' or '>';
  /// errc::line_too_long for a data line over 998 octets (checked before sending).
  /// LMTP: ok when every recipient was delivered; otherwise the first refusal's
  /// code, and recipient_replies() has one code per recipient: its RCPT reply
  /// when RCPT refused it (the message still goes to the others, RFC 2033 4.2),
  /// else its reply after the message.
  result<> send_mail(std::string_view from, const std::vector<std::string>& to, std::string_view data);
  /// QUIT, then closes the connection; errc::protocol_error when the reply is not 221.
  result<> quit();
  /// Continues the operation that would block; ok or its failure once it ends.
  /// errc::usage when no operation is under way.
  result<> resume();
  /// An operation is under way (it returned would-block).
  bool busy() const noexcept;

  /// The current EHLO keyword lines (post-TLS ones after the upgrade; pre-TLS ones are forgotten).
  const std::vector<std::string>& capabilities() const noexcept;
  /// Whether the server advertised an extension keyword (case-insensitive, e.g. "SIZE").
  bool supports(std::string_view keyword) const;
  /// True when open() went on in plaintext (opportunistic only) because STARTTLS
  /// was not offered or the server refused it (454); tls_skip_reason() says which.
  bool tls_skipped() const noexcept;
  /// errc::starttls_not_offered or errc::starttls_refused when tls_skipped(); empty otherwise.
  std::error_code tls_skip_reason() const noexcept;
  /// LMTP: the final reply code of each recipient of the last send_mail, in order
  /// (0 for a recipient whose reply after the message never came).
  const std::vector<int>& recipient_replies() const noexcept;
  /// The stream under the session (its state, negotiated facts, socket and
  /// deadline for an event loop).
  stream& connection() noexcept;
  /// The server's reply read last (e.g. the 250 that accepted a message).
  const reply& last_reply() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// What a server received in one transaction.
struct message {
  std::string from;             ///< the reverse path without <> (empty for the null sender)
  std::vector<std::string> to;  ///< the forward paths without <>
  std::string data;             ///< dot-unstuffed, CRLF line ends, without the final "."
  bool over_tls = false;        ///< the whole transaction ran inside TLS
  std::string helo;             ///< the EHLO/HELO/LHLO name given in the same (TLS) session
  session_info session;         ///< the TLS facts when over_tls
};

/// Called with every message delivered (inside resume()).
using message_sink = std::function<void(const message&)>;

/// How long a server session waits for each part of the dialogue (a peer that
/// trickles one byte at a time still meets these: they bound the whole part).
struct server_timeouts {
  std::chrono::milliseconds greeting{std::chrono::minutes(5)};  ///< connect to the first command
  std::chrono::milliseconds command{std::chrono::minutes(5)};   ///< each later command line
  std::chrono::milliseconds data{std::chrono::minutes(10)};     ///< a whole message after 354
};

/// What a server session says, offers and allows; shared by every session of a server.
struct server_options {
  std::string hostname = "localhost";          ///< the name in the greeting and the EHLO reply
  std::shared_ptr<const context> tls;          ///< nullptr: STARTTLS not offered
  bool require_tls = false;                    ///< refuse MAIL before STARTTLS with 530
  std::size_t max_message = 10 * 1024 * 1024;  ///< 552 above
  std::size_t max_recipients = 100;            ///< 452 above
  int max_errors = 10;                         ///< 421 and close after this many refused commands
  dialect proto = dialect::smtp;               ///< SMTP, or LMTP (LHLO, one reply per recipient)
  server_timeouts timeouts;                    ///< the handshake's is tls->config().handshake_timeout
  trace_fn trace;                              ///< the dialogue log (C: client lines, S: ours); may be empty
};

/// One server session on one connection, as a state machine. Give it a stream
/// made with line_limits(); lines over 1000 octets are refused with 500 whatever
/// the stream allows. A stream that is already TLS (implicit TLS) is served
/// without STARTTLS. Only CRLF.CRLF ends a message: a bare LF inside message data
/// gets 521 and the end of the session (no SMTP smuggling). A client silent past
/// a timeout gets 421 and the session ends with errc::timeout.
class server_session final : public loop_session {
 public:
  /// opts is shared: many sessions of one server use the same options.
  server_session(stream s, std::shared_ptr<const server_options> opts, message_sink sink);
  /// Closes the connection where the session stands.
  ~server_session() override;
  /// Takes over the other session where it stands.
  server_session(server_session&&) noexcept;
  /// Drops this session and takes over the other where it stands.
  server_session& operator=(server_session&&) noexcept;

  /// Runs until the session waits for the stream (would-block) or ends: ok after
  /// QUIT; otherwise why it ended: errc::eof when the client left without QUIT,
  /// errc::plaintext_injection when bytes were pipelined behind STARTTLS,
  /// errc::protocol_error after too many errors or a bare LF in message data, the
  /// handshake's error, or the stream's (errc::timeout, ...). Once ended, every
  /// call returns the same. After a long batch of pipelined commands it yields
  /// with would-block (write), so that one client cannot starve an event loop.
  result<> resume() override;
  /// The session ended (resume() no longer blocks).
  bool done() const noexcept;
  stream& connection() noexcept override;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// Serves one connection to its end: the loop over a server_session (blocking
/// over a blocking stream; a non-blocking one is waited on with poll()).
result<> serve(stream s, const server_options& opts, const message_sink& sink);

/// What an event_server tells a connection past its limit.
inline constexpr const char* busy_reply = "421 4.7.0 too many connections, try again later\r\n";

/// An event_server factory of SMTP (or LMTP) sessions sharing opts and sink (the
/// sink runs on the server's thread).
event_server::factory session_factory(std::shared_ptr<const server_options> opts, message_sink sink);

}  // namespace uptls::smtp
