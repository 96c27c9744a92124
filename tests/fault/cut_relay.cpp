#include "cut_relay.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace uptls::test::fault {
namespace {

using clock_type = std::chrono::steady_clock;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

void no_delay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Sends all of data on a blocking socket within a bound (SO_SNDTIMEO).
bool send_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

cut_relay::cut_relay(std::uint16_t upstream, relay_options opts) : upstream_(upstream), opts_(opts) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 4) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error("relay: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

cut_relay::~cut_relay() {
  stop_ = true;
  join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void cut_relay::join() {
  if (thread_.joinable()) thread_.join();
}

bool cut_relay::forward(int to, direction way, const char* data, std::size_t n) {
  std::string& log = way == direction::to_server ? to_server_ : to_client_;
  while (n > 0) {
    std::size_t take = opts_.piece == 0 ? n : std::min(n, opts_.piece);
    const bool cutting = way == opts_.cut_way && opts_.cut_after != static_cast<std::size_t>(-1);
    if (cutting) take = std::min(take, opts_.cut_after - log.size());
    if (take > 0) {
      if (opts_.delay.count() > 0) std::this_thread::sleep_for(opts_.delay);
      if (!send_all(to, data, take)) return false;
      log.append(data, take);
      events_.push_back({way, to_server_.size(), to_client_.size()});
      data += take;
      n -= take;
    }
    if (cutting && log.size() >= opts_.cut_after) {
      cut_done_ = true;
      return false;
    }
  }
  return true;
}

void cut_relay::run() {
  const auto end = clock_type::now() + opts_.lifetime;
  // Accept the one connection (bounded).
  int client = -1;
  while (client < 0 && !stop_ && clock_type::now() < end) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }
  if (client < 0) return;
  int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in up = loopback(upstream_);
  if (server < 0 || ::connect(server, reinterpret_cast<const sockaddr*>(&up), sizeof up) != 0) {
    if (server >= 0) ::close(server);
    ::close(client);
    return;
  }
  timeval send_bound{5, 0};
  for (int fd : {client, server}) {
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_bound, sizeof send_bound);
    if (opts_.piece != 0) no_delay(fd);
  }
  // A cut at 0 bytes: the connection is closed before anything moves.
  if (opts_.cut_after == 0) cut_done_ = true;
  bool open_in[2] = {true, true};  // [0] client -> relay, [1] server -> relay
  char buf[16384];
  while (!cut_done_ && (open_in[0] || open_in[1]) && !stop_ && clock_type::now() < end) {
    pollfd p[2] = {{open_in[0] ? client : -1, POLLIN, 0}, {open_in[1] ? server : -1, POLLIN, 0}};
    if (::poll(p, 2, 50) <= 0) continue;
    for (int i = 0; i < 2 && !cut_done_; ++i) {
      if (p[i].revents == 0) continue;
      const int from = i == 0 ? client : server;
      const int to = i == 0 ? server : client;
      const ssize_t n = ::recv(from, buf, sizeof buf, 0);
      if (n > 0) {
        if (!forward(to, i == 0 ? direction::to_server : direction::to_client, buf, static_cast<std::size_t>(n))) {
          if (!cut_done_) open_in[0] = open_in[1] = false;  // a send failed: the far side is gone
        }
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        // The end of one way: passed on as the end of the same way.
        open_in[i] = false;
        (void)::shutdown(to, SHUT_WR);
      }
    }
  }
  ::close(client);
  ::close(server);
}

}  // namespace uptls::test::fault
