// bench-smtp-load --client uptls: the whole client dialogue in uptls::smtp::client,
// each session a non-blocking uptls::stream on its own socket, driven by this
// thread's epoll set: open() (greeting, EHLO, STARTTLS, handshake, EHLO over TLS),
// send_mail() with the checksummed message, quit(). Only the public API.
//
// The figures come from the dialogue's trace (client_options::trace, called as
// each line goes out or comes in, inside resume()): the greeting's first line
// ends "connecting", the 220 to STARTTLS starts the handshake, uptls's "TLS
// established" note ends it, and the first server line after it is the first byte
// of the EHLO reply over TLS (TLS 1.3 tickets are records, not lines, so they are
// never taken for it). The note builds the session facts once per session (uptls
// describes the session in it), a few microseconds of the client's CPU that the
// raw client does not spend.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"
#include "load.hpp"
#include "uptls/smtp.hpp"
#include "uptls/uptls.hpp"

namespace conc {
namespace {

namespace smtp = uptls::smtp;

enum class phase : std::uint8_t { open, held, mail, quit };

const char* name(phase p) {
  switch (p) {
    case phase::open: return "open (greeting to EHLO over TLS)";
    case phase::held: return "held idle";
    case phase::mail: return "message";
    case phase::quit: return "QUIT";
  }
  return "?";
}

struct session {
  std::size_t id = 0;
  std::size_t slot = 0;  // index in uptls_worker::open_
  int fd = -1;           // the stream's socket (the stream owns and closes it)
  phase ph = phase::open;
  bool in_wave = false;  // --hold-idle: one of the sessions held open
  bool settled = false;  // counted in hold_gate::settled
  bool bad = false;      // --bad-messages: a wrong X-Check on purpose
  bool greeted = false;
  bool starttls_sent = false;
  bool tls_up = false;
  bool got_first_byte = false;
  std::uint32_t waiting_for = 0;  // what epoll watches (0: not in the set yet)
  std::unique_ptr<smtp::client> client;
  std::int64_t t_start = 0, t_hs_start = 0, t_hs_done = 0, deadline = 0;
};

class uptls_worker final : public load_worker {
 public:
  uptls_worker(const worker_params& p, std::shared_ptr<const uptls::context> ctx)
      : o_(*p.o), p_(p), ctx_(std::move(ctx)) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep_ < 0 || wake_ < 0) throw std::runtime_error(std::string("epoll/eventfd: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the wake-up eventfd
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, wake_, &ev) != 0) throw std::runtime_error("epoll_ctl eventfd");
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<std::uint16_t>(o_.port));
    if (inet_pton(AF_INET, o_.host.c_str(), &addr_.sin_addr) != 1) throw std::runtime_error("bad --host " + o_.host);
    stream_opts_ = smtp::line_limits();
    stream_opts_.mode = uptls::io_mode::non_blocking;
    // The worker bounds each session itself (--session-timeout, scanned like the
    // raw worker's); the stream's own bound only backs it up.
    stream_opts_.io_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o_.session_timeout * 1000) + 1000);
  }
  ~uptls_worker() override {
    while (!open_.empty()) drop(*open_.back());
    ::close(wake_);
    ::close(ep_);
  }

  void wake() override {
    const std::uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
  }

  void run() override {
    t0_ = now_ns();
    next_scan_ = t0_ + scan_every_ns;
    epoll_event events[1024];
    while (done_ < p_.count) {
      start_sessions();
      const int n = epoll_wait(ep_, events, 1024, wait_ms());
      if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
      for (int i = 0; i < n; ++i) {
        if (events[i].data.ptr == nullptr) {
          std::uint64_t v = 0;
          (void)!::read(wake_, &v, sizeof v);
          if (p_.gate != nullptr && p_.gate->resume.load()) resume_held();
        } else {
          drive(*static_cast<session*>(events[i].data.ptr));
        }
      }
      const std::int64_t now = now_ns();
      if (now >= next_scan_) {
        next_scan_ = now + scan_every_ns;
        expire(now);
      }
    }
  }

 private:
  static constexpr std::int64_t scan_every_ns = 250'000'000;

  bool holding() const { return p_.gate != nullptr && !p_.gate->resume.load(); }

  int wait_ms() const {
    std::int64_t ms = scan_every_ns / 1'000'000;
    if (started_ < p_.count && open_.size() < p_.concurrency && connecting_ < p_.max_connecting &&
        !(holding() && started_ >= p_.wave)) {
      ms = p_.ramp > 0 ? std::max<std::int64_t>(1, static_cast<std::int64_t>(1000.0 / p_.ramp)) : 0;
    }
    return static_cast<int>(std::min<std::int64_t>(ms, scan_every_ns / 1'000'000));
  }

  // As the raw worker: what the concurrency, --max-connecting, the ramp and the
  // hold allow, at most 256 per loop turn.
  void start_sessions() {
    std::size_t budget = 256;
    const std::int64_t now = now_ns();
    while (budget-- > 0 && started_ < p_.count && open_.size() < p_.concurrency && connecting_ < p_.max_connecting) {
      if (holding() && started_ >= p_.wave) return;
      if (p_.ramp > 0 && static_cast<double>(started_) >= static_cast<double>(now - t0_) / 1e9 * p_.ramp + 1) return;
      open_session(now);
    }
  }

  void open_session(std::int64_t now) {
    auto owned = std::make_unique<session>();
    session& s = *owned;
    s.id = p_.first + started_;
    s.in_wave = p_.gate != nullptr && started_ < p_.wave;
    s.bad = s.id < p_.bad_until;
    s.t_start = now;
    s.deadline = now + static_cast<std::int64_t>(o_.session_timeout * 1e9);
    ++started_;
    ++r.started;
    ++connecting_;
    if (r.first_start == 0) r.first_start = now;
    s.slot = open_.size();
    open_.push_back(owned.release());
    r.peak_open = std::max(r.peak_open, open_.size());

    // A non-blocking connect of our own (tcp_connect resolves the name on every
    // call); the stream's first read waits until the connection is up.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(s, std::string("socket: ") + std::strerror(errno));
    auto io = std::make_unique<uptls::socket_transport>(fd);  // owns fd; sets TCP_NODELAY as the servers do
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) != 0 && errno != EINPROGRESS) {
      return fail(s, std::string("connect: ") + std::strerror(errno));
    }
    s.fd = fd;
    smtp::client_options copts;
    copts.ehlo_name = std::string(ehlo_name);
    copts.mode = smtp::tls_mode::required;
    // Two pointers: inside std::function's own storage, no allocation.
    copts.trace = [this, sp = &s](std::string_view dir, std::string_view line) { on_trace(*sp, dir, line); };
    s.client = std::make_unique<smtp::client>(uptls::stream(std::move(io), stream_opts_), std::move(copts));
    after(s, s.client->open(ctx_, peer_));
  }

  void on_trace(session& s, std::string_view dir, std::string_view line) {
    if (dir == "S") {
      if (!s.greeted) {
        s.greeted = true;
        --connecting_;
        r.connect_us.push_back(static_cast<double>(now_ns() - s.t_start) / 1e3);
      } else if (s.starttls_sent && s.t_hs_start == 0) {
        s.t_hs_start = now_ns();  // the go-ahead: the handshake starts
      } else if (s.tls_up && !s.got_first_byte) {
        // The figure: from the end of the handshake to the first line of the
        // server's first reply over TLS.
        s.got_first_byte = true;
        r.ttfb_us.push_back(static_cast<double>(now_ns() - s.t_hs_done) / 1e3);
      }
    } else if (dir == "C") {
      if (!s.starttls_sent && line == "STARTTLS") s.starttls_sent = true;
    } else if (!s.tls_up && line.starts_with("TLS established")) {
      s.tls_up = true;
      s.t_hs_done = now_ns();
      r.handshake_us.push_back(static_cast<double>(s.t_hs_done - s.t_hs_start) / 1e3);
      if (r.negotiated.empty()) {
        if (const uptls::session_info* i = s.client->connection().session()) {
          r.negotiated = std::string(uptls::to_string(i->version)) + " " + i->suite.name +
                         (i->group == uptls::named_group::none ? "" : " " + std::string(uptls::to_string(i->group)));
        }
      }
    }
  }

  void want(session& s, uptls::wait_for w) {
    const std::uint32_t events = w == uptls::wait_for::write ? EPOLLOUT : EPOLLIN;
    if (s.waiting_for == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &s;
    const int op = s.waiting_for == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(ep_, op, s.fd, &ev) != 0) return fail(s, std::string("epoll_ctl: ") + std::strerror(errno));
    s.waiting_for = events;
  }

  // The socket is ready: continue the operation under way.
  void drive(session& s) {
    if (s.ph == phase::held) return fail(s, "held idle: the server sent something or closed");
    after(s, s.client->resume());
  }

  // Acts on how an operation call ended, and starts the next operation.
  void after(session& s, uptls::result<> got) {
    for (;;) {
      if (got.would_block()) return want(s, got.wants());
      switch (s.ph) {
        case phase::open:
          if (!got) return fail(s, failure(s, got));
          if (s.in_wave && holding()) {
            s.ph = phase::held;
            settle(s);
            p_.gate->held.fetch_add(1);
            return want(s, uptls::wait_for::read);  // only to notice the server closing it
          }
          got = mail(s);
          continue;
        case phase::mail:
          if (s.bad) {
            if (got.ok()) return fail(s, "message: the server accepted a wrong X-Check");
            if (got.error() != smtp::make_reply_error(554)) return fail(s, failure(s, got));
            ++r.bad_rejected;
          } else {
            if (!got) return fail(s, failure(s, got));
            ++r.messages_accepted;
          }
          s.ph = phase::quit;
          got = s.client->quit();
          continue;
        case phase::quit:
          if (!got) return fail(s, failure(s, got));
          return complete(s);
        case phase::held:
          return fail(s, "held idle: an operation ended");
      }
    }
  }

  uptls::result<> mail(session& s) {
    s.ph = phase::mail;
    return s.client->send_mail("sender-" + std::to_string(s.id) + "@client.localhost", {"postmaster@localhost"},
                               make_message(s.id, o_.body_bytes, s.bad, false));
  }

  // Where and why, in words that group well (no session ids): the error, the
  // library's detail after a TLS failure, and the last reply when there was one.
  std::string failure(session& s, const uptls::result<>& got) const {
    std::string out = std::string(name(s.ph)) + ": " + uptls::to_string(got);
    const uptls::failure_info& f = s.client->connection().last_failure();
    if (!f.text.empty()) out += ": " + f.text;
    const smtp::reply& last = s.client->last_reply();
    if (last.code != 0) {
      out += " (last reply '" + std::to_string(last.code) + (last.lines.empty() ? "" : " " + last.lines.back()) + "')";
    }
    return out;
  }

  void resume_held() {
    const std::int64_t now = now_ns();
    std::vector<session*> held;  // copied: finishing one reorders open_
    for (session* s : open_) {
      if (s->ph == phase::held) held.push_back(s);
    }
    for (session* s : held) {
      s->deadline = now + static_cast<std::int64_t>(o_.session_timeout * 1e9);
      after(*s, mail(*s));
    }
  }

  // The session timeout and the run's deadline, as the raw worker checks them.
  void expire(std::int64_t now) {
    std::vector<session*> late;
    for (session* s : open_) {
      if (s->ph == phase::held) continue;  // the hold is the coordinator's to bound
      if (now >= p_.run_deadline || now >= s->deadline) late.push_back(s);
    }
    for (session* s : late) {
      fail(*s, std::string(name(s->ph)) +
                   (now >= p_.run_deadline ? ": the run's --timeout passed" : ": no progress within --session-timeout"));
    }
    if (now >= p_.run_deadline) {
      const std::size_t never = p_.count - started_;
      if (never > 0) {
        r.failed += never;
        r.failures["not started: the run's --timeout passed"] += never;
        done_ += never;
        started_ = p_.count;
      }
      for (session* s : std::vector<session*>(open_)) fail(*s, "held idle: the run's --timeout passed");
    }
  }

  void settle(session& s) {
    if (!s.in_wave || s.settled || p_.gate == nullptr) return;
    s.settled = true;
    p_.gate->settled.fetch_add(1);
  }

  void complete(session& s) {
    const std::int64_t now = now_ns();
    ++r.completed;
    r.session_ms.push_back(static_cast<double>(now - s.t_start) / 1e6);
    r.last_done = now;
    drop(s);
  }

  void fail(session& s, const std::string& why) {
    ++r.failed;
    ++r.failures[why];
    settle(s);
    if (s.ph == phase::held && p_.gate != nullptr) p_.gate->held.fetch_sub(1);
    r.last_done = now_ns();
    drop(s);
  }

  // Ends the session (the client closes its socket, which leaves the epoll set).
  void drop(session& s) {
    if (!s.greeted) --connecting_;
    s.client.reset();
    session* last = open_.back();
    open_[s.slot] = last;
    last->slot = s.slot;
    open_.pop_back();
    ++done_;
    delete &s;
  }

  const options& o_;
  worker_params p_;
  std::shared_ptr<const uptls::context> ctx_;
  uptls::peer_options peer_{o_.server_name};
  uptls::stream_options stream_opts_;
  std::size_t connecting_ = 0;  // sessions started and not yet greeted
  int ep_ = -1;
  int wake_ = -1;
  sockaddr_in addr_{};
  std::int64_t t0_ = 0, next_scan_ = 0;
  std::size_t started_ = 0, done_ = 0;
  std::vector<session*> open_;
};

class uptls_dialogue_client final : public dialogue_client {
 public:
  explicit uptls_dialogue_client(const options& o) {
    lib_ = uptls::find_backend(o.client_backend);
    if (lib_ == nullptr) {
      std::string names;
      for (const uptls::backend* b : uptls::backends()) names += (names.empty() ? "" : ", ") + std::string(b->name());
      throw std::runtime_error("--client-backend: no backend '" + o.client_backend + "' (this build has: " + names + ")");
    }
    // The raw client's settings: the strict profile, the test CA, full
    // handshakes only (no session kept, no ticket asked for), the version pin.
    uptls::tls_config cfg;
    cfg.ca_file = o.certs + "/ca.pem";
    cfg.resumption = false;
    if (o.version == "1.2") cfg.max_version = uptls::tls_version::tls1_2;
    if (o.version == "1.3") cfg.min_version = uptls::tls_version::tls1_3;
    auto made = lib_->make_context(cfg, uptls::role::client);
    if (!made) {
      throw std::runtime_error("make_context (" + std::string(lib_->name()) + ", " + cfg.ca_file +
                               "): " + uptls::to_string(made));
    }
    ctx_ = std::move(made).value();
  }

  std::string description() const override { return "uptls: uptls::smtp::client over non-blocking uptls streams"; }
  std::string tls_description() const override {
    return "uptls " + std::string(lib_->name()) + " (" + std::string(lib_->library_version()) + ")";
  }
  std::unique_ptr<load_worker> make_worker(const worker_params& p) override {
    return std::make_unique<uptls_worker>(p, ctx_);
  }

 private:
  const uptls::backend* lib_ = nullptr;
  std::shared_ptr<const uptls::context> ctx_;
};

}  // namespace

std::unique_ptr<dialogue_client> make_uptls_dialogue_client(const options& o) {
  return std::make_unique<uptls_dialogue_client>(o);
}

}  // namespace conc
