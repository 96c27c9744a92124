// The one-thread server: epoll for readiness, a min-heap for deadlines, and one
// loop_session per connection. A session is resumed when its socket is ready
// for what it waits for, or when its deadline passes (it then fails with
// errc::timeout itself); the interest in epoll follows what it waits for.
#include "uptls/event_server.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <queue>
#include <vector>

namespace uptls {
namespace {

constexpr int max_events = 256;
// Connections taken per readiness of the listener before the loop serves the
// others again (a flood of connects cannot starve the established sessions).
constexpr int accepts_per_round = 64;
// How long the listener rests after accept() failed (EMFILE and the like).
constexpr milliseconds accept_pause{100};

}  // namespace

class event_server::impl {
 public:
  ~impl() {
    for (auto& slot : sessions_) slot.reset();
    if (epoll_ >= 0) ::close(epoll_);
    if (wake_ >= 0) ::close(wake_);
  }

  result<> setup() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_ < 0 || wake_ < 0) return errc::network;
    if (!add(listener_.native_handle(), EPOLLIN) || !add(wake_, EPOLLIN)) return errc::network;
    opts_.stream.mode = io_mode::non_blocking;
    return {};
  }

  result<> run_once(milliseconds timeout);

  explicit impl(tcp_listener l) : listener_(std::move(l)) {}

  tcp_listener listener_;
  factory make_;
  event_server_options opts_;
  event_server_stats stats_;
  int epoll_ = -1;
  int wake_ = -1;
  bool stopping_ = false;

 private:
  struct entry {
    std::unique_ptr<loop_session> session;
    std::uint32_t events = 0;  // what epoll watches for it
    std::optional<clock::time_point> deadline;
    std::uint64_t generation = 0;  // a heap entry of an older deadline is stale
  };
  struct timer {
    clock::time_point at;
    int fd;
    std::uint64_t generation;
    bool operator>(const timer& o) const noexcept { return at > o.at; }
  };

  bool add(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    return ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) == 0;
  }
  void accept_some();
  void pause_accepting();
  void resume_accepting();
  void refuse(std::unique_ptr<socket_transport> conn);
  // Runs one session and files it again by what it waits for, or ends it.
  void resume(int fd);
  void end(int fd, const result<>& why);

  std::vector<std::unique_ptr<entry>> sessions_;  // by file descriptor
  std::optional<clock::time_point> accept_paused_until_;  // set while the listener is not watched
  std::priority_queue<timer, std::vector<timer>, std::greater<>> timers_;
};

void event_server::impl::accept_some() {
  for (int i = 0; i < accepts_per_round; ++i) {
    auto conn = listener_.try_accept();
    if (conn.would_block()) return;
    if (!conn) {
      // EMFILE and the like: the pending connection stays queued and the listener
      // readable. Stop watching it for a while, or the loop would spin on it.
      ++stats_.accept_errors;
      pause_accepting();
      return;
    }
    if (stats_.active >= opts_.max_connections) {
      refuse(std::move(conn).value());
      continue;
    }
    const int fd = (*conn)->native_handle();
    auto s = make_(stream(std::move(conn).value(), opts_.stream));
    if (!s) continue;
    if (static_cast<std::size_t>(fd) >= sessions_.size()) sessions_.resize(static_cast<std::size_t>(fd) + 1);
    auto e = std::make_unique<entry>();
    e->session = std::move(s);
    if (!add(fd, 0)) continue;  // the session (and its socket) goes with e
    sessions_[static_cast<std::size_t>(fd)] = std::move(e);
    ++stats_.accepted;
    ++stats_.active;
    stats_.peak = std::max(stats_.peak, stats_.active);
    resume(fd);  // the greeting goes out at once
  }
}

void event_server::impl::pause_accepting() {
  if (accept_paused_until_) return;
  epoll_event ev{};
  ev.data.fd = listener_.native_handle();
  (void)::epoll_ctl(epoll_, EPOLL_CTL_MOD, listener_.native_handle(), &ev);
  accept_paused_until_ = clock::now() + accept_pause;
}

void event_server::impl::resume_accepting() {
  if (!accept_paused_until_) return;
  accept_paused_until_.reset();
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener_.native_handle();
  (void)::epoll_ctl(epoll_, EPOLL_CTL_MOD, listener_.native_handle(), &ev);
}

void event_server::impl::refuse(std::unique_ptr<socket_transport> conn) {
  ++stats_.refused_busy;
  if (!opts_.busy_reply.empty()) {
    // One non-blocking write into an empty socket buffer: it fits.
    (void)conn->write_some(std::as_bytes(std::span(opts_.busy_reply.data(), opts_.busy_reply.size())));
  }
  conn->shutdown_write();
  // The socket closes with conn; a client that sent nothing gets a clean FIN.
}

void event_server::impl::resume(int fd) {
  entry& e = *sessions_[static_cast<std::size_t>(fd)];
  const result<> r = e.session->resume();
  if (!r.would_block()) return end(fd, r);
  stream& s = e.session->connection();
  const std::uint32_t want = r.wants() == wait_for::write ? EPOLLOUT : EPOLLIN;
  if (want != e.events) {
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev) != 0) return end(fd, errc::network);
    e.events = want;
  }
  const auto deadline = s.next_deadline();
  if (deadline != e.deadline) {
    e.deadline = deadline;
    ++e.generation;
    if (deadline) timers_.push({*deadline, fd, e.generation});
  }
}

void event_server::impl::end(int fd, const result<>& why) {
  auto& slot = sessions_[static_cast<std::size_t>(fd)];
  (void)::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  if (why.ok()) ++stats_.completed;
  else ++stats_.failed;
  --stats_.active;
  if (opts_.on_session_end) opts_.on_session_end(*slot->session, why);
  slot.reset();  // closes the socket; fd may be reused by the next accept
  resume_accepting();  // a descriptor is free again
}

result<> event_server::impl::run_once(milliseconds timeout) {
  // Sleep no longer than the earliest live deadline.
  while (!timers_.empty()) {
    const timer& t = timers_.top();
    const auto& slot = static_cast<std::size_t>(t.fd) < sessions_.size() ? sessions_[static_cast<std::size_t>(t.fd)]
                                                                          : sessions_.emplace_back();
    if (slot && slot->generation == t.generation) break;
    timers_.pop();  // stale: the session moved on or ended
  }
  auto wait = timeout;
  if (!timers_.empty()) {
    const auto until = std::chrono::ceil<milliseconds>(timers_.top().at - clock::now());
    wait = std::clamp(until, milliseconds{0}, timeout);
  }
  if (accept_paused_until_) {
    if (clock::now() >= *accept_paused_until_) resume_accepting();
    else wait = std::min(wait, std::chrono::ceil<milliseconds>(*accept_paused_until_ - clock::now()));
  }
  epoll_event events[max_events];
  const int n = ::epoll_wait(epoll_, events, max_events, static_cast<int>(wait.count()));
  if (n < 0 && errno != EINTR) return errc::network;
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == listener_.native_handle()) {
      accept_some();
    } else if (fd == wake_) {
      std::uint64_t ignored = 0;
      (void)::read(wake_, &ignored, sizeof ignored);
    } else if (static_cast<std::size_t>(fd) < sessions_.size() && sessions_[static_cast<std::size_t>(fd)]) {
      resume(fd);
    }
  }
  // Deadlines that passed: the session's next call fails with errc::timeout.
  const auto now = clock::now();
  while (!timers_.empty() && timers_.top().at <= now) {
    const timer t = timers_.top();
    timers_.pop();
    if (static_cast<std::size_t>(t.fd) >= sessions_.size()) continue;
    auto& slot = sessions_[static_cast<std::size_t>(t.fd)];
    if (!slot || slot->generation != t.generation) continue;
    slot->deadline.reset();
    resume(t.fd);
  }
  return {};
}

result<std::unique_ptr<event_server>> event_server::make(tcp_listener listener, factory make_session,
                                                         event_server_options opts) {
  std::unique_ptr<event_server> s(new event_server());
  s->impl_ = std::make_unique<impl>(std::move(listener));
  s->impl_->make_ = std::move(make_session);
  s->impl_->opts_ = std::move(opts);
  if (const result<> r = s->impl_->setup(); !r) return r.error();
  return s;
}

event_server::~event_server() = default;

result<> event_server::run() {
  impl_->stopping_ = false;
  while (!impl_->stopping_) {
    if (const result<> r = impl_->run_once(std::chrono::seconds(1)); !r) return r;
  }
  return {};
}

result<> event_server::run_once(milliseconds timeout) { return impl_->run_once(timeout); }

void event_server::stop() noexcept {
  impl_->stopping_ = true;
  const std::uint64_t one = 1;
  (void)::write(impl_->wake_, &one, sizeof one);
}

std::uint16_t event_server::port() const noexcept { return impl_->listener_.port(); }
event_server_stats event_server::stats() const noexcept { return impl_->stats_; }

}  // namespace uptls
