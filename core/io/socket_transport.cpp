// Sockets are always O_NONBLOCK: read_some and write_some never wait, and wait()
// is a bounded poll(), so nothing in uptls can hang on a socket forever.
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

#include "io/poll_wait.hpp"
#include "uptls/transport.hpp"

namespace uptls {
namespace {

void set_nonblocking(int fd) noexcept {
  const int flags = fcntl(fd, F_GETFL, 0);
  // Accepted and connected sockets are made with SOCK_NONBLOCK: no second call.
  if (flags >= 0 && (flags & O_NONBLOCK) == 0) (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

result<std::size_t> would_block(wait_for w) { return result<std::size_t>::blocked(w); }

}  // namespace

std::error_code detail::from_errno(int e) noexcept {
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

int detail::poll_until(int fd, short events, clock::time_point deadline) noexcept {
  pollfd p{fd, events, 0};
  // EINTR restarts with what is left of the budget; bounded by the deadline.
  for (int tries = 0; tries < 1000; ++tries) {
    const auto left = std::chrono::ceil<milliseconds>(deadline - clock::now());
    const int ms = left.count() <= 0 ? 0 : gsl::narrow_cast<int>(std::min<long long>(left.count(), 1 << 30));
    const int n = ::poll(&p, 1, ms);
    if (n >= 0 || errno != EINTR) return n;
  }
  return -1;
}

result<> detail::wait_fd(int fd, wait_for w, clock::time_point deadline) noexcept {
  if (fd < 0) return errc::usage;
  const short events = w == wait_for::write ? POLLOUT : POLLIN;
  const int n = poll_until(fd, events, deadline);
  if (n == 0) return errc::timeout;
  if (n < 0) return from_errno(errno);
  return {};  // ready, or an error condition the next call will report
}

socket_transport::socket_transport(int fd) noexcept : fd_(fd) {
  set_nonblocking(fd_);
  int one = 1;
  // Handshake flights and dialogue lines are small; Nagle would add a round trip.
  (void)setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

socket_transport::~socket_transport() { close(); }

result<std::size_t> socket_transport::read_some(std::span<std::byte> buf) {
  if (fd_ < 0) return errc::usage;
  for (int tries = 0; tries < 100; ++tries) {
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return would_block(wait_for::read);
    return detail::from_errno(errno);
  }
  return errc::network;
}

result<std::size_t> socket_transport::write_some(std::span<const std::byte> buf) {
  if (fd_ < 0) return errc::usage;
  for (int tries = 0; tries < 100; ++tries) {
    // MSG_NOSIGNAL: a peer that went away is an error code, not a SIGPIPE.
    const ssize_t n = ::send(fd_, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    // A socket still connecting (wait_for_connect = false) says EAGAIN too.
    if (errno == EAGAIN || errno == EWOULDBLOCK) return would_block(wait_for::write);
    return detail::from_errno(errno);
  }
  return errc::network;
}

result<> socket_transport::wait(wait_for w, clock::time_point deadline) { return detail::wait_fd(fd_, w, deadline); }

result<> socket_transport::connect_status() noexcept {
  if (fd_ < 0) return errc::usage;
  pollfd p{fd_, POLLOUT, 0};
  const int n = ::poll(&p, 1, 0);
  if (n < 0) return detail::from_errno(errno);
  if (n == 0) return result<>::blocked(wait_for::write);
  int err = 0;
  socklen_t len = sizeof err;
  (void)::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return detail::from_errno(err);
  return {};
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
  const auto deadline = clock::now() + opts.connect_timeout;
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
    auto t = std::make_unique<socket_transport>(fd);  // owns fd from here on
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) return t;
    if (errno != EINPROGRESS) {
      last = detail::from_errno(errno);
      continue;
    }
    if (!opts.wait_for_connect) return t;  // the first write waits until it is up
    const int n = detail::poll_until(fd, POLLOUT, deadline);
    if (n <= 0) {
      last = n == 0 ? make_error_code(errc::timeout) : detail::from_errno(errno);
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    (void)::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0) return t;
    last = detail::from_errno(err);
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
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
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

result<std::unique_ptr<socket_transport>> tcp_listener::try_accept() {
  if (fd_ < 0) return errc::usage;
  for (int tries = 0; tries < 100; ++tries) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) return std::make_unique<socket_transport>(fd);
    // A connection reset before we took it is nobody's business but its own.
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return result<std::unique_ptr<socket_transport>>::blocked(wait_for::read);
    return detail::from_errno(errno);
  }
  return errc::network;
}

result<std::unique_ptr<socket_transport>> tcp_listener::accept(milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    auto got = try_accept();
    if (!got.would_block()) return got;
    if (const result<> w = detail::wait_fd(fd_, wait_for::read, deadline); !w) return w.error();
  }
}

}  // namespace uptls
