#include "relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <stdexcept>

namespace uptls::test {
namespace {

constexpr int poll_ms = 50;
constexpr std::uint8_t tls_handshake = 0x16;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

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

void close_with_reset(int fd) {
  const linger l{1, 0};  // close() then sends RST instead of FIN
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

}  // namespace

relay::relay(std::uint16_t upstream_port) : upstream_(upstream_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listener_, 16) != 0) {
    throw std::runtime_error("relay: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof a;
  (void)::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

relay::~relay() {
  stop_ = true;
  acceptor_.join();
  for (auto& w : workers_) w.join();
  ::close(listener_);
}

void relay::tamper(mode m, int on) {
  const std::lock_guard lock(mutex_);
  mode_ = m;
  base_ = static_cast<int>(logs_.size());
  target_ = on;
}

void relay::set_injection(std::string after_line_prefix, std::string bytes) {
  const std::lock_guard lock(mutex_);
  inject_after_ = std::move(after_line_prefix);
  inject_bytes_ = std::move(bytes);
}

int relay::connections() const {
  // A ladder returns as soon as its last connection is closed, perhaps before the
  // accept thread has taken that connection: wait for the queue to drain.
  for (int i = 0; i < 200; ++i) {
    pollfd p{listener_, POLLIN, 0};
    const bool queued = ::poll(&p, 1, 0) > 0;
    if (!queued && !accepting_) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::lock_guard lock(mutex_);
  return static_cast<int>(logs_.size()) - base_;
}

std::string relay::client_sent(int n) const {
  if (n < 1 || n > connections()) return {};
  const auto i = static_cast<std::size_t>(base_ + n - 1);
  for (int tries = 0; tries < 500; ++tries) {
    {
      const std::lock_guard lock(mutex_);
      if (logs_[i].done) return logs_[i].from_client;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::lock_guard lock(mutex_);
  return logs_[i].from_client;
}

void relay::log_client(int index, const char* data, std::size_t n) {
  const std::lock_guard lock(mutex_);
  logs_[static_cast<std::size_t>(index)].from_client.append(data, n);
}

void relay::accept_loop() {
  while (!stop_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, poll_ms) <= 0) continue;
    accepting_ = true;
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      accepting_ = false;
      continue;
    }
    int index = 0;
    bool tampered = false;
    {
      const std::lock_guard lock(mutex_);
      index = static_cast<int>(logs_.size());
      logs_.emplace_back();
      const int number = index - base_ + 1;
      tampered = mode_ != mode::pass && (target_ == 0 || number == target_);
    }
    workers_.emplace_back([this, fd, index, tampered] {
      serve(fd, index, tampered);
      const std::lock_guard lock(mutex_);
      logs_[static_cast<std::size_t>(index)].done = true;
    });
    accepting_ = false;
  }
}

// One relayed connection. Plaintext server lines are processed whole (strip and
// inject work on lines); once the client has sent a TLS record, bytes pass as they come.
void relay::serve(int client, int index, bool tampered) {
  mode m = mode::pass;
  std::uint8_t alert = 40;
  std::string inject_after;
  std::string inject_bytes;
  {
    const std::lock_guard lock(mutex_);
    if (tampered) m = mode_;
    alert = alert_;
    inject_after = inject_after_;
    inject_bytes = inject_bytes_;
  }
  const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in up = loopback(upstream_);
  if (server < 0 || ::connect(server, reinterpret_cast<const sockaddr*>(&up), sizeof up) != 0) {
    if (server >= 0) ::close(server);
    ::close(client);
    return;
  }
  bool client_tls = false;  // the client has sent its first TLS record
  bool silent = false;
  bool injected = false;
  std::string pending;  // server plaintext not yet forwarded (line mode)
  std::array<char, 16384> buf{};
  const bool line_mode = m == mode::strip_starttls || m == mode::inject;

  while (!stop_) {
    pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(p, 2, poll_ms) <= 0) continue;
    if (silent) continue;  // hold both sockets, read nothing: the client's reads time out
    if (p[0].revents != 0) {
      const ssize_t n = ::recv(client, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      if (!client_tls && static_cast<std::uint8_t>(buf[0]) == tls_handshake) {
        client_tls = true;
        if (m == mode::reset) {
          close_with_reset(client);
          close_with_reset(server);
          return;
        }
        if (m == mode::hang_up) break;
        if (m == mode::silent) {
          silent = true;
          continue;
        }
      }
      log_client(index, buf.data(), static_cast<std::size_t>(n));
      if (!send_all(server, buf.data(), static_cast<std::size_t>(n))) break;
    }
    if (p[1].revents != 0) {
      const ssize_t n = ::recv(server, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      if (m == mode::forge_alert && client_tls) {
        const char record[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, static_cast<char>(alert)};
        (void)send_all(client, record, sizeof record);
        break;
      }
      if (!line_mode || client_tls) {
        if (!send_all(client, buf.data(), static_cast<std::size_t>(n))) break;
        continue;
      }
      pending.append(buf.data(), static_cast<std::size_t>(n));
      // Whole lines only, and the injection in the same write as the line it follows,
      // so that the client reads both at once as a real injector would arrange.
      std::string out;
      for (auto lf = pending.find('\n'); lf != std::string::npos; lf = pending.find('\n')) {
        std::string line = pending.substr(0, lf + 1);
        pending.erase(0, lf + 1);
        if (m == mode::strip_starttls) {
          for (auto at = line.find("STARTTLS"); at != std::string::npos; at = line.find("STARTTLS")) {
            line.replace(at, 8, "XXXXXXXX");
          }
        }
        out += line;
        if (m == mode::inject && !injected && line.rfind(inject_after, 0) == 0) {
          injected = true;
          out += inject_bytes;
        }
      }
      if (!out.empty() && !send_all(client, out.data(), out.size())) break;
    }
  }
  ::close(client);
  ::close(server);
}

}  // namespace uptls::test
