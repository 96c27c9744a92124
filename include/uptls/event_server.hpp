/// @file
/// A server on one thread: an epoll loop that accepts connections and runs each
/// connection's dialogue (a loop_session) as far as it can without blocking,
/// then goes on with the others. One slow or silent peer stalls nobody: every
/// session waits only for its own socket and its own deadline. See
/// docs/architecture.md "Event server".
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "uptls/result.hpp"
#include "uptls/stream.hpp"
#include "uptls/transport.hpp"

namespace uptls {

/// One connection's dialogue as the event_server drives it (smtp::server_session
/// is one). resume() must never block.
class loop_session {
 public:
  virtual ~loop_session() = default;
  /// Runs until the session waits (would-block: the server polls connection()'s
  /// socket for wants() and wakes it at its next_deadline()) or ends (ok, or why).
  virtual result<> resume() = 0;
  /// The session's stream; the server reads its socket, wants and deadline.
  virtual stream& connection() noexcept = 0;
};

/// How an event_server admits connections and sets up their streams.
struct event_server_options {
  /// Sessions at once; a connection past the limit gets busy_reply and is closed.
  std::size_t max_connections = 1024;
  /// What a refused connection is told (one write, best effort), e.g. SMTP's
  /// `"421 4.7.0 too many connections, try again later\r\n"` (smtp::busy_reply).
  /// Empty: the connection is closed without a word.
  std::string busy_reply;
  /// The options of each accepted connection's stream (always non-blocking).
  stream_options stream;
  /// Called as each session ends (ok or why), on the server's thread, before the
  /// session and its connection are released (so it can be told apart); may be empty.
  std::function<void(loop_session& session, const result<>& why)> on_session_end;
};

/// What the server has done so far.
struct event_server_stats {
  std::size_t active = 0;        ///< sessions open now
  std::size_t accepted = 0;      ///< connections taken into a session
  std::size_t completed = 0;     ///< sessions that ended ok
  std::size_t failed = 0;        ///< sessions that ended with an error
  std::size_t refused_busy = 0;  ///< connections refused past max_connections
  std::size_t peak = 0;          ///< most sessions open at once
  /// accept() failures other than "none waiting" (EMFILE, ENFILE, ENOMEM...).
  /// After one the server stops accepting until a session ends or 100 ms pass,
  /// instead of spinning on a listener that stays readable.
  std::size_t accept_errors = 0;
};

/// Accepts connections on a listener and runs a loop_session for each, all on
/// the thread that calls run(): epoll for readiness, a heap of deadlines.
///
/// Not thread-safe except for stop().
class event_server {
 public:
  /// Makes a session for each accepted connection.
  using factory = std::function<std::unique_ptr<loop_session>(stream)>;

  /// Serves connections of listener (which it owns). errc::network when epoll
  /// cannot be set up.
  static result<std::unique_ptr<event_server>> make(tcp_listener listener, factory make_session,
                                                    event_server_options opts = {});
  ~event_server();
  event_server(const event_server&) = delete;
  event_server& operator=(const event_server&) = delete;

  /// Serves until stop(): ok then, or the error that stopped the loop.
  result<> run();
  /// One round: waits at most timeout for events and handles them (for programs
  /// that interleave the server with other work, and for tests).
  result<> run_once(milliseconds timeout);
  /// Makes run() return soon; safe from any thread and from a signal handler.
  void stop() noexcept;
  /// The port the listener is bound to.
  std::uint16_t port() const noexcept;
  /// The counters (read them on the server's thread, or after run() returned).
  event_server_stats stats() const noexcept;

 private:
  event_server() = default;
  class impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace uptls
