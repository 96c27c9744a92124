/// @file
/// Transports: where a stream's bytes travel. A transport never blocks in
/// read_some or write_some: it moves what it can now or says it would block
/// (a status, not an error). Waiting is a separate call, wait(), which the
/// blocking mode of uptls::stream uses and an event loop replaces with its own
/// poll/epoll on native_handle(). See docs/architecture.md "Transport".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "uptls/result.hpp"

namespace uptls {

/// The clock of every timeout and deadline in uptls.
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// A byte stream under a uptls::stream. Implement it to run uptls over any I/O of
/// your own. Implementations are not thread-safe unless they say so.
class transport {
 public:
  virtual ~transport() = default;

  /// Reads at most buf.size() bytes (buf is not empty): the count read, 0 when the
  /// peer closed its sending side, would-block (wait_for::read), or an error
  /// (errc::connection_reset, errc::network, ...).
  virtual result<std::size_t> read_some(std::span<std::byte> buf) = 0;
  /// Writes at most buf.size() bytes (buf is not empty): the count written (> 0),
  /// would-block (wait_for::write), or an error.
  virtual result<std::size_t> write_some(std::span<const std::byte> buf) = 0;
  /// Sends end of stream to the peer; reads stay possible.
  virtual void shutdown_write() noexcept = 0;
  /// Releases the connection; later calls fail with errc::usage.
  virtual void close() noexcept = 0;
  /// Blocks until the transport is ready for w or the deadline passes: ok when it
  /// is ready (or may be: a spurious wake-up is harmless), errc::timeout at the
  /// deadline, errc::usage on a transport that cannot wait (buffer-driven).
  virtual result<> wait(wait_for w, clock::time_point deadline) = 0;
  /// The file descriptor an event loop polls, or -1 when there is none.
  virtual int native_handle() const noexcept { return -1; }
};

/// Options of a TCP connection.
struct socket_options {
  /// The bound on connecting (every address tried counts against it).
  milliseconds connect_timeout{10'000};
  /// false: tcp_connect only starts the connection and returns at once; the first
  /// write waits until it is up (an event loop's non-blocking connect). A refused
  /// connection then shows as errc::connection_refused on that write.
  bool wait_for_connect = true;
};

/// A TCP (or AF_UNIX) socket that it owns and closes; always O_NONBLOCK.
class socket_transport final : public transport {
 public:
  /// Takes ownership of a connected (or connecting) socket and makes it non-blocking.
  explicit socket_transport(int fd) noexcept;
  ~socket_transport() override;
  socket_transport(const socket_transport&) = delete;
  socket_transport& operator=(const socket_transport&) = delete;

  result<std::size_t> read_some(std::span<std::byte> buf) override;
  result<std::size_t> write_some(std::span<const std::byte> buf) override;
  void shutdown_write() noexcept override;
  void close() noexcept override;
  result<> wait(wait_for w, clock::time_point deadline) override;
  int native_handle() const noexcept override { return fd_; }
  /// For a socket from tcp_connect(..., {.wait_for_connect = false}): ok once the
  /// connection is up, would-block (write) while it is still being made, or why
  /// it failed (errc::connection_refused, ...). Never waits.
  result<> connect_status() noexcept;

 private:
  int fd_;
};

/// Connects to host:port (names resolved with getaddrinfo, each address tried in
/// turn within opts.connect_timeout). errc::connection_refused, errc::timeout,
/// errc::network (no such host, no route).
result<std::unique_ptr<socket_transport>> tcp_connect(const std::string& host, std::uint16_t port,
                                                     socket_options opts = {});

/// A listening TCP socket (non-blocking). Port 0 picks a free port; port() tells which.
class tcp_listener {
 public:
  /// Binds and listens on an address literal or a resolvable name.
  static result<tcp_listener> listen(const std::string& host, std::uint16_t port, int backlog = 511);
  /// Takes over other's socket; other is left closed.
  tcp_listener(tcp_listener&& other) noexcept;
  /// Closes this listener's socket and takes over other's; other is left closed.
  tcp_listener& operator=(tcp_listener&& other) noexcept;
  ~tcp_listener();

  /// Takes a pending connection now: the socket, or would-block when none is
  /// waiting (an event loop calls it when native_handle() is readable).
  result<std::unique_ptr<socket_transport>> try_accept();
  /// Waits up to timeout for a connection: errc::timeout when none came.
  result<std::unique_ptr<socket_transport>> accept(milliseconds timeout);
  /// The port it listens on (the one picked when listen() was given port 0).
  std::uint16_t port() const noexcept { return port_; }
  /// The listening socket, for an event loop to poll for readability (-1 once closed).
  int native_handle() const noexcept { return fd_; }
  /// Stops listening and closes the socket; later accepts fail with errc::usage. Safe to call twice.
  void close() noexcept;

 private:
  tcp_listener(int fd, std::uint16_t port) noexcept : fd_(fd), port_(port) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

/// Options of an in-memory pipe.
struct pipe_options {
  std::size_t capacity = 256 * 1024;  ///< bytes buffered per direction before writes would block
  /// At most this many bytes move per read_some / write_some (1: a peer that
  /// delivers one byte at a time, to prove that every caller resumes correctly).
  std::size_t max_chunk = static_cast<std::size_t>(-1);
  /// After each chunk the next call of the same direction would block once, as
  /// if every chunk came in a packet of its own and needed a wake-up of its own
  /// (wait() gives it). With max_chunk = 1 every byte costs a would-block.
  bool pause_after_chunk = false;
};

/// Two connected in-memory transports (thread-safe between the two ends, each end
/// used by one thread), for tests and for engines driven by hand.
std::pair<std::unique_ptr<transport>, std::unique_ptr<transport>> make_memory_pipe(pipe_options opts = {});

}  // namespace uptls
