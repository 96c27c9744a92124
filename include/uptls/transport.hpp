// Transports: where ciphertext and plaintext bytes travel. A transport is either
// blocking with a timeout on every read and write (sockets, pipes in tests) or
// non-blocking, in which case "would block" is a status, never an error.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "uptls/result.hpp"

namespace uptls {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How one read or write ended.
enum class io_status {
  ok,           // bytes > 0 were moved
  would_block,  // non-blocking transport: try again when ready
  eof,          // the peer closed its sending side (reads only)
  error,        // see io_result::error (errc::timeout, connection_reset, network, ...)
};

struct io_result {
  std::size_t bytes = 0;
  io_status status = io_status::ok;
  std::error_code error{};
};

// A byte stream. Implementations are not thread-safe unless they say so.
class transport {
 public:
  virtual ~transport() = default;

  // Reads at most buf.size() bytes (buf is not empty).
  virtual io_result read_some(std::span<std::byte> buf) = 0;
  // Writes at most buf.size() bytes (buf is not empty).
  virtual io_result write_some(std::span<const std::byte> buf) = 0;
  // Sends EOF to the peer; reads stay possible.
  virtual void shutdown_write() noexcept = 0;
  // Releases the connection; later calls fail with errc::usage.
  virtual void close() noexcept = 0;

  // An absolute time after which every read and write fails with errc::timeout
  // (on top of the per-call timeout); nullopt removes it. Bounds a whole
  // handshake against a peer that trickles one byte per timeout.
  void set_deadline(std::optional<clock::time_point> when) noexcept { deadline_ = when; }
  std::optional<clock::time_point> deadline() const noexcept { return deadline_; }

 protected:
  // The wait for one call: the smaller of the per-call timeout and the deadline.
  milliseconds wait_budget(milliseconds per_call) const noexcept;

 private:
  std::optional<clock::time_point> deadline_;
};

// Writes all of buf, looping over short writes; fails on would_block.
std::error_code write_all(transport& t, std::span<const std::byte> buf);

// Timeouts for socket transports. A zero io timeout makes the socket non-blocking.
struct socket_options {
  milliseconds connect_timeout{10'000};
  milliseconds io_timeout{30'000};
};

// A connected TCP (or AF_UNIX) socket that it owns and closes.
class socket_transport final : public transport {
 public:
  // Takes ownership of a connected socket; sets O_NONBLOCK internally and waits with poll().
  socket_transport(int fd, socket_options opts);
  ~socket_transport() override;
  socket_transport(const socket_transport&) = delete;
  socket_transport& operator=(const socket_transport&) = delete;

  io_result read_some(std::span<std::byte> buf) override;
  io_result write_some(std::span<const std::byte> buf) override;
  void shutdown_write() noexcept override;
  void close() noexcept override;

  // The socket, for poll() in an event loop; -1 once closed.
  int native_handle() const noexcept { return fd_; }
  const socket_options& options() const noexcept { return opts_; }

 private:
  io_result wait(short events);
  int fd_;
  socket_options opts_;
};

// Connects to host:port (names resolved with getaddrinfo, every address tried in
// turn, the connect bounded by opts.connect_timeout).
result<std::unique_ptr<socket_transport>> tcp_connect(const std::string& host, std::uint16_t port,
                                                     socket_options opts = {});

// A listening TCP socket. Port 0 picks a free port; port() tells which.
class tcp_listener {
 public:
  // Binds and listens; the host must be an address literal or a resolvable name.
  static result<tcp_listener> listen(const std::string& host, std::uint16_t port, int backlog = 64);
  tcp_listener(tcp_listener&& other) noexcept;
  tcp_listener& operator=(tcp_listener&& other) noexcept;
  ~tcp_listener();

  // Waits up to timeout for a connection; errc::timeout when none came.
  result<std::unique_ptr<socket_transport>> accept(milliseconds timeout, socket_options opts = {});
  std::uint16_t port() const noexcept { return port_; }
  int native_handle() const noexcept { return fd_; }
  void close() noexcept;

 private:
  tcp_listener(int fd, std::uint16_t port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// Options of an in-memory pipe. A zero timeout makes both ends non-blocking.
struct pipe_options {
  milliseconds timeout{10'000};
  std::size_t capacity = 256 * 1024;  // bytes buffered per direction before writes wait
};

// Two connected in-memory transports (thread-safe between the two ends), for
// tests and for engines driven by hand.
std::pair<std::unique_ptr<transport>, std::unique_ptr<transport>> make_memory_pipe(pipe_options opts = {});

}  // namespace uptls
