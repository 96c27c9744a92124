// Sockets for the benchmarks: socketpairs or loopback TCP, blocking with timeouts,
// and the plaintext line I/O of the raw drivers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "bench.hpp"

namespace bench {
namespace {

constexpr auto io_timeout = std::chrono::seconds(20);

// The server thread waits this long for the next connection at most.
constexpr int accept_timeout_ms = 20'000;

// Socketpairs: the client thread makes one and hands the other end over.
class pair_connector final : public connector {
 public:
  ~pair_connector() override {
    for (int fd : queue_) {
      if (fd >= 0) ::close(fd);
    }
  }

  int connect() override {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fail_errno("socketpair");
    set_socket_timeouts(sv[0], io_timeout);
    set_socket_timeouts(sv[1], io_timeout);
    {
      std::lock_guard lock(m_);
      queue_.push_back(sv[1]);
    }
    cv_.notify_one();
    return sv[0];
  }

  int accept() override {
    std::unique_lock lock(m_);
    if (!cv_.wait_for(lock, std::chrono::milliseconds(accept_timeout_ms), [&] { return !queue_.empty(); })) {
      fail("no connection from the client thread");
    }
    const int fd = queue_.front();
    queue_.pop_front();
    return fd;
  }

  void finish() override {
    {
      std::lock_guard lock(m_);
      queue_.push_back(-1);
    }
    cv_.notify_one();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<int> queue_;
};

void set_nodelay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Loopback TCP: one listener on 127.0.0.1, a port picked by the kernel.
class tcp_connector final : public connector {
 public:
  tcp_connector() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail_errno("socket");
    int one = 1;
    (void)::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail_errno("bind");
    if (::listen(fd_, 1024) != 0) fail_errno("listen");
    socklen_t len = sizeof addr_;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr_), &len) != 0) fail_errno("getsockname");
  }
  ~tcp_connector() override { ::close(fd_); }

  int connect() override {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_errno("socket");
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) != 0) {
      ::close(fd);
      fail_errno("connect");
    }
    set_nodelay(fd);
    set_socket_timeouts(fd, io_timeout);
    return fd;
  }

  int accept() override {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, accept_timeout_ms) <= 0) fail("no connection from the client thread");
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) fail_errno("accept");
    if (done_) {
      ::close(fd);
      return -1;
    }
    set_nodelay(fd);
    set_socket_timeouts(fd, io_timeout);
    return fd;
  }

  // A last, empty connection tells the server thread to stop.
  void finish() override {
    done_ = true;
    ::close(connect());
  }

 private:
  int fd_ = -1;
  sockaddr_in addr_{};
  std::atomic<bool> done_{false};
};

}  // namespace

std::unique_ptr<connector> connector::make(std::string_view kind) {
  if (kind == "unix") return std::make_unique<pair_connector>();
  if (kind == "tcp") return std::make_unique<tcp_connector>();
  fail("unknown transport '" + std::string(kind) + "' (unix or tcp)");
}

void set_socket_timeouts(int fd, std::chrono::seconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count());
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string line_reader::next(const std::function<std::size_t(char*, std::size_t)>& read) {
  for (int rounds = 0; rounds < 1000; ++rounds) {
    const auto lf = buf_.find('\n', head_);
    if (lf != std::string::npos) {
      std::size_t end = lf;
      if (end > head_ && buf_[end - 1] == '\r') --end;
      std::string line = buf_.substr(head_, end - head_);
      head_ = lf + 1;
      if (head_ == buf_.size()) {
        buf_.clear();
        head_ = 0;
      }
      return line;
    }
    char chunk[4096];
    const std::size_t n = read(chunk, sizeof chunk);
    if (n == 0) fail("connection closed in the middle of a line");
    buf_.append(chunk, n);
  }
  fail("line too long");
}

fd_connection::~fd_connection() { close_fd(); }

void fd_connection::close_fd() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void fd_connection::write_plain(std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_errno("send");
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string fd_connection::read_line_plain() {
  return plain_.next([&](char* p, std::size_t len) {
    for (;;) {
      const ssize_t n = ::recv(fd_, p, len, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail_errno("recv");
      return static_cast<std::size_t>(n);
    }
  });
}

std::string fd_connection::read_line() {
  return tls_.next([&](char* p, std::size_t len) { return read(std::as_writable_bytes(std::span(p, len))); });
}

void fd_connection::check_no_plaintext_left() const {
  if (plain_.buffered() != 0) fail("plaintext left over before the handshake");
}

}  // namespace bench
