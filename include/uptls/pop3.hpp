/// @file
/// POP3 with STLS (RFC 1939, RFC 2449, RFC 2595): the client and server
/// dialogues over an uptls::stream, upgraded in place on the same connection.
///
/// Like uptls/smtp.hpp, every dialogue is a resumable state machine: over a
/// non-blocking stream a call returns would-block and resume() continues it;
/// over a blocking stream the same calls run to the end.
///
/// The client sends nothing but CAPA and STLS before TLS when TLS is required,
/// forgets the pre-TLS capabilities, refuses bytes injected behind the +OK to
/// STLS, and never sends a password in plaintext unless told to. The server
/// stops advertising STLS once TLS is on, refuses a second one, refuses
/// credentials in plaintext when TLS is required, never runs commands pipelined
/// behind STLS inside TLS, and hands the upgraded session, with nothing of the
/// plaintext one, to the application's maildrop.
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

namespace uptls::pop3 {

/// Longest status or CAPA line the client accepts, CRLF included (RFC 2449 4).
inline constexpr std::size_t max_response_line = 512;
/// Longest command line the server accepts, CRLF included (RFC 2449 4).
inline constexpr std::size_t max_command_line = 255;
/// Longest line of a message the stream reads (RFC 5322 allows 1000; real mail
/// sometimes has longer ones, so some room is left).
inline constexpr std::size_t max_line = 8192;
/// Most CAPA lines the client reads before it calls the response malformed.
inline constexpr std::size_t max_capabilities = 64;

/// Stream options for a POP3 connection: base with max_line = pop3::max_line.
inline stream_options line_limits(stream_options base = {}) noexcept {
  base.max_line = max_line;
  return base;
}

/// The dialogue log (uptls/trace.hpp). Passwords are never traced ("PASS ****").
using trace_fn = uptls::trace_fn;

/// Why a POP3 server answered -ERR (category "pop3"); the server's text is in
/// client::last_response().
enum class refusal {
  command = 1,  ///< a command (STAT, RETR, ...) was refused
  login,        ///< USER or PASS was refused: wrong name or password, or the server's policy
};
/// The category of refusal; its name() is "pop3".
const std::error_category& refusal_category() noexcept;
/// An error_code in refusal_category().
std::error_code make_error_code(refusal r) noexcept;

/// Whether the client insists on TLS.
enum class tls_mode {
  required,  ///< stop after CAPA when STLS is missing, refused or fails
  /// "TLS if available": go on in plaintext, and say so, when the server does not
  /// offer STLS or refuses it. A failed handshake still ends the session.
  opportunistic,
};

/// One status line: "+OK text" (ok) or "-ERR text".
struct response {
  bool ok = false;   ///< true for "+OK", false for "-ERR" (and before any line)
  std::string text;  ///< after "+OK " / "-ERR "
};

/// Whether a client insists on TLS, how much it reads, and its log.
struct client_options {
  tls_mode mode = tls_mode::required;  ///< required (the default) or opportunistic
  /// Let login() send USER/PASS over plaintext (opportunistic mode after TLS was
  /// skipped). Off by default: a password in the clear is the thing STLS is for.
  bool plaintext_login = false;
  /// Largest message retr() accepts, 64 MiB by default (errc::protocol_error above;
  /// the session ends).
  std::size_t max_message = 64 * 1024 * 1024;
  trace_fn trace;  ///< the dialogue log; may be empty
};

/// The plaintext dialogue up to the go-ahead, as the fallback ladder's prelude
/// or for a caller that upgrades the stream itself: greeting (+OK; -ERR or
/// anything else gives errc::protocol_error), CAPA (a -ERR or a list without
/// STLS gives errc::starttls_not_offered; a list without its "." terminator
/// within max_capabilities lines, or a line over max_response_line, gives
/// errc::protocol_error), STLS (-ERR gives errc::starttls_refused). Nothing
/// else is sent, and nothing is read past the +OK line, so start_tls() sees
/// (and refuses, errc::plaintext_injection) any byte injected behind it.
class starttls_dialogue final : public prelude_dialogue {
 public:
  /// A dialogue that traces to opts.trace (opts.mode plays no part: it stops at
  /// the first refusal); nothing is sent or read until resume().
  explicit starttls_dialogue(client_options opts);
  /// Destroys the dialogue; the stream it ran on is the caller's and is left as it is.
  ~starttls_dialogue() override;
  /// Takes over the other dialogue where it stands; the moved-from one may only be
  /// destroyed or assigned to.
  starttls_dialogue(starttls_dialogue&&) noexcept;
  /// Drops this dialogue and takes over the other where it stands.
  starttls_dialogue& operator=(starttls_dialogue&&) noexcept;

  /// ok once s is ready for start_tls(); would-block; or why it stopped.
  result<> resume(stream& s) override;
  /// The pre-TLS CAPA lines (to be forgotten after the upgrade).
  const std::vector<std::string>& capabilities() const noexcept;
  /// The status line read last.
  const response& last_response() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// The POP3 prelude for fallback_request::before_tls: a new starttls_dialogue per attempt.
prelude starttls_prelude(client_options opts);

/// What STAT says: the number of messages and their size in octets.
struct maildrop_stat {
  std::size_t count = 0;  ///< the number of messages in the maildrop
  std::size_t size = 0;   ///< their total size in octets, as the server counts it
};

/// A POP3 client session on one connection. Each call starts an operation and
/// runs it as far as the stream allows (blocking: to the end; non-blocking:
/// until it would block, then resume() continues it; another call meanwhile is
/// errc::usage). Each response is awaited at most the stream's io_timeout.
/// After a failure in the dialogue every later call returns it.
class client {
 public:
  /// A client on s (a fresh connection, an implicit-TLS one, or one the fallback
  /// ladder upgraded); nothing is sent or read until open(), open_implicit() or
  /// open_upgraded(). A stream made with line_limits() bounds lines as POP3 does.
  client(stream s, client_options opts);
  /// Closes the connection without QUIT (call quit() first for a clean end).
  ~client();
  /// Takes over the other client's session where it stands; the moved-from client
  /// may only be destroyed or assigned to.
  client(client&&) noexcept;
  /// Drops this client's session and takes over the other's.
  client& operator=(client&&) noexcept;

  /// Greeting + CAPA + (per mode) STLS + handshake + CAPA again over TLS.
  /// required: never continues in plaintext (errc::starttls_not_offered,
  /// starttls_refused, or the handshake's error, errc::plaintext_injection for
  /// bytes behind the +OK), and nothing but CAPA/STLS was sent. opportunistic:
  /// goes on in plaintext when STLS is not offered or refused, and says so
  /// (tls_skipped(), tls_skip_reason(), a "*" trace line). errc::usage when
  /// called twice; a null tls is a broken contract. On failure the connection
  /// is closed.
  result<> open(std::shared_ptr<const context> tls, const peer_options& peer);
  /// For a stream that is already TLS (implicit TLS, port 995): greeting + CAPA.
  /// errc::usage on a plaintext stream or when called twice; a greeting other than
  /// +OK is errc::protocol_error. On failure the connection is closed.
  result<> open_implicit();
  /// For a stream upgraded elsewhere after a starttls_dialogue (the fallback
  /// ladder): CAPA over TLS only (the greeting came before the upgrade).
  /// errc::usage on a plaintext stream or when called twice. On failure the
  /// connection is closed.
  result<> open_upgraded();
  /// USER then PASS. A -ERR to either is refusal::login. errc::usage before
  /// open(), for a name or password that is empty, longer than 200 octets or
  /// holds a control octet, and over plaintext unless
  /// client_options::plaintext_login (checked before anything is sent).
  result<> login(std::string_view user, std::string_view password);
  /// STAT; then last_stat() holds the answer. errc::usage before open(); -ERR is
  /// refusal::command; a malformed answer errc::protocol_error.
  result<> stat();
  /// RETR n (n from 1); then retrieved() holds the message, dot-unstuffed, with
  /// CRLF line ends. -ERR is refusal::command; errc::usage before open() or for
  /// n = 0; a line over the stream's max_line makes it errc::line_too_long once
  /// the whole message was read (the session goes on); a message over max_message
  /// or a connection closed before the final "." is errc::protocol_error / the
  /// stream's error, and ends the session.
  result<> retr(std::size_t n);
  /// QUIT, then closes the connection; errc::protocol_error when the answer is not +OK,
  /// errc::usage before open(). After a failure in the dialogue it only closes the
  /// connection, and returns that failure.
  result<> quit();
  /// Continues the operation that would block. errc::usage when none is under way.
  result<> resume();
  /// An operation is under way (it returned would-block).
  bool busy() const noexcept;

  /// The current CAPA lines (the ones given over TLS after the upgrade).
  const std::vector<std::string>& capabilities() const noexcept;
  /// Whether the server listed a capability (case-insensitive first word, e.g. "UIDL").
  bool supports(std::string_view keyword) const;
  /// True when open() went on in plaintext (opportunistic only).
  bool tls_skipped() const noexcept;
  /// errc::starttls_not_offered or errc::starttls_refused when tls_skipped(); empty otherwise.
  std::error_code tls_skip_reason() const noexcept;
  /// What the last stat() said.
  maildrop_stat last_stat() const noexcept;
  /// The message the last retr() fetched.
  const std::string& retrieved() const noexcept;
  /// The stream under the session (its state, negotiated facts, socket and
  /// deadline for an event loop).
  stream& connection() noexcept;
  /// The server's status line read last (after a refusal, the server's words).
  const response& last_response() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// Who is logging in, as the server hands it to the maildrop.
struct login_request {
  std::string_view user;                  ///< the name USER gave; valid during the call only
  std::string_view password;              ///< the password PASS gave; valid during the call only
  bool over_tls = false;                  ///< the session is TLS (after STLS, or implicit)
  const session_info* session = nullptr;  ///< the TLS facts when over_tls
};

/// The application's side of a POP3 server: one object per session, made at
/// the session's PASS (anew for each PASS until a login succeeds; after the
/// upgrade when there is one, so nothing of the plaintext session reaches it).
/// Messages are numbered from 1.
class maildrop {
 public:
  /// Destroyed when its login is refused, or when the session ends.
  virtual ~maildrop() = default;
  /// PASS: true opens the maildrop (the TRANSACTION state); false refuses the login.
  virtual bool login(const login_request& who) = 0;
  /// The number of messages (called after a successful login only).
  virtual std::size_t count() const = 0;
  /// The size of message n (1..count()) as sent: CRLF line ends, before
  /// dot-stuffing (wire_size() computes it).
  virtual std::size_t size(std::size_t n) const = 0;
  /// The text of message n (1..count()); any line ends (they go out as CRLF).
  virtual std::string retrieve(std::size_t n) = 0;
};

/// Makes the maildrop of a session; an empty factory, or one that returns nullptr,
/// refuses the login.
using maildrop_factory = std::function<std::unique_ptr<maildrop>()>;

/// The size of text with every line end (LF, CR or CRLF) counted as CRLF, and a
/// final CRLF added when text does not end with one: what RETR sends before
/// dot-stuffing, and what STAT and LIST report.
std::size_t wire_size(std::string_view text) noexcept;

/// How long a server session waits (a client trickling one byte at a time still
/// meets these: they bound a whole command line). RFC 1939 3: at least 10 minutes.
struct server_timeouts {
  std::chrono::milliseconds greeting{std::chrono::minutes(10)};  ///< connect to the first command
  std::chrono::milliseconds command{std::chrono::minutes(10)};   ///< each later command line
};

/// What a server session says, offers and allows; shared by every session of a server.
struct server_options {
  std::string hostname = "localhost";  ///< the name in the greeting and QUIT's +OK
  std::shared_ptr<const context> tls;  ///< nullptr: STLS not offered
  /// Refuse USER, PASS, APOP and AUTH before STLS, and leave USER out of the
  /// pre-TLS CAPA. Off by default.
  bool require_tls = false;
  int max_errors = 10;  ///< "-ERR too many errors" and close after this many refused commands
  server_timeouts timeouts;  ///< the handshake's is tls->config().handshake_timeout
  trace_fn trace;            ///< the dialogue log; may be empty; PASS is traced as "PASS ****"
};

/// One server session on one connection, as a state machine. Commands: CAPA,
/// STLS, USER, PASS, QUIT, NOOP; after login STAT, LIST, RETR, DELE (refused:
/// the maildrop is read-only), RSET, NOOP, QUIT. APOP and AUTH are refused.
/// A command line over max_command_line octets is refused. A stream that is
/// already TLS (implicit TLS, port 995) is served without STLS.
class server_session final : public loop_session {
 public:
  /// opts is shared: many sessions of one server use the same options.
  server_session(stream s, std::shared_ptr<const server_options> opts, maildrop_factory drops);
  /// Closes the connection where the session stands (without a reply or close_notify).
  ~server_session() override;
  /// Takes over the other session where it stands; the moved-from session may
  /// only be destroyed or assigned to.
  server_session(server_session&&) noexcept;
  /// Drops this session and takes over the other where it stands.
  server_session& operator=(server_session&&) noexcept;

  /// Runs until the session waits for the stream or ends: ok after QUIT;
  /// errc::eof when the client left without QUIT; errc::plaintext_injection
  /// when bytes were pipelined behind STLS (they are never run); errc::timeout
  /// for a silent client; errc::protocol_error after too many errors; the
  /// handshake's error. Once ended, every call returns the same.
  result<> resume() override;
  /// The session ended (resume() no longer blocks).
  bool done() const noexcept;
  /// The session's stream; an event loop polls its socket for resume()'s wants().
  stream& connection() noexcept override;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// Serves one connection to its end (blocking over a blocking stream; a
/// non-blocking one is waited on with poll()).
result<> serve(stream s, const server_options& opts, const maildrop_factory& drops);

/// What an event_server tells a connection past its limit.
inline constexpr const char* busy_reply = "-ERR [SYS/TEMP] too many connections, try again later\r\n";

/// An event_server factory of POP3 sessions sharing opts and drops.
event_server::factory session_factory(std::shared_ptr<const server_options> opts, maildrop_factory drops);

}  // namespace uptls::pop3

/// Makes uptls::pop3::refusal a std::error_code enum (so `ec == uptls::pop3::refusal::login` works).
template <>
struct std::is_error_code_enum<uptls::pop3::refusal> : std::true_type {};
