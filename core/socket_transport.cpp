// Sockets are always O_NONBLOCK underneath: a blocking transport waits with
// poll() for at most its timeout, so no read or write can hang forever.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <gsl/util>
#include <string>

#include "uptls/transport.hpp"

namespace uptls {
namespace {

std::error_code from_errno(int e) {
  switch (e) {
    case ECONNRESET:
    case EPIPE:
      return errc::connection_reset;
    case ECONNREFUSED:
      return errc::connection_refused;
    case ETIMEDOUT:
      return errc::timeout;
    default:
      return errc::network;
  }
}

io_result failed(std::error_code ec) { return {0, io_status::error, ec}; }

void set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// poll() for one event, at most `budget`; EINTR restarts with the same budget
// (bounded: a signal storm still ends at the deadline of the caller's loop).
int poll_one(int fd, short events, milliseconds budget) {
  pollfd p{fd, events, 0};
  for (int tries = 0; tries < 100; ++tries) {
    const int n = ::poll(&p, 1, gsl::narrow_cast<int>(budget.count()));
    if (n >= 0 || errno != EINTR) return n;
  }
  return -1;
}

}  // namespace

socket_transport::socket_transport(int fd, socket_options opts) : fd_(fd), opts_(opts) {
  set_nonblocking(fd_);
  int one = 1;
  // Handshake flights and SMTP lines are small; Nagle would add a round trip.
  (void)setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

socket_transport::~socket_transport() { close(); }

io_result socket_transport::wait(short events) {
  if (opts_.io_timeout.count() == 0) return {0, io_status::would_block, {}};
  const milliseconds budget = wait_budget(opts_.io_timeout);
  if (budget.count() == 0) return failed(errc::timeout);
  const int n = poll_one(fd_, events, budget);
  if (n == 0) return failed(errc::timeout);
  if (n < 0) return failed(from_errno(errno));
  return {0, io_status::ok, {}};
}

io_result socket_transport::read_some(std::span<std::byte> buf) {
  if (fd_ < 0) return failed(errc::usage);
  for (int round = 0; round < 2; ++round) {
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n > 0) return {static_cast<std::size_t>(n), io_status::ok, {}};
    if (n == 0) return {0, io_status::eof, {}};
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return failed(from_errno(errno));
    const io_result w = wait(POLLIN);
    if (w.status != io_status::ok) return w;
    round = 0;  // ready: read again (each wait is bounded by the timeout)
  }
  return failed(errc::network);
}

io_result socket_transport::write_some(std::span<const std::byte> buf) {
  if (fd_ < 0) return failed(errc::usage);
  for (int round = 0; round < 2; ++round) {
    // MSG_NOSIGNAL: a peer that went away is an error code, not a SIGPIPE.
    const ssize_t n = ::send(fd_, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n >= 0) return {static_cast<std::size_t>(n), io_status::ok, {}};
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return failed(from_errno(errno));
    const io_result w = wait(POLLOUT);
    if (w.status != io_status::ok) return w;
    round = 0;
  }
  return failed(errc::network);
}

void socket_transport::shutdown_write() noexcept {
  if (fd_ >= 0) (void)::shutdown(fd_, SHUT_WR);
}

void socket_transport::close() noexcept {
  if (fd_ >= 0) {
    (void)::close(fd_);
    fd_ = -1;
  }
}

result<std::unique_ptr<socket_transport>> tcp_connect(const std::string& host, std::uint16_t port,
                                                     socket_options opts) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &list) != 0) return errc::network;
  auto free_list = gsl::finally([&] { ::freeaddrinfo(list); });

  std::error_code last = errc::network;
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    auto guard = gsl::finally([&] { if (fd >= 0) ::close(fd); });
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = from_errno(errno);
        continue;
      }
      const int n = poll_one(fd, POLLOUT, opts.connect_timeout);
      if (n <= 0) {
        last = n == 0 ? make_error_code(errc::timeout) : from_errno(errno);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      (void)::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = from_errno(err);
        continue;
      }
    }
    const int owned = ::dup(fd);  // the guard closes the original
    if (owned < 0) return errc::network;
    return std::make_unique<socket_transport>(owned, opts);
  }
  return last;
}

result<tcp_listener> tcp_listener::listen(const std::string& host, std::uint16_t port, int backlog) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &list) != 0) return errc::network;
  auto free_list = gsl::finally([&] { ::freeaddrinfo(list); });
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, backlog) != 0) {
      ::close(fd);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    const std::uint16_t bound = ss.ss_family == AF_INET6
                                    ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return tcp_listener(fd, bound);
  }
  return errc::network;
}

tcp_listener::tcp_listener(tcp_listener&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_(other.port_) {}

tcp_listener& tcp_listener::operator=(tcp_listener&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    port_ = other.port_;
  }
  return *this;
}

tcp_listener::~tcp_listener() { close(); }

void tcp_listener::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

result<std::unique_ptr<socket_transport>> tcp_listener::accept(milliseconds timeout, socket_options opts) {
  if (fd_ < 0) return errc::usage;
  const int n = poll_one(fd_, POLLIN, timeout);
  if (n == 0) return errc::timeout;
  if (n < 0) return from_errno(errno);
  const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return from_errno(errno);
  return std::make_unique<socket_transport>(fd, opts);
}

}  // namespace uptls
