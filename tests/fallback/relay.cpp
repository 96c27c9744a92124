#include "relay.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <deque>
#include <span>
#include <string_view>
#include <utility>
#include <stdexcept>

#include "support.hpp"

namespace uptls::test {
namespace {

// How long one wait lasts before the relay looks at stop_ again.
constexpr int poll_ms = 50;
// Bound on relaying one chunk to a peer that does not read (write_all waits for it).
constexpr std::chrono::milliseconds write_limit = 5s;
// Bound on waiting for the relay's threads to catch up with what a test just did.
constexpr std::chrono::milliseconds settle_limit = 5s;
constexpr std::uint8_t tls_handshake = 0x16;

tcp_listener listen_on_loopback() {
  auto l = tcp_listener::listen("127.0.0.1", 0, 16);
  if (!l) throw std::runtime_error("relay: cannot listen on 127.0.0.1: " + to_string(l));
  return std::move(l).value();
}

// Whether fd is ready for events now (timeout 0) or within timeout_ms.
short ready(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, timeout_ms) > 0 ? p.revents : 0;
}

bool send_all(transport& t, const char* data, std::size_t n) {
  return write_all(t, std::as_bytes(std::span(data, n)), write_limit).ok();
}

// Ends a connection with RST instead of FIN, as a reset on the path would.
void close_with_reset(socket_transport& t) {
  const linger l{1, 0};  // close() then sends RST
  (void)::setsockopt(t.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  t.close();
}

}  // namespace

relay::relay(std::uint16_t upstream_port) : upstream_(upstream_port), listener_(listen_on_loopback()) {
  port_ = listener_.port();
  acceptor_ = std::thread([this] { accept_loop(); });
}

relay::~relay() {
  stop_ = true;
  acceptor_.join();
  for (auto& w : workers_) w.join();
}

void relay::tamper(mode m, int on) {
  const std::lock_guard lock(mutex_);
  mode_ = m;
  base_ = static_cast<int>(logs_.size());
  target_ = on;
}

void relay::set_latency(std::chrono::milliseconds delay) {
  const std::lock_guard lock(mutex_);
  latency_ = delay;
}

void relay::set_pace(std::size_t chunk, std::chrono::milliseconds every) {
  const std::lock_guard lock(mutex_);
  pace_chunk_ = chunk;
  pace_every_ = every;
}

void relay::set_injection(std::string after_line_prefix, std::string bytes) {
  const std::lock_guard lock(mutex_);
  inject_after_ = std::move(after_line_prefix);
  inject_bytes_ = std::move(bytes);
}

int relay::connections() const {
  // A ladder returns as soon as its last connection is closed, perhaps before the
  // accept thread has taken that connection: wait until the queue is drained and
  // every connection taken from it is logged. The accept thread logs under the
  // lock and then notifies, so a wait that begins after the check misses nothing.
  std::unique_lock lock(mutex_);
  const auto until = std::chrono::steady_clock::now() + settle_limit;
  for (;;) {
    const bool queued = ready(listener_.native_handle(), POLLIN, 0) != 0;
    if (!queued && !accepting_) break;
    if (changed_.wait_until(lock, until) == std::cv_status::timeout) break;
  }
  return static_cast<int>(logs_.size()) - base_;
}

std::string relay::client_sent(int n) const {
  if (n < 1 || n > connections()) return {};
  std::unique_lock lock(mutex_);
  const auto i = static_cast<std::size_t>(base_ + n - 1);
  // The log is whole once the connection ended.
  (void)changed_.wait_for(lock, settle_limit, [&] { return logs_[i].done; });
  return logs_[i].from_client;
}

void relay::log_client(int index, const char* data, std::size_t n) {
  const std::lock_guard lock(mutex_);
  logs_[static_cast<std::size_t>(index)].from_client.append(data, n);
}

void relay::accept_loop() {
  while (!stop_) {
    // The listener is non-blocking: wait until it is readable, then take the
    // connection with try_accept(), as an event loop does.
    if (ready(listener_.native_handle(), POLLIN, poll_ms) == 0) continue;
    accepting_ = true;
    auto got = listener_.try_accept();
    if (!got) {
      const std::lock_guard lock(mutex_);
      accepting_ = false;
      changed_.notify_all();
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
      accepting_ = false;
      changed_.notify_all();
    }
    workers_.emplace_back([this, client = std::move(got).value(), index, tampered]() mutable {
      serve(std::move(client), index, tampered);
      const std::lock_guard lock(mutex_);
      logs_[static_cast<std::size_t>(index)].done = true;
      changed_.notify_all();
    });
  }
}

// One relayed connection. Plaintext server lines are processed whole (strip and
// inject work on lines); once the client has sent a TLS record, bytes pass as they come.
void relay::serve(std::unique_ptr<socket_transport> client, int index, bool tampered) {
  mode m = mode::pass;
  std::uint8_t alert = 40;
  std::string inject_after;
  std::string inject_bytes;
  std::chrono::milliseconds latency{0};
  std::size_t pace_chunk = 0;
  std::chrono::milliseconds pace_every{0};
  {
    const std::lock_guard lock(mutex_);
    if (tampered) m = mode_;
    latency = latency_;
    pace_chunk = pace_chunk_;
    pace_every = pace_every_;
    alert = alert_;
    inject_after = inject_after_;
    inject_bytes = inject_bytes_;
  }
  auto dialled = tcp_connect("127.0.0.1", upstream_, {.connect_timeout = 2s});
  if (!dialled) return;  // the client sees its connection close
  socket_transport& server = **dialled;

  bool client_tls = false;  // the client has sent its first TLS record
  bool silent = false;
  bool injected = false;
  std::string pending;  // server plaintext not yet forwarded (line mode)
  std::array<char, 16384> buf{};
  const auto bytes = std::as_writable_bytes(std::span(buf));
  const bool line_mode = m == mode::strip_starttls || m == mode::inject;
  // With latency or pace: server bytes held until they are due, in order; the
  // server's end of stream is passed on after them.
  using due_time = std::chrono::steady_clock::time_point;
  std::deque<std::pair<due_time, std::string>> later;
  due_time last_due{};
  const bool slow = latency.count() > 0 || pace_every.count() > 0;
  const auto hold = [&](std::string_view bytes) {
    const std::size_t piece = pace_chunk > 0 ? pace_chunk : bytes.size();
    do {
      const due_time due = std::max(std::chrono::steady_clock::now() + latency, last_due + pace_every);
      later.emplace_back(due, std::string(bytes.substr(0, piece)));
      last_due = due;
      bytes.remove_prefix(std::min(piece, bytes.size()));
    } while (!bytes.empty());
  };
  bool server_ended = false;

  while (!stop_) {
    const auto now = std::chrono::steady_clock::now();
    while (!later.empty() && later.front().first <= now) {
      if (!send_all(*client, later.front().second.data(), later.front().second.size())) return;
      later.pop_front();
    }
    if (server_ended && later.empty()) break;
    int wait_ms = poll_ms;
    if (!later.empty()) {
      const auto due = std::chrono::ceil<std::chrono::milliseconds>(later.front().first - now).count();
      wait_ms = static_cast<int>(std::clamp<long long>(due, 0, poll_ms));
    }
    // Silent: read nothing from either side (the client's reads time out), but
    // notice the client leaving, so that the relay does not spin on unread input.
    pollfd p[2] = {{client->native_handle(), static_cast<short>(silent ? POLLRDHUP : POLLIN), 0},
                   {server.native_handle(), static_cast<short>(silent || server_ended ? 0 : POLLIN), 0}};
    if (::poll(p, 2, wait_ms) <= 0) continue;
    if (silent) {
      if (p[0].revents != 0) break;
      continue;
    }
    if (p[0].revents != 0) {
      const result<std::size_t> got = client->read_some(bytes);
      if (got.would_block()) continue;
      if (!got || *got == 0) break;
      const std::size_t n = *got;
      if (!client_tls && static_cast<std::uint8_t>(buf[0]) == tls_handshake) {
        client_tls = true;
        if (m == mode::reset) {
          close_with_reset(*client);
          close_with_reset(server);
          return;
        }
        if (m == mode::hang_up) break;
        if (m == mode::plaintext_reply) {
          // The server's hello never comes: plaintext does, where it was due.
          (void)send_all(*client, inject_bytes.data(), inject_bytes.size());
          break;
        }
        if (m == mode::silent) {
          silent = true;
          continue;
        }
      }
      log_client(index, buf.data(), n);
      if (!send_all(server, buf.data(), n)) break;
    }
    if (p[1].revents != 0) {
      const result<std::size_t> got = server.read_some(bytes);
      if (got.would_block()) continue;
      if (!got || *got == 0) {
        if (!slow) break;
        // The end comes after what is still held, and just as late.
        server_ended = true;
        hold({});
        continue;
      }
      const std::size_t n = *got;
      if (m == mode::forge_alert && client_tls) {
        const char record[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, static_cast<char>(alert)};
        (void)send_all(*client, record, sizeof record);
        break;
      }
      if (slow && !line_mode) {
        hold(std::string_view(buf.data(), n));
        continue;
      }
      if (!line_mode || client_tls) {
        if (!send_all(*client, buf.data(), n)) break;
        continue;
      }
      pending.append(buf.data(), n);
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
      if (!out.empty() && !send_all(*client, out.data(), out.size())) break;
    }
  }
  // Both transports close as they go out of scope (FIN).
}

}  // namespace uptls::test
