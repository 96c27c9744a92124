// The hand-written baseline servers: one thread, one level-triggered epoll set,
// a TLS library's own non-blocking API. What a competent nginx-style C or C++
// server does, and nothing cleverer. The event loop, the line buffer, the idle
// deadlines and the dialogue are written once, here; each TLS library is a small
// adapter (server_raw.cpp: OpenSSL, server_raw_gnutls.cpp, server_raw_mbedtls.cpp)
// that the server takes as a template parameter, so a TLS call costs what it costs
// when written out by hand: no virtual call, no extra state.
//
// Per connection there is one `connection` struct (the SMTP state, a 1 KiB line
// buffer, the idle-list links) and, from STARTTLS on, the library's session.
// Replies are constants (smtp_dialogue), so sending one copies nothing. One
// library context for all.
//
// Every connection waits for exactly one thing at a time (readable or writable),
// chosen by what blocked last: after "want read" the connection waits for EPOLLIN,
// after "want write" for EPOLLOUT, whichever call it was (a TLS read can need to
// write and the other way round). On any event the connection is driven until
// something blocks again (drive()), so the order of operations lives in one place.
//
// The adapter (a class `Tls`):
//   static constexpr std::string_view name;     // "raw-openssl": the JSON's "server"
//   static constexpr std::string_view program;  // the program's name, for stderr
//   using session = ...;       // held by value in the connection; value-initialised: none
//   explicit Tls(const server_options&);        // the context; throws on failure
//   bool begin(session&, int fd);               // a server session on the socket
//   io handshake(session&);                     // ok: complete (tickets sent too)
//   io read(session&, char* at, std::size_t room, std::size_t& n);
//   io write(session&, const char* p, std::size_t len, std::size_t& n);
//                              // after want_*: called again with the same bytes
//   void end(session&, bool close_notify);      // frees it; no-op when none
//   std::string last_error();  // after false or io::error: what the library said
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common.hpp"
#include "smtp_dialogue.hpp"

namespace conc::raw {

// The outcome of one non-blocking read or write, plain or TLS.
enum class io : std::uint8_t { ok, want_read, want_write, eof, error };

// How many events one epoll_wait returns at most, and connections one wakeup of
// the listening socket accepts at most: enough to keep up with a burst of
// connects, small enough that the sessions already open keep being served.
constexpr int max_events = 512;
constexpr int accepts_per_wakeup = 128;

// The loop never sleeps longer than this, so that the accept pause after EMFILE
// ends on time even when nothing else happens.
constexpr int max_wait_ms = 1000;

enum class phase : std::uint8_t { plain, handshake, tls };

inline void set_nodelay(int fd) {
  // The same on every server and in the load generator: a TLS flight is several
  // writes, and Nagle would hold the later ones back for an ACK.
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Tags for the epoll entries that are not connections.
struct tags {
  static inline char listen, control, signal;
};

template <class Tls>
class server {
 public:
  server(const server_options& o, const fd_limit& limit) : opts_(o), limit_(limit), tls_(o) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    port_ = o.port;
    listen_fd_ = listen_loopback(port_);
    add(listen_fd_, EPOLLIN, &tags::listen);

    // SIGTERM and SIGINT arrive as reads on a signalfd, in the loop like
    // everything else (no async-signal-safety to think about).
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) throw std::runtime_error("sigprocmask");
    signal_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
    add(signal_fd_, EPOLLIN, &tags::signal);

    // stdin is the control channel (see stdin_is_control).
    if (stdin_is_control()) {
      add(STDIN_FILENO, EPOLLIN, &tags::control);
    } else {
      std::fprintf(stderr, "%s: stdin is not a pipe or terminal: control by SIGTERM only\n", Tls::program.data());
    }
  }

  ~server() {
    while (idle_oldest_ != nullptr) close(*idle_oldest_, false);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (signal_fd_ >= 0) ::close(signal_fd_);
    if (ep_ >= 0) ::close(ep_);
  }

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  int run() {
    print_line("LISTENING " + std::to_string(port_));
    epoll_event events[max_events];
    while (!stop_) {
      const int n = epoll_wait(ep_, events, max_events, wait_ms());
      if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
      now_ = now_ns();  // one clock read per wakeup, as nginx does
      for (int i = 0; i < n && !stop_; ++i) {
        void* tag = events[i].data.ptr;
        if (tag == &tags::listen) {
          on_accept();
        } else if (tag == &tags::control) {
          on_control();
        } else if (tag == &tags::signal) {
          on_signal();
        } else {
          // A connection appears at most once per batch, and only its own
          // handling closes it, so the pointer is valid here.
          drive(*static_cast<connection*>(tag));
        }
      }
      expire();
      resume_accepting();
    }
    print_line(stats_json(Tls::name, opts_, counters_, limit_, why_));
    return 0;
  }

 private:
  struct connection {
    // The idle list, oldest activity first. Every session has the same idle
    // timeout, so this order is also the order of the deadlines: refreshing one is
    // O(1) (move to the tail), the next to expire is the head. (nginx keeps a
    // red-black tree because its timeouts differ; ours do not.)
    connection* older = nullptr;
    connection* newer = nullptr;
    std::int64_t deadline_ns = 0;

    int fd = -1;
    typename Tls::session tls{};      // from STARTTLS on
    std::uint32_t waiting_for = 0;    // EPOLLIN or EPOLLOUT: what epoll watches now
    phase ph = phase::plain;
    after then = after::read;         // once `out` is flushed
    bool quit = false;                // QUIT was answered: a clean close
    std::string_view out;             // the rest of the reply being sent (a constant)
    smtp_dialogue dialogue;
    std::uint16_t in_len = 0;
    char in[max_line];                // the line buffer
  };

  // ------------------------------------------------------------ epoll

  void add(int fd, std::uint32_t events, void* tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = tag;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      throw std::runtime_error(std::string("epoll_ctl ADD: ") + std::strerror(errno));
    }
  }

  // Re-arms the connection for what it waits for; a system call only when that changes.
  void want(connection& c, std::uint32_t events) {
    if (c.waiting_for == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &c;
    if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) != 0) {
      log_("epoll_ctl MOD: " + std::string(std::strerror(errno)));
      return close(c, false);
    }
    c.waiting_for = events;
  }

  int wait_ms() const {
    std::int64_t ms = max_wait_ms;
    if (idle_oldest_ != nullptr) ms = std::min<std::int64_t>(ms, (idle_oldest_->deadline_ns - now_) / 1'000'000 + 1);
    if (accept_paused_until_ != 0) ms = std::min<std::int64_t>(ms, (accept_paused_until_ - now_) / 1'000'000 + 1);
    return static_cast<int>(std::max<std::int64_t>(ms, 0));
  }

  // ------------------------------------------------------------ accepting

  void on_accept() {
    for (int i = 0; i < accepts_per_wakeup; ++i) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
        ++counters_.accept_errors;
        log_(std::string("accept: ") + std::strerror(errno));
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_accepting();
        return;
      }
      if (counters_.current >= opts_.max_conn) {
        // Over the limit: say why and hang up; the client sees a clean 421.
        ++counters_.refused;
        (void)::send(fd, smtp_dialogue::too_many.data(), smtp_dialogue::too_many.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(fd);
        continue;
      }
      set_nodelay(fd);
      auto* c = new connection;
      c->fd = fd;
      c->waiting_for = EPOLLIN;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = c;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        log_(std::string("epoll_ctl ADD: ") + std::strerror(errno));
        ::close(fd);
        delete c;
        continue;
      }
      counters_.opened();
      touch(*c);
      c->out = smtp_dialogue::greeting;
      drive(*c);
    }
  }

  // Out of descriptors (or memory): a level-triggered listening socket would wake
  // us at once again, so stop watching it for a while, as nginx does.
  void pause_accepting() {
    if (accept_paused_until_ != 0) return;
    (void)epoll_ctl(ep_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    accept_paused_until_ = now_ + 100'000'000;
  }

  void resume_accepting() {
    if (accept_paused_until_ == 0 || now_ < accept_paused_until_) return;
    accept_paused_until_ = 0;
    add(listen_fd_, EPOLLIN, &tags::listen);
  }

  // ------------------------------------------------------------ one connection

  // Runs the connection until it has to wait: flush the reply, go on with the
  // handshake, answer the next buffered line, read more.
  void drive(connection& c) {
    for (;;) {
      if (!c.out.empty()) {
        const io r = send_some(c);
        if (r == io::want_read) return want(c, EPOLLIN);
        if (r == io::want_write) return want(c, EPOLLOUT);
        if (r != io::ok) return close(c, false);
        if (!c.out.empty()) continue;  // a short plain write: the rest may go now
        if (c.then == after::close || c.then == after::quit) return close(c, true);
        if (c.then == after::start_tls) {
          c.then = after::read;
          if (!begin_tls(c)) return close(c, false);
        }
      }
      if (c.ph == phase::handshake) {
        const io r = tls_.handshake(c.tls);
        if (r == io::want_read) return want(c, EPOLLIN);
        if (r == io::want_write) return want(c, EPOLLOUT);
        if (r != io::ok) {
          ++counters_.handshake_failures;
          log_("handshake: " + tls_.last_error());
          return close(c, false);
        }
        ++counters_.handshakes;
        c.ph = phase::tls;
        c.dialogue.tls_started();
        continue;
      }
      if (answer_buffered_line(c)) continue;
      const io r = read_some(c);
      if (r == io::want_read) return want(c, EPOLLIN);
      if (r == io::want_write) return want(c, EPOLLOUT);
      if (r != io::ok) return close(c, false);
      touch(c);
    }
  }

  // Feeds the first complete line in the buffer to the dialogue; false when there
  // is none. A full buffer without a line end is a line too long.
  bool answer_buffered_line(connection& c) {
    const auto* lf = static_cast<const char*>(std::memchr(c.in, '\n', c.in_len));
    step s;
    if (lf != nullptr) {
      const std::size_t used = static_cast<std::size_t>(lf - c.in) + 1;
      std::size_t len = used - 1;
      if (len > 0 && c.in[len - 1] == '\r') --len;
      s = c.dialogue.on_line(std::string_view(c.in, len), c.ph == phase::tls, used < c.in_len, counters_);
      std::memmove(c.in, c.in + used, c.in_len - used);
      c.in_len = static_cast<std::uint16_t>(c.in_len - used);
    } else if (c.in_len == sizeof c.in) {
      s = smtp_dialogue::line_too_long();
    } else {
      return false;
    }
    c.out = s.reply;
    c.then = s.next;
    c.quit = s.next == after::quit;
    return true;
  }

  bool begin_tls(connection& c) {
    // Nothing is buffered here: the dialogue refused STARTTLS with bytes behind it.
    if (!tls_.begin(c.tls, c.fd)) {
      log_("TLS session: " + tls_.last_error());
      return false;
    }
    c.ph = phase::handshake;
    return true;
  }

  io send_some(connection& c) {
    if (c.ph == phase::plain) {
      const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.remove_prefix(static_cast<std::size_t>(n));
        return io::ok;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return io::want_write;
      if (n < 0 && errno == EINTR) return io::ok;
      return io::error;
    }
    std::size_t n = 0;
    const io r = tls_.write(c.tls, c.out.data(), c.out.size(), n);
    if (r == io::ok) {
      c.out.remove_prefix(n);
    } else if (r == io::error) {
      log_("TLS write: " + tls_.last_error());
    }
    return r;
  }

  io read_some(connection& c) {
    char* at = c.in + c.in_len;
    const std::size_t room = sizeof c.in - c.in_len;
    if (c.ph == phase::plain) {
      const ssize_t n = ::recv(c.fd, at, room, 0);
      if (n > 0) {
        c.in_len = static_cast<std::uint16_t>(c.in_len + n);
        return io::ok;
      }
      if (n == 0) return io::eof;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return io::want_read;
      if (errno == EINTR) return io::ok;
      return io::error;
    }
    std::size_t n = 0;
    const io r = tls_.read(c.tls, at, room, n);
    if (r == io::ok) {
      c.in_len = static_cast<std::uint16_t>(c.in_len + n);
    } else if (r == io::error) {
      log_("TLS read: " + tls_.last_error());
    }
    return r;
  }

  // `orderly`: the dialogue ended it (QUIT, a refusal); otherwise the peer left,
  // failed, or timed out before QUIT.
  void close(connection& c, bool orderly) {
    if (!c.quit && !stop_) ++counters_.closed_early;
    // One close_notify; we do not wait for the peer's (RFC 8446 6.1 allows it,
    // and SMTP has said its last word with 221).
    tls_.end(c.tls, orderly && c.ph == phase::tls);
    ::close(c.fd);  // also removes it from the epoll set
    unlink_idle(c);
    --counters_.current;
    delete &c;
  }

  // ------------------------------------------------------------ idle deadlines

  void touch(connection& c) {
    c.deadline_ns = now_ + static_cast<std::int64_t>(opts_.idle_timeout_s) * 1'000'000'000;
    if (idle_newest_ == &c) return;
    unlink_idle(c);
    c.older = idle_newest_;
    if (idle_newest_ != nullptr) idle_newest_->newer = &c;
    idle_newest_ = &c;
    if (idle_oldest_ == nullptr) idle_oldest_ = &c;
  }

  void unlink_idle(connection& c) {
    if (c.older != nullptr) c.older->newer = c.newer;
    if (c.newer != nullptr) c.newer->older = c.older;
    if (idle_oldest_ == &c) idle_oldest_ = c.newer;
    if (idle_newest_ == &c) idle_newest_ = c.older;
    c.older = c.newer = nullptr;
  }

  void expire() {
    while (idle_oldest_ != nullptr && idle_oldest_->deadline_ns <= now_) {
      ++counters_.timeouts;
      close(*idle_oldest_, false);
    }
  }

  // ------------------------------------------------------------ control

  void on_control() {
    char buf[256];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return;
      stop("end of stdin");
      return;
    }
    control_.append(buf, static_cast<std::size_t>(n));
    for (std::size_t lf; (lf = control_.find('\n')) != std::string::npos;) {
      const std::string line = control_.substr(0, lf);
      control_.erase(0, lf + 1);
      switch (parse_control(line)) {
        case control::heap: print_line(heap_json(Tls::name, counters_)); break;
        case control::stats: stop("STATS command"); return;
        case control::unknown: print_line(unknown_control_json(line)); break;
      }
    }
  }

  void on_signal() {
    signalfd_siginfo si{};
    if (::read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      stop(si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
    }
  }

  void stop(const char* why) {
    why_ = why;
    stop_ = true;
  }

  server_options opts_;
  fd_limit limit_;
  Tls tls_;
  int ep_ = -1;
  int listen_fd_ = -1;
  int signal_fd_ = -1;
  int port_ = 0;
  std::int64_t now_ = now_ns();
  std::int64_t accept_paused_until_ = 0;
  connection* idle_oldest_ = nullptr;
  connection* idle_newest_ = nullptr;
  server_counters counters_;
  std::string control_;
  bool stop_ = false;
  const char* why_ = "";
  rate_limited_log log_{10};
};

// The whole program: the command line of common.hpp, the fd limit, the loop.
template <class Tls>
int main(int argc, char** argv) {
  const server_options o = parse_server_options(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);  // a peer that hung up is an error return, not a signal
  // Every session is one socket; the slack covers the listener, epoll, the
  // signalfd, stdio, the certificate files and connections being refused.
  const fd_limit limit = raise_fd_limit(o.max_conn + 64);
  if (!limit.enough()) std::fprintf(stderr, "%s: fd limit: %s\n", Tls::program.data(), limit.note.c_str());
  try {
    server<Tls> s(o, limit);
    return s.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", Tls::program.data(), e.what());
    return 1;
  }
}

}  // namespace conc::raw
