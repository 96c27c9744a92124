/// @file
/// IMAP with STARTTLS (RFC 9051, RFC 3501, RFC 2595): the client and server
/// dialogues over an uptls::stream, upgraded in place on the same connection.
///
/// Every dialogue is a resumable state machine, as in uptls/smtp.hpp: over a
/// non-blocking stream a call returns would-block and resume() continues it
/// once the stream is ready; over a blocking stream the same calls run to the
/// end. serve() and the blocking use of client are loops over the same machines.
///
/// The client forgets everything the server said before the upgrade (untagged
/// responses, capabilities, a `[CAPABILITY ...]` response code), refuses a
/// PREAUTH greeting and a missing STARTTLS when TLS is required, refuses bytes
/// injected behind the tagged OK, uses unpredictable tags and matches them
/// exactly, and parses literals (`{n}`) with bounds. The server announces
/// LOGINDISABLED and no AUTH= before TLS when TLS is required, refuses LOGIN
/// and AUTHENTICATE there (`NO [PRIVACYREQUIRED]`), never runs commands
/// pipelined behind STARTTLS, and after TLS neither advertises nor accepts
/// STARTTLS; the application's mailbox only ever sees the session that logged in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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

namespace uptls::imap {

/// Longest IMAP line uptls reads or accepts, CRLF included. IMAP sets no limit
/// (RFC 9051 4); 8192 is what RFC 7162 3.2.1 asks servers to take, and bounds memory.
inline constexpr std::size_t max_line = 8192;

/// Stream options for an IMAP connection: base with max_line = 8192.
inline stream_options line_limits(stream_options base = {}) noexcept {
  base.max_line = max_line;
  return base;
}

/// Longest literal (`{n}`) a client accepts before TLS: a capability list or a
/// greeting needs none, so anything big there is hostile.
inline constexpr std::size_t max_plaintext_literal = 1024;

/// The dialogue log (uptls/trace.hpp).
using trace_fn = uptls::trace_fn;

/// Whether the client insists on TLS.
enum class tls_mode {
  /// Stops before anything but CAPABILITY and STARTTLS when the greeting is
  /// PREAUTH, STARTTLS is missing or refused, or the handshake fails.
  required,
  /// "TLS if available": goes on in plaintext, and says so, when STARTTLS is not
  /// offered or is refused (tagged NO/BAD), or the greeting was PREAUTH. A failed
  /// handshake still ends the session: the server said yes, so something is wrong.
  opportunistic,
};

/// One server response, literals included: `* 3 EXISTS`, `a1 OK done`, `+ go on`.
struct response {
  /// "*" (untagged), "+" (continuation request) or the tag of a command.
  std::string tag;
  /// The rest of the response after the tag and its space, literal contents
  /// left out: each literal stays as its `{n}` marker, its octets are in literals.
  std::string text;
  /// The octets of each literal, in order.
  std::vector<std::string> literals;
};

/// Whether a client insists on TLS, how much it reads, and its log.
struct client_options {
  tls_mode mode = tls_mode::required;  ///< required (the default) or opportunistic
  /// The dialogue log; may be empty. Passwords are never traced.
  trace_fn trace;
  /// Longest literal accepted after TLS (a fetched message is one); longer is
  /// errc::protocol_error. 16 MiB by default. Before TLS the bound is max_plaintext_literal.
  std::size_t max_literal = 16 * 1024 * 1024;
  /// Untagged responses accepted while one command waits for its tagged reply (256 by
  /// default); more is errc::protocol_error (a server cannot keep the client reading forever).
  std::size_t max_untagged = 256;
  /// LOGIN over a plaintext connection (opportunistic mode, TLS skipped). Off (the
  /// default): login() refuses with errc::usage and sends nothing.
  bool allow_plaintext_login = false;
};

/// The plaintext dialogue up to the go-ahead, as the fallback ladder's prelude or
/// for a caller that upgrades the stream itself: the greeting (`* OK`; `* PREAUTH`
/// gives errc::preauthenticated, `* BYE` or anything else errc::protocol_error),
/// CAPABILITY unless the greeting carried a `[CAPABILITY ...]` code (no STARTTLS:
/// errc::starttls_not_offered), then a tagged STARTTLS (NO, BAD or an untagged
/// BYE: errc::starttls_refused). A response with a foreign tag, too many untagged
/// responses or an over-long literal is errc::protocol_error. Nothing is read past
/// the tagged OK line, so start_tls() sees (and refuses) any byte injected behind it.
class starttls_dialogue final : public prelude_dialogue {
 public:
  /// A dialogue that traces to opts.trace and bounds untagged responses by
  /// opts.max_untagged (opts.mode plays no part: it stops at the first refusal);
  /// nothing is sent or read until resume().
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
  const std::vector<std::string>& capabilities() const noexcept;
  /// The response read last.
  const response& last_response() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// The IMAP prelude for fallback_request::before_tls: a new starttls_dialogue per attempt.
prelude starttls_prelude(client_options opts);

/// An IMAP client session on one connection. Each call starts an operation and
/// runs it as far as the stream allows: over a blocking stream to the end, over
/// a non-blocking one until it would block; then resume() continues it (calling
/// another operation meanwhile is errc::usage). After a failure in the dialogue
/// every later call returns it. A command refused with NO or BAD gives
/// errc::protocol_error for the dialogue steps of open(), and for login, select
/// and fetch ends that call with errc::protocol_error too, while the session
/// stays usable (last_response() has the server's words).
class client {
 public:
  /// A client on s (a fresh connection, an implicit-TLS one, or one the fallback
  /// ladder upgraded); nothing is sent or read until open(), open_implicit() or
  /// open_upgraded(). A stream made with line_limits() bounds lines as IMAP does.
  client(stream s, client_options opts);
  /// Closes the connection without LOGOUT (call logout() first for a clean end).
  ~client();
  /// Takes over the other client's session where it stands; the moved-from client
  /// may only be destroyed or assigned to.
  client(client&&) noexcept;
  /// Drops this client's session and takes over the other's.
  client& operator=(client&&) noexcept;

  /// Greeting + CAPABILITY (unless the greeting carried it) + STARTTLS + the
  /// handshake + CAPABILITY again inside TLS (always: nothing from before the
  /// upgrade is trusted). required: never continues in plaintext. opportunistic:
  /// goes on in plaintext when STARTTLS is not offered or refused, or the greeting
  /// was PREAUTH, and says so (tls_skipped(), tls_skip_reason() and a "*" trace
  /// line). errc::usage when called twice; a null tls is a broken contract. On
  /// failure the connection is closed.
  result<> open(std::shared_ptr<const context> tls, const peer_options& peer);
  /// For a stream that is already TLS (implicit TLS, port 993): greeting +
  /// CAPABILITY (unless the greeting carried it). A PREAUTH greeting is fine here
  /// (authenticated()). errc::usage on a plaintext stream or when called twice; a
  /// greeting other than `* OK` or `* PREAUTH`, or a CAPABILITY not answered OK, is
  /// errc::protocol_error.
  result<> open_implicit();
  /// For a stream upgraded elsewhere after a starttls_dialogue (the fallback
  /// ladder): CAPABILITY inside TLS only. errc::usage on a plaintext stream or when
  /// called twice; errc::protocol_error when CAPABILITY is not answered OK.
  result<> open_upgraded();
  /// LOGIN with the user name and password as quoted strings, or as literals
  /// when they hold octets a quoted string cannot (CR, LF, NUL, 8-bit). Refused
  /// with errc::usage, nothing sent, over plaintext unless allow_plaintext_login,
  /// when the server announced LOGINDISABLED, before open() or when already
  /// logged in. A tagged NO (bad credentials) is errc::protocol_error.
  result<> login(std::string_view user, std::string_view password);
  /// SELECT mailbox; exists() then says how many messages it holds. errc::usage
  /// before login (authenticated()); a NO (no such mailbox) or BAD is errc::protocol_error.
  result<> select(std::string_view mailbox);
  /// FETCH seq BODY.PEEK[]: the whole message (RFC 5322 text) into message().
  /// errc::usage before select() or for seq 0; errc::protocol_error when the
  /// server did not return the body.
  result<> fetch(std::uint32_t seq);
  /// NOOP (untagged EXISTS updates exists()). errc::usage before open(); a tagged
  /// reply other than OK is errc::protocol_error (the session stays usable).
  result<> noop();
  /// LOGOUT (untagged BYE, tagged OK), then closes the connection; errc::protocol_error
  /// when the tagged reply is not OK, errc::usage before open(). After a failure in
  /// the dialogue it only closes the connection, and returns that failure.
  result<> logout();
  /// Continues the operation that would block; ok or its failure once it ends.
  /// errc::usage when no operation is under way.
  result<> resume();
  /// An operation is under way (it returned would-block).
  bool busy() const noexcept;

  /// The current capabilities (inside TLS after the upgrade; pre-TLS ones are forgotten).
  const std::vector<std::string>& capabilities() const noexcept;
  /// Whether the server announced a capability (case-insensitive, e.g. "IDLE", "AUTH=PLAIN").
  bool supports(std::string_view capability) const;
  /// True when open() went on in plaintext (opportunistic only); tls_skip_reason() says why.
  bool tls_skipped() const noexcept;
  /// errc::starttls_not_offered, starttls_refused or preauthenticated when tls_skipped().
  std::error_code tls_skip_reason() const noexcept;
  /// The session is in the authenticated state (login() succeeded, or PREAUTH inside TLS).
  bool authenticated() const noexcept;
  /// The EXISTS count of the selected mailbox.
  std::uint32_t exists() const noexcept;
  /// The message the last fetch() returned.
  const std::string& message() const noexcept;
  /// The stream under the session (its state, negotiated facts, socket and
  /// deadline for an event loop).
  stream& connection() noexcept;
  /// The server's response read last (a command's tagged reply once it is done;
  /// after a NO or BAD, the server's words).
  const response& last_response() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// The application's side of a logged-in session: one object per login, made
/// by the login_handler, used only inside the session that logged in. All calls
/// run on the server's thread, inside resume().
class mailbox {
 public:
  /// Destroyed with the session that made it.
  virtual ~mailbox() = default;
  /// The mailbox names LIST shows (INBOX first, say).
  virtual std::vector<std::string> folders() = 0;
  /// Opens a mailbox for SELECT/EXAMINE: its message count, or nullopt when it does not exist.
  virtual std::optional<std::uint32_t> open_folder(std::string_view name) = 0;
  /// Message seq (1-based) of the open mailbox, as RFC 5322 text with CRLF line
  /// ends; nullopt when there is none.
  virtual std::optional<std::string> message(std::uint32_t seq) = 0;
};

/// What a login_handler gets: the credentials, and where they came from.
struct login_request {
  /// The user name (LOGIN's, or the authentication name of AUTHENTICATE PLAIN);
  /// valid during the call only.
  std::string_view user;
  std::string_view password;  ///< the password as given; valid during the call only
  bool over_tls = false;               ///< the LOGIN (or AUTHENTICATE) came inside TLS
  const session_info* session = nullptr;  ///< the TLS facts when over_tls
};

/// Checks the credentials and opens the user's mailbox; nullptr refuses the
/// login (`NO [AUTHENTICATIONFAILED]`), and so does an empty handler. Called on
/// the server's thread.
using login_handler = std::function<std::unique_ptr<mailbox>(const login_request&)>;

/// How long a server session waits for each part of the dialogue (a client that
/// trickles one byte at a time still meets these: they bound the whole part).
struct server_timeouts {
  std::chrono::milliseconds greeting{std::chrono::minutes(1)};  ///< connect to the first command
  std::chrono::milliseconds command{std::chrono::minutes(30)};  ///< each later command (RFC 9051 5.4)
};

/// What a server session says, offers and allows; shared by every session of a server.
struct server_options {
  std::string hostname = "localhost";  ///< the name in the greeting and LOGOUT's BYE
  std::shared_ptr<const context> tls;  ///< nullptr: STARTTLS not offered
  /// No LOGIN/AUTHENTICATE before STARTTLS: LOGINDISABLED is announced and both
  /// are refused with `NO [PRIVACYREQUIRED]`. Off by default.
  bool require_tls = false;
  /// Longest literal a client may send in a command (a user name, a password);
  /// 8192 by default. A longer one gets BYE and ends the session with errc::protocol_error.
  std::size_t max_literal = 8192;
  int max_errors = 10;  ///< BYE and close after this many refused commands
  server_timeouts timeouts;  ///< the handshake's is tls->config().handshake_timeout
  trace_fn trace;            ///< LOGIN's password is traced as "***"
};

/// One server session on one connection, as a state machine. Give it a stream
/// made with line_limits(). A stream that is already TLS (implicit TLS) is
/// served without STARTTLS. Not authenticated: CAPABILITY, NOOP, LOGOUT,
/// STARTTLS, LOGIN and AUTHENTICATE PLAIN (with SASL-IR; announced as
/// AUTH=PLAIN only where credentials may cross: never before TLS when
/// require_tls, as LOGINDISABLED says).
/// Authenticated: also SELECT, EXAMINE, LIST, FETCH and UID FETCH of single
/// messages (BODY[], BODY.PEEK[], RFC822, RFC822.SIZE, FLAGS, UID), CLOSE, UNSELECT.
class server_session final : public loop_session {
 public:
  /// opts is shared: many sessions of one server use the same options.
  server_session(stream s, std::shared_ptr<const server_options> opts, login_handler on_login);
  /// Closes the connection where the session stands (without BYE or close_notify).
  ~server_session() override;
  /// Takes over the other session where it stands; the moved-from session may
  /// only be destroyed or assigned to.
  server_session(server_session&&) noexcept;
  /// Drops this session and takes over the other where it stands.
  server_session& operator=(server_session&&) noexcept;

  /// Runs until the session waits for the stream (would-block) or ends: ok after
  /// LOGOUT; otherwise why it ended: errc::eof when the client left without
  /// LOGOUT, errc::plaintext_injection when bytes were pipelined behind STARTTLS,
  /// errc::protocol_error after too many errors, the handshake's error, or the
  /// stream's (errc::timeout, ...). Once ended, every call returns the same.
  result<> resume() override;
  /// The session ended (resume() no longer blocks).
  bool done() const noexcept;
  /// The session's stream; an event loop polls its socket for resume()'s wants().
  stream& connection() noexcept override;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// Serves one connection to its end: the loop over a server_session (blocking
/// over a blocking stream; a non-blocking one is waited on with poll()).
result<> serve(stream s, const server_options& opts, const login_handler& on_login);

/// What an event_server tells a connection past its limit.
inline constexpr const char* busy_reply = "* BYE too many connections, try again later\r\n";

/// An event_server factory of IMAP sessions sharing opts and on_login (which
/// runs on the server's thread).
event_server::factory session_factory(std::shared_ptr<const server_options> opts, login_handler on_login);

}  // namespace uptls::imap
