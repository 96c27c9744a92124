// bench-smtp-server-uptls: the same server as bench-smtp-server-raw, built from
// uptls's public API only: uptls::event_server (one thread, epoll) running
// uptls::smtp::session_factory's sessions, TLS from the backend named by
// --backend (openssl by default; gnutls, mbedtls). The command line, the stdin
// control channel (HEAP, STATS) and the JSON lines are those of the raw server
// (common.hpp), so benchmarks/concurrency/run compares it with either baseline.
//
// What differs from the raw server, by design of the library:
//  - the dialogue is uptls::smtp's (its greeting, its EHLO lines, 421 on a
//    timeout), not smtp_dialogue's; the load generator needs only the codes;
//  - the message check runs in the message sink, on the whole unstuffed message,
//    with the same rule as smtp_dialogue (X-Check = FNV-1a 64 of the body). The
//    sink returns nothing, so a wrong checksum is counted (messages_bad) but the
//    client still gets uptls's "250 2.0.0 OK: queued": the library has no way for
//    a sink to refuse a message (see README.md, "Results: uptls").
//  - the idle timeout is uptls's per-call io_timeout plus the dialogue's phase
//    timeouts and the handshake timeout, all set to --idle-timeout.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "common.hpp"
#include "uptls/event_server.hpp"
#include "uptls/smtp.hpp"
#include "uptls/uptls.hpp"

namespace conc {
namespace {

// How long one round of the event server may sleep before the control channel
// (stdin) and the signals are looked at again. The event server has no hook for
// descriptors of our own, so the loop polls them between rounds: a HEAP or STATS
// is answered within this bound, and an idle server wakes 50 times a second,
// which costs nothing measurable. A busy server returns from every round sooner.
constexpr std::chrono::milliseconds control_latency{20};

const char* const extra_usage =
    "  --backend NAME     the uptls backend that runs TLS (default openssl; gnutls, mbedtls as built)\n";

std::string backend_names() {
  std::string out;
  for (const uptls::backend* b : uptls::backends()) out += (out.empty() ? "" : ", ") + std::string(b->name());
  return out;
}

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != lower(prefix[i])) return false;
  }
  return true;
}

// The check of smtp_dialogue::data_line, on a whole message as uptls::smtp
// delivers it (dot-unstuffed, CRLF line ends, without the final "."): the
// headers up to the first empty line, one of them "X-Check: <16 hex digits>",
// and the FNV-1a 64 of the body (every line after the empty one, with its CRLF).
bool message_checks_out(std::string_view data) {
  bool seen = false;
  std::uint64_t expected = 0;
  std::size_t pos = 0;
  std::string_view body;
  for (;;) {
    const std::size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) break;  // no empty line: no body, as smtp_dialogue
    const std::string_view line = data.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) {
      body = data.substr(pos);
      break;
    }
    if (istarts_with(line, check_header)) {
      std::string_view v = line.substr(check_header.size());
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      std::uint64_t x = 0;
      const auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), x, 16);
      seen = err == std::errc{} && end == v.data() + v.size() && v.size() == 16;
      expected = x;
    }
  }
  fnv1a64 h;
  h.add(body);
  return seen && expected == h.value();
}

// What the benchmark counts and the event server does not tell: handshakes,
// their failures and how each session ended. One per server (the sessions point
// at it), so that a session's own state stays what uptls allocates.
struct tally {
  server_counters c;
  rate_limited_log log{10};
  rate_limited_log ended_log{10};  // other sessions that ended with an error
};

// A session of smtp::session_factory with the benchmark's counting around it.
// It adds one small object per connection (the pointer to the library's session,
// the tally pointer, a flag): the price of counting handshakes from outside,
// which the raw server does in its own code for nothing.
//
// The counts are made when the session ends, not from the states seen between
// calls: a fast client can keep a session busy from the handshake to QUIT within
// one resume() (every next command is already there when the server reads), so
// the stream may never be seen in state tls from outside.
class counted_session final : public uptls::loop_session {
 public:
  counted_session(std::unique_ptr<uptls::loop_session> inner, tally& t) : inner_(std::move(inner)), t_(t) {}

  uptls::result<> resume() override {
    const uptls::result<> r = inner_->resume();
    if (inner_->connection().current() == uptls::stream::state::handshaking) handshaking_ = true;
    if (!r.would_block()) ended(r);
    return r;
  }
  uptls::stream& connection() noexcept override { return inner_->connection(); }

 private:
  void ended(const uptls::result<>& r) {
    uptls::stream& s = inner_->connection();
    // Non-null once TLS was up, also after the close. The facts were built when
    // the message was delivered (the sink's message carries them), so asking costs
    // nothing on the sessions that count.
    const bool tls_up = s.session() != nullptr;
    if (tls_up) ++t_.c.handshakes;
    if (r.ok()) {
      if (tls_up) ++t_.c.sessions_completed;  // QUIT answered over TLS, as the raw server counts
      return;
    }
    ++t_.c.closed_early;
    const std::error_code ec = r.error();
    if (ec == uptls::errc::timeout) ++t_.c.timeouts;
    if (ec == uptls::errc::plaintext_injection) ++t_.c.injections_refused;
    const uptls::failure_info& why = s.last_failure();
    const bool tls_tried = handshaking_ || why.library || !why.text.empty() || why.alert_sent >= 0 ||
                           why.alert_received >= 0;
    const std::string detail = uptls::to_string(r) + (why.text.empty() ? "" : ": " + why.text);
    if (!tls_up && tls_tried) {
      ++t_.c.handshake_failures;
      t_.log("handshake: " + detail);
    } else {
      t_.ended_log(std::string(tls_up ? "session (TLS)" : "session (plaintext)") + " ended: " + detail);
    }
  }

  std::unique_ptr<uptls::loop_session> inner_;
  tally& t_;
  bool handshaking_ = false;  // seen handshaking between two calls
};

class server {
 public:
  server(const server_options& o, const uptls::backend& lib, const fd_limit& limit)
      : opts_(o), lib_(lib), limit_(limit), name_("uptls-" + std::string(lib.name())) {
    const std::chrono::seconds idle(o.idle_timeout_s);

    // The strict profile (uptls's default), the leaf of --cert, tickets on
    // (resumption is uptls's default, as OpenSSL's is for the raw server).
    uptls::tls_config cfg;
    cfg.cert_file = o.certs + "/" + o.leaf + ".pem";
    cfg.key_file = o.certs + "/" + o.leaf + ".key";
    cfg.release_buffers = o.release_buffers;
    // The raw server bounds a handshake only by its idle deadline: the same here.
    cfg.handshake_timeout = idle;
    auto ctx = lib.make_context(cfg, uptls::role::server);
    if (!ctx) {
      const std::string hint = ctx.error() == uptls::errc::unsupported && o.release_buffers
                                   ? " (--release-buffers: this backend has no such switch)"
                                   : "";
      throw std::runtime_error("make_context (" + std::string(lib.name()) + ", " + cfg.cert_file +
                               "): " + uptls::to_string(ctx) + hint);
    }

    auto smtp_opts = std::make_shared<uptls::smtp::server_options>();
    smtp_opts->hostname = "localhost";
    smtp_opts->tls = std::move(ctx).value();
    smtp_opts->require_tls = true;  // 530 before STARTTLS, as smtp_dialogue
    // The raw server's one deadline: nothing from the client for --idle-timeout.
    smtp_opts->timeouts.greeting = idle;
    smtp_opts->timeouts.command = idle;
    smtp_opts->timeouts.data = idle;

    // One pointer in the sink, so that each session's copy of it stays inside
    // std::function's own storage (no allocation per session).
    tally* t = &tally_;
    uptls::smtp::message_sink sink = [t](const uptls::smtp::message& m) {
      if (message_checks_out(m.data)) ++t->c.messages_good;
      else ++t->c.messages_bad;
    };

    uptls::event_server_options es;
    es.max_connections = o.max_conn;
    es.busy_reply = uptls::smtp::busy_reply;
    es.stream = uptls::smtp::line_limits();
    es.stream.io_timeout = idle;

    auto listener = uptls::tcp_listener::listen("127.0.0.1", static_cast<std::uint16_t>(o.port), listen_backlog);
    if (!listener) throw std::runtime_error("listen 127.0.0.1:" + std::to_string(o.port) + ": " + uptls::to_string(listener));
    port_ = listener->port();

    auto make = uptls::smtp::session_factory(std::move(smtp_opts), std::move(sink));
    auto counted = [make = std::move(make), t](uptls::stream s) -> std::unique_ptr<uptls::loop_session> {
      std::unique_ptr<uptls::loop_session> inner = make(std::move(s));
      if (!inner) return nullptr;
      return std::make_unique<counted_session>(std::move(inner), *t);
    };
    auto made = uptls::event_server::make(std::move(listener).value(), std::move(counted), std::move(es));
    if (!made) throw std::runtime_error("event_server::make: " + uptls::to_string(made));
    es_ = std::move(made).value();

    // SIGTERM and SIGINT arrive as reads on a signalfd, polled between rounds.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) throw std::runtime_error("sigprocmask");
    signal_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
    control_ = stdin_is_control();
    if (!control_) {
      std::fprintf(stderr, "%s: stdin is not a pipe or terminal: control by SIGTERM only\n", name_.c_str());
    }
  }

  ~server() {
    es_.reset();  // closes every session before the signalfd goes
    if (signal_fd_ >= 0) ::close(signal_fd_);
  }

  int run() {
    print_line("LISTENING " + std::to_string(port_));
    while (!stop_) {
      if (const uptls::result<> r = es_->run_once(control_latency); !r) {
        throw std::runtime_error("event_server::run_once: " + uptls::to_string(r));
      }
      poll_control();
    }
    print_line(stats_json(name_, opts_, counters(), limit_, why_, extra_json()));
    return 0;
  }

 private:
  // The raw server's counters: the event server's own, and the tally's.
  server_counters counters() const {
    server_counters c = tally_.c;
    const uptls::event_server_stats s = es_->stats();
    c.accepted = s.accepted;
    c.refused = s.refused_busy;
    c.current = s.active;
    c.peak_concurrent = s.peak;
    return c;
  }

  std::string extra_json() const {
    return "\"backend\": " + json_string(lib_.name()) + ", \"backend_version\": " +
           json_string(lib_.library_version()) +
           ", \"accept_errors_note\": \"uptls::event_server does not count accept errors: 0 means unknown\"";
  }

  // Never waits: stdin and the signalfd are looked at once per round.
  void poll_control() {
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {control_ ? STDIN_FILENO : -1, POLLIN, 0}};
    if (::poll(fds, 2, 0) <= 0) return;
    if ((fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo si{};
      if (::read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        stop(si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
      }
    }
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) on_control();
  }

  void on_control() {
    char buf[256];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return;
      stop("end of stdin");
      return;
    }
    control_buf_.append(buf, static_cast<std::size_t>(n));
    for (std::size_t lf; (lf = control_buf_.find('\n')) != std::string::npos;) {
      const std::string line = control_buf_.substr(0, lf);
      control_buf_.erase(0, lf + 1);
      switch (parse_control(line)) {
        case control::heap: print_line(heap_json(name_, counters())); break;
        case control::stats: stop("STATS command"); return;
        case control::unknown: print_line(unknown_control_json(line)); break;
      }
    }
  }

  void stop(const char* why) {
    why_ = why;
    stop_ = true;
  }

  server_options opts_;
  const uptls::backend& lib_;
  fd_limit limit_;
  std::string name_;
  tally tally_;
  std::unique_ptr<uptls::event_server> es_;
  std::uint16_t port_ = 0;
  int signal_fd_ = -1;
  bool control_ = false;
  std::string control_buf_;
  bool stop_ = false;
  const char* why_ = "";
};

}  // namespace
}  // namespace conc

int main(int argc, char** argv) {
  std::string backend = "openssl";
  conc::extra_server_options extra;
  extra.usage = conc::extra_usage;
  extra.parse = [&](std::string_view opt, const std::function<const char*()>& value,
                    const std::function<void(const std::string&)>& bad) {
    if (opt != "--backend") return false;
    backend = value();
    if (uptls::find_backend(backend) == nullptr) {
      bad("--backend: no backend '" + backend + "' in this build (it has: " + conc::backend_names() + ")");
    }
    return true;
  };
  const conc::server_options o = conc::parse_server_options(argc, argv, &extra);
  std::signal(SIGPIPE, SIG_IGN);  // a peer that hung up is an error return, not a signal
  // As the raw server: one socket per session and slack for the rest.
  const conc::fd_limit limit = conc::raise_fd_limit(o.max_conn + 64);
  if (!limit.enough()) std::fprintf(stderr, "bench-smtp-server-uptls: fd limit: %s\n", limit.note.c_str());
  try {
    conc::server s(o, *uptls::find_backend(backend), limit);
    return s.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-smtp-server-uptls: %s\n", e.what());
    return 1;
  }
}
