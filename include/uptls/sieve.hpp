/// @file
/// ManageSieve with STARTTLS (RFC 5804): the client and server dialogues over an
/// uptls::stream, upgraded in place on the same connection.
///
/// Every dialogue is a resumable state machine, as in uptls/smtp.hpp: over a
/// non-blocking stream a call returns would-block and resume() continues it;
/// over a blocking stream the same calls run to the end.
///
/// The client reads the capability greeting, sends STARTTLS, and after the
/// handshake uses only the capabilities the server sends again inside TLS (RFC
/// 5804 2.2): what it said in plaintext could have been forged. It refuses bytes
/// injected behind the go-ahead. The server offers STARTTLS only before TLS,
/// offers no SASL mechanism in plaintext when TLS is required, refuses
/// AUTHENTICATE before TLS then, never runs commands pipelined behind STARTTLS,
/// and hands the authenticated TLS session to the application's command handler.
///
/// Quoted strings (at most 1024 octets, only \\" and \\\\ escapes) and literals
/// ({n} and {n+}) are parsed with bounds: a literal over the limit, a line over
/// the stream's max_line, or a response with too many lines is a protocol error
/// before any of it is stored.
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

namespace uptls::sieve {

/// Longest line either side accepts, CRLF included (RFC 5804 sets no limit;
/// Dovecot's lines stay far below it). Longer text travels as a literal.
inline constexpr std::size_t max_line = 8192;
/// Longest quoted string (RFC 5804 4: quoted strings are at most 1024 octets).
inline constexpr std::size_t max_quoted = 1024;
/// Most capability lines a client keeps from one response; more is a protocol error.
inline constexpr std::size_t max_capabilities = 64;
/// Most data lines of one response (a LISTSCRIPTS answer); more is a protocol error.
inline constexpr std::size_t max_response_lines = 4096;

/// Stream options for a ManageSieve connection: base with max_line = 8192.
inline stream_options line_limits(stream_options base = {}) noexcept {
  base.max_line = max_line;
  return base;
}

/// The dialogue log (uptls/trace.hpp).
using trace_fn = uptls::trace_fn;

/// How a server ended a response.
enum class status {
  ok = 0,   ///< "OK": the command succeeded
  no = 1,   ///< "NO": the command failed; the session goes on
  bye = 2,  ///< "BYE": the server is closing the connection
};

/// The category of errors that carry a refusal (status::no or status::bye) as
/// their value; its name() is "managesieve".
const std::error_category& response_category() noexcept;
/// An error_code in response_category() for a NO (1) or BYE (2) response.
std::error_code make_response_error(status s) noexcept;

/// One server response: the data lines before it, then its OK/NO/BYE line.
struct response {
  status kind = status::ok;  ///< how the status line ended the response (ok before any response)
  /// The response code's first atom ("SASL", "ENCRYPT-NEEDED", "QUOTA/MAXSIZE"), or empty.
  std::string code;
  std::string text;  ///< the human-readable string after it, or empty
  /// Each data line as its words: strings (quoted or literal, unescaped) and atoms.
  std::vector<std::vector<std::string>> data;
};

/// One capability line: "SASL" "PLAIN LOGIN" -> {"SASL", "PLAIN LOGIN"}.
struct capability {
  std::string name;   ///< as the server wrote it ("IMPLEMENTATION", "STARTTLS", ...)
  std::string value;  ///< empty for a capability without one ("STARTTLS")
};

/// One script of a LISTSCRIPTS answer.
struct script_entry {
  std::string name;     ///< the script's name, unescaped
  bool active = false;  ///< the server marked it ACTIVE: the script that runs on delivery
};

/// Whether the client insists on TLS.
enum class tls_mode {
  required,       ///< stop before any command but STARTTLS when STARTTLS is missing, refused or fails
  opportunistic,  ///< go on in plaintext, and say so, when STARTTLS is not offered or refused with NO
};

/// Whether a client insists on TLS, how much it reads, and its log.
struct client_options {
  tls_mode mode = tls_mode::required;  ///< required (the default) or opportunistic
  trace_fn trace;  ///< the dialogue log; may be empty (credentials are never traced)
  /// Longest literal the client reads in a response, 1 MiB by default; a larger one
  /// is errc::protocol_error.
  std::size_t max_literal = 1024 * 1024;
};

/// The plaintext dialogue up to the go-ahead, as the fallback ladder's prelude or
/// for a caller that upgrades the stream itself: the capability greeting (it
/// must end with OK, else errc::protocol_error, or a BYE error in
/// response_category()), STARTTLS (errc::starttls_not_offered without the
/// capability; a NO gives errc::starttls_refused, a BYE its error), and its OK.
/// Nothing is read past the OK line, so start_tls() sees (and refuses, with
/// errc::plaintext_injection) any byte injected behind it.
class starttls_dialogue final : public prelude_dialogue {
 public:
  /// A dialogue that traces to opts.trace and bounds literals by opts.max_literal
  /// (opts.mode plays no part: it stops at the first refusal); nothing is sent or
  /// read until resume().
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
  /// The pre-TLS capabilities (to be forgotten after the upgrade).
  const std::vector<capability>& capabilities() const noexcept;
  /// The response read last.
  const response& last_response() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// The ManageSieve prelude for fallback_request::before_tls: a new starttls_dialogue per attempt.
prelude starttls_prelude(client_options opts);

/// A ManageSieve client session on one connection. Each call starts an
/// operation and runs it as far as the stream allows; resume() continues one
/// that would block (calling another meanwhile is errc::usage). After a failure
/// in the dialogue every later call returns it.
class client {
 public:
  /// A client on s (a fresh connection, or one the fallback ladder upgraded);
  /// nothing is sent or read until open() or open_upgraded(). A stream made with
  /// line_limits() bounds lines as ManageSieve does.
  client(stream s, client_options opts);
  /// Closes the connection without LOGOUT (call logout() first for a clean end).
  ~client();
  /// Takes over the other client's session where it stands; the moved-from client
  /// may only be destroyed or assigned to.
  client(client&&) noexcept;
  /// Drops this client's session and takes over the other's.
  client& operator=(client&&) noexcept;

  /// Greeting + STARTTLS + handshake + the capabilities the server sends again
  /// inside TLS; only those are kept. required: never continues in plaintext
  /// (errc::starttls_not_offered, starttls_refused, or the handshake's error), and
  /// nothing but STARTTLS was sent. opportunistic: goes on in plaintext when
  /// STARTTLS is not offered or is refused with NO, and says so (tls_skipped()).
  /// A BYE ends the session in every mode with its response_category() error.
  /// errc::usage when called twice; a null tls is a broken contract. On failure
  /// the connection is closed.
  result<> open(std::shared_ptr<const context> tls, const peer_options& peer);
  /// For a stream upgraded elsewhere after a starttls_dialogue (the fallback
  /// ladder): reads the capabilities the server sends after the handshake.
  /// errc::usage on a plaintext stream or when called twice; a response other
  /// than OK, or one that still lists STARTTLS, is errc::protocol_error (a BYE its
  /// response_category() error). On failure the connection is closed.
  result<> open_upgraded();
  /// AUTHENTICATE "PLAIN" with an initial response. errc::usage before open(),
  /// once authenticated, on a plaintext connection unless open() skipped TLS
  /// (opportunistic), or for a name or password with a NUL; errc::unsupported when
  /// the server's SASL capability has no PLAIN. A refusal is an error in
  /// response_category(): a NO leaves the session usable, a BYE ends it.
  result<> authenticate(std::string_view user, std::string_view password);
  /// LISTSCRIPTS: scripts() holds the answer. errc::usage before authenticate();
  /// a NO or BYE is an error in response_category() (a BYE also ends the session);
  /// a data line that is not a name with an optional ACTIVE is errc::protocol_error.
  result<> listscripts();
  /// LOGOUT, then closes the connection; errc::protocol_error when the answer is not
  /// OK, errc::usage before open(). After a failure in the dialogue it only closes
  /// the connection, and returns that failure.
  result<> logout();
  /// Continues the operation that would block. errc::usage when none is under way.
  result<> resume();
  /// An operation is under way (it returned would-block).
  bool busy() const noexcept;

  /// The current capabilities (post-TLS ones after the upgrade; pre-TLS ones are forgotten).
  const std::vector<capability>& capabilities() const noexcept;
  /// Whether the server advertised a capability (case-insensitive name, e.g. "SIEVE").
  bool supports(std::string_view name) const;
  /// The value of a capability ("SASL" -> "PLAIN LOGIN"), empty when absent.
  std::string capability_value(std::string_view name) const;
  /// True when open() went on in plaintext (opportunistic only); tls_skip_reason() says why.
  bool tls_skipped() const noexcept;
  /// errc::starttls_not_offered or errc::starttls_refused when tls_skipped(); empty otherwise.
  std::error_code tls_skip_reason() const noexcept;
  /// The scripts of the last listscripts().
  const std::vector<script_entry>& scripts() const noexcept;
  /// The stream under the session (its state, negotiated facts, socket and
  /// deadline for an event loop).
  stream& connection() noexcept;
  /// The server's response read last (after a NO or BYE, its code and text).
  const response& last_response() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// A command as the server's application handler sees it.
struct command {
  std::string name;               ///< upper-cased ("LISTSCRIPTS", "GETSCRIPT", ...)
  std::vector<std::string> args;  ///< each string (quoted or literal, unescaped) or atom, in order
};

/// What the application answers to one command.
struct reply {
  /// OK (the default), NO, or BYE: it is sent, then the session ends and resume() returns ok.
  status kind = status::ok;
  std::string code;  ///< a response code to put in parentheses (e.g. "NONEXISTENT"), or empty
  std::string text;  ///< the human-readable string, or empty
  /// Data lines sent before the status line, each already in wire form without
  /// CRLF (build strings with quote() and literal()).
  std::vector<std::string> data;
};

/// s as a quoted string when it may be one (at most max_quoted octets, no CR,
/// LF or NUL); otherwise as a server literal "{n}\r\n" + s.
std::string quote(std::string_view s);
/// s as a server literal: "{n}\r\n" + s.
std::string literal(std::string_view s);

/// Facts of the session a handler runs in.
struct session_facts {
  std::string user;      ///< the authenticated name
  bool over_tls = false; ///< the session is TLS (after STARTTLS, or implicit)
  session_info session;  ///< the TLS facts when over_tls
};

/// Runs one command of an authenticated session (inside resume(), on the
/// session's thread). Commands the session itself knows (CAPABILITY, NOOP,
/// LOGOUT, STARTTLS, AUTHENTICATE) never reach it.
using command_handler = std::function<reply(const command&, const session_facts&)>;
/// Checks a PLAIN login (authorization identity, authentication name, password):
/// true accepts it.
using authenticator = std::function<bool(std::string_view authzid, std::string_view user, std::string_view password)>;

/// A small in-memory script store as a command_handler (LISTSCRIPTS, GETSCRIPT,
/// PUTSCRIPT, SETACTIVE, DELETESCRIPT, HAVESPACE, CHECKSCRIPT), shared by every
/// session of one server, for examples and tests. Scripts are not checked as Sieve.
command_handler script_store(std::vector<std::pair<std::string, std::string>> scripts);

/// How long a server session waits (a peer trickling bytes still meets these).
struct server_timeouts {
  std::chrono::milliseconds greeting{std::chrono::minutes(5)};  ///< connect to the first command
  std::chrono::milliseconds command{std::chrono::minutes(5)};   ///< each later command
};

/// What a server session says, offers and allows; shared by every session of a server.
struct server_options {
  std::shared_ptr<const context> tls;  ///< nullptr: STARTTLS not offered
  /// Before TLS, no SASL mechanism is offered and AUTHENTICATE is refused with
  /// `NO (ENCRYPT-NEEDED)`; off by default.
  bool require_tls = false;
  std::string implementation = "uptls";  ///< the "IMPLEMENTATION" capability
  std::string sieve_extensions = "fileinto reject envelope vacation";  ///< the "SIEVE" capability
  authenticator check_login;           ///< empty: every AUTHENTICATE is refused
  command_handler handler;             ///< empty: every application command gets NO
  std::size_t max_literal = 1024 * 1024;  ///< longest literal a command may carry (BYE above)
  int max_errors = 10;                 ///< BYE and close after this many refused commands
  server_timeouts timeouts;            ///< the handshake's is tls->config().handshake_timeout
  trace_fn trace;                      ///< the dialogue log; may be empty; credentials are not shown
};

/// One server session on one connection, as a state machine. Give it a stream
/// made with line_limits(). A stream that is already TLS is served without
/// STARTTLS. A client silent past a timeout gets BYE and the session ends with
/// errc::timeout.
class server_session final : public loop_session {
 public:
  /// opts is shared: many sessions of one server use the same options.
  server_session(stream s, std::shared_ptr<const server_options> opts);
  /// Closes the connection where the session stands (without BYE or close_notify).
  ~server_session() override;
  /// Takes over the other session where it stands; the moved-from session may
  /// only be destroyed or assigned to.
  server_session(server_session&&) noexcept;
  /// Drops this session and takes over the other where it stands.
  server_session& operator=(server_session&&) noexcept;

  /// Runs until the session waits for the stream (would-block) or ends: ok after
  /// LOGOUT; otherwise why: errc::eof when the client left without LOGOUT,
  /// errc::plaintext_injection when bytes were pipelined behind STARTTLS,
  /// errc::protocol_error after too many errors or an over-long literal, the
  /// handshake's error, or the stream's (errc::timeout, ...). A handler's BYE
  /// reply ends it with ok. Once ended, every call returns the same.
  result<> resume() override;
  /// The session ended (resume() no longer blocks).
  bool done() const noexcept;
  /// The session's stream; an event loop polls its socket for resume()'s wants().
  stream& connection() noexcept override;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// Serves one connection to its end (blocking, or poll() on a non-blocking stream).
result<> serve(stream s, const server_options& opts);

/// What an event_server tells a connection past its limit.
inline constexpr const char* busy_reply = "BYE (TRYLATER) \"too many connections, try again later\"\r\n";

/// An event_server factory of ManageSieve sessions sharing opts.
event_server::factory session_factory(std::shared_ptr<const server_options> opts);

}  // namespace uptls::sieve
