/// @file
/// The fallback ladder (docs/architecture.md "Fallback safety"): connect with a
/// strict profile first and, only when the server refused it as a policy mismatch
/// before sending any handshake message of its own, try again on a fresh
/// connection with a more permissive profile. Every attempt is reported; a host
/// once seen strict never falls back; a permissive retry that lands on a suite the
/// strict profile offers (TLS 1.3, a forward-secret AEAD suite) is refused as an
/// anomaly. There is no plaintext rung: a failed ladder hands back nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "uptls/backend.hpp"
#include "uptls/config.hpp"
#include "uptls/session.hpp"
#include "uptls/stream.hpp"
#include "uptls/transport.hpp"

namespace uptls {

/// The plaintext dialogue run on a fresh connection before the handshake (for
/// SMTP: greeting, EHLO, STARTTLS, 220), as a resumable state machine.
class prelude_dialogue {
 public:
  virtual ~prelude_dialogue() = default;
  /// One step on s: ok once s is ready for start_tls() (in plaintext, nothing
  /// buffered), would-block (call again when s is ready), or why it failed.
  virtual result<> resume(stream& s) = 0;
};

/// Makes the prelude of one attempt: the ladder runs a new one on every fresh
/// connection. Its failure ends the ladder (a prelude failure is never retried).
using prelude = std::function<std::unique_ptr<prelude_dialogue>()>;

/// The prelude of implicit TLS (SMTP 465, IMAP 993): says nothing, reads nothing.
prelude implicit_tls();

/// One rung of the ladder: which backend runs the handshake, with which profile.
struct rung {
  const backend* library = nullptr;  ///< from backends() or find_backend(); nullptr -> errc::unsupported
  profile security = profile::strict;  ///< the profile of this rung's handshake
};

/// Refuses a ladder that cannot be run, before anything is dialled: errc::usage when it
/// is empty or a later rung is not strictly more permissive than the one before (so a
/// ladder is at most {strict, legacy}); errc::unsupported when a rung has no backend or
/// asks for legacy on a backend without RSA key exchange.
result<> check_ladder(std::span<const rung> ladder);

/// Where an attempt ended.
enum class attempt_stage {
  connect,    ///< dialling failed
  prelude,    ///< the plaintext dialogue failed (STARTTLS not offered, refused, ...)
  handshake,  ///< the TLS handshake failed
  checks,     ///< the handshake finished but the ladder refused the session (fallback_anomaly)
  done,       ///< a usable TLS session
};

/// The text form, e.g. "handshake".
std::string_view to_string(attempt_stage s) noexcept;

/// Whether a failed attempt lets the ladder try the next rung, and why (static text).
struct fallback_verdict {
  bool allows_next = false;  ///< the next rung may run
  std::string_view why;      ///< the reason in words (static text, for reports)
};

/// The one classification of failures, the same for every backend. The next rung is
/// allowed only for a handshake that ended on a fatal alert 40 (handshake_failure) or
/// 71 (insufficient_security) received before the server's first handshake message,
/// and, when eof_is_trigger is set, for a connection the server closed before sending
/// any byte of its handshake. Never for connect or prelude failures, certificate or
/// name errors, resets, timeouts, protocol_version, inappropriate_fallback, or anything
/// after the server's first handshake message.
fallback_verdict classify_failure(attempt_stage stage, std::error_code ec, const failure_info& failure,
                                  bool eof_is_trigger) noexcept;

/// How long a pin lasts unless the store is told otherwise.
inline constexpr std::chrono::seconds default_pin_ttl{std::chrono::hours(24 * 90)};

/// Hosts (host:port) that completed a strict handshake: they never fall back. Kept in
/// memory, and optionally in a file of lines "<host> <port> <expiry, unix seconds>"
/// ('#' starts a comment) rewritten atomically (temporary file + rename) on every
/// change. Thread-safe: one store may serve many ladders at once.
class pin_store {
 public:
  /// Pins kept in memory only, each valid for ttl after it was last confirmed.
  explicit pin_store(std::chrono::seconds ttl = default_pin_ttl);
  /// Pins also kept in `file`, read now: a missing or unreadable file is an empty
  /// store, and bad or expired lines are ignored.
  explicit pin_store(std::filesystem::path file, std::chrono::seconds ttl = default_pin_ttl);
  ~pin_store();
  pin_store(const pin_store&) = delete;
  pin_store& operator=(const pin_store&) = delete;

  /// Whether host:port (host compared without case) is pinned and not expired.
  bool is_pinned(std::string_view host, std::uint16_t port) const;
  /// Pins host:port for ttl from now and saves the file, if any. The pin in memory
  /// holds even when saving fails; the error says why the file was not written.
  result<> pin(std::string_view host, std::uint16_t port);
  /// Drops the pin of host:port (and saves the file, if any).
  result<> unpin(std::string_view host, std::uint16_t port);
  /// The number of unexpired pins.
  std::size_t size() const;
  /// The file behind the store; empty when it lives in memory only.
  const std::filesystem::path& file() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// One attempt as it ended.
struct attempt_report {
  std::size_t rung = 0;      ///< position in the ladder, from 0
  std::size_t rungs = 0;     ///< the ladder's length
  std::string backend;       ///< the backend's name
  profile security = profile::strict;          ///< the rung's profile
  attempt_stage stage = attempt_stage::connect;  ///< where the attempt ended (done: it won)
  std::error_code error;     ///< empty when the attempt gave a usable session
  failure_info failure;      ///< the library's code and text, alerts, wire facts (handshake failures)
  std::optional<session_info> session;  ///< what the handshake negotiated, when it finished
  bool allows_next = false;  ///< whether this ending let the ladder go on to the next rung
  std::string why;           ///< why it allowed the next rung, stopped the ladder or won
  std::chrono::milliseconds elapsed{0};  ///< from dialling to the attempt's end

  /// One line for logs, e.g. "attempt 1/2 openssl strict: handshake failed: ... -> next rung: ...".
  std::string to_string() const;
};

/// Everything the ladder did, in order, and how it ended.
struct fallback_report {
  std::string host;                      ///< the host dialled, as in the request
  std::uint16_t port = 0;                ///< the port dialled
  bool was_pinned = false;               ///< host:port was pinned strict when the ladder started
  std::vector<attempt_report> attempts;  ///< in the order they ran
  std::optional<std::size_t> winner;     ///< index in attempts of the one whose stream was handed back
  std::error_code error;                 ///< empty on success; otherwise why nothing was handed back
  std::string why;                       ///< the outcome in words
  std::error_code pin_error;             ///< the pin file could not be written (the pin holds in memory)

  /// True when the stream handed back came from a rung after the first.
  bool fell_back() const noexcept { return winner.has_value() && *winner > 0; }
  /// One line per attempt, then one "outcome ..." line; no trailing newline.
  std::string to_string() const;
};

/// What a ladder needs to reach the peer and what it may try.
struct fallback_request {
  std::string host;               ///< name or address to dial
  std::uint16_t port = 0;         ///< the port to dial (an empty host or port 0: errc::usage before dialling)
  socket_options socket;          ///< the connect timeout of every attempt
  /// Each attempt's stream: line limits (smtp::line_limits() for SMTP), I/O timeout,
  /// and the mode of the stream handed back (the ladder itself never blocks
  /// inside fallback_connector::resume()).
  stream_options stream_opts;
  /// Run on each fresh connection; bounded, like the handshake, by base.handshake_timeout.
  prelude before_tls = implicit_tls();
  peer_options peer;              ///< server_name empty = host
  tls_config base;                ///< trust, client certificate, versions, timeouts; `security` is set by each rung
  std::vector<rung> ladder;       ///< e.g. {{find_backend("mbedtls"), profile::strict}, {find_backend("openssl"), profile::legacy}}
  bool eof_is_trigger = false;    ///< opt-in: a server that closes before ServerHello may be retried
  pin_store* pins = nullptr;      ///< not owned; nullptr = no pinning
  std::function<void(const attempt_report&)> observer;  ///< called as each attempt ends
};

/// The upgraded stream (only on success) and the report (always).
struct fallback_result {
  std::optional<stream> connection;  ///< the upgraded stream of the winning attempt; empty on failure
  fallback_report report;            ///< every attempt and the outcome, on success and failure

  /// A stream was handed back (report.winner says which attempt).
  bool ok() const noexcept { return connection.has_value(); }
};

/// The ladder as a resumable state machine, for event loops: each resume() dials,
/// runs the prelude and the handshake of the current attempt as far as it can
/// without blocking, and moves to the next rung when the classification allows.
class fallback_connector {
 public:
  /// Checks the request (the ladder, every rung's configuration) before anything
  /// is dialled; a refusal shows in the first resume() and in the report.
  explicit fallback_connector(fallback_request request);
  /// Closes the connection of an attempt in progress.
  ~fallback_connector();
  /// Takes over the other connector's ladder and attempt in progress.
  fallback_connector(fallback_connector&&) noexcept;
  /// Drops this connector's attempt and takes over the other's.
  fallback_connector& operator=(fallback_connector&&) noexcept;

  /// ok: a usable session (take() it); would-block: call again when native_handle()
  /// is ready for wants() or at next_deadline(); failed: the report says why.
  result<> resume();
  /// The socket of the attempt in progress (-1 between attempts).
  int native_handle() const noexcept;
  /// What the attempt in progress waits for (write while a connection is being made).
  wait_for wants() const noexcept;
  /// When resume() must be called at the latest (the attempt's connect, prelude or
  /// handshake deadline); nullopt when nothing waits.
  std::optional<clock::time_point> next_deadline() const noexcept;
  /// Blocks until the current attempt's socket is ready or its deadline passes.
  result<> wait();
  /// The stream (only after resume() was ok) and the report; the connector is spent.
  fallback_result take();
  /// The report so far (attempts that ended, and the outcome once there is one).
  const fallback_report& report() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// Runs the ladder: for each rung, dials afresh, runs the prelude, then the handshake;
/// stops at the first usable session or at the first failure that does not allow the
/// next rung. The report's error is errc::usage / unsupported / invalid_config for a
/// ladder or config refused before dialling, the last attempt's error when no rung was
/// left or allowed, errc::fallback_anomaly when a permissive retry negotiated a
/// forward-secret suite (that stream is closed, not handed back), and
/// errc::pinned_downgrade when a pinned host failed strict in a way that would
/// otherwise have been retried.
/// connect_with_fallback is the blocking loop over a fallback_connector.
fallback_result connect_with_fallback(const fallback_request& request);

}  // namespace uptls
