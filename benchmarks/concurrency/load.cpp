// bench-smtp-load: the load generator of the concurrency benchmark. It keeps C
// STARTTLS SMTP sessions open at once against one server (non-blocking sockets,
// one epoll set per thread), each doing the whole client dialogue:
//
//   connect, 220 greeting, EHLO, 250 with STARTTLS, STARTTLS, 220, TLS handshake
//   (chain checked against ca.pem, name against localhost), EHLO over TLS, 250
//   without STARTTLS, MAIL FROM, 250, RCPT TO, 250, DATA, 354, a unique message
//   with an X-Check header (dot-stuffed), 250, QUIT, 221, close_notify, close.
//
// and prints one JSON line: sessions per second, the time from the end of the
// handshake to the first byte of the EHLO reply over TLS (p50, p99), failures with
// their reasons, messages accepted. With --hold-idle it also measures the server's
// heap per idle session: it asks the server (HEAP on its stdin) before connecting,
// opens the first C sessions to just after the EHLO over TLS, holds them, asks
// again, and finishes them.
//
// The dialogue lives in `worker`; the TLS calls behind client_tls (client_tls.hpp),
// so that a uptls-based client can take the place of the OpenSSL one.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench.hpp"
#include "client_tls.hpp"
#include "common.hpp"
#include "load.hpp"

namespace conc {
namespace {

// ------------------------------------------------------------ options


const char* usage_text =
    "usage: bench-smtp-load --port N --certs DIR [--sessions N] [--concurrency C] [--threads T]\n"
    "                       [--ramp R] [--max-connecting N] [--hold-idle]\n"
    "                       [--server-in FD --server-out FD] [--warmup N]\n"
    "                       [--settle S] [--body-bytes N] [--bad-messages N] [--tls-version 1.2|1.3]\n"
    "                       [--client raw|uptls] [--client-tls NAME] [--client-backend NAME]\n"
    "                       [--host ADDR] [--server-name NAME]\n"
    "                       [--session-timeout S] [--timeout S]\n"
    "  Opens C concurrent STARTTLS SMTP sessions to ADDR:N (default 127.0.0.1), N in all, each\n"
    "  delivering one checksummed message, and prints one JSON line with the figures.\n"
    "  --certs DIR           the test PKI: DIR/ca.pem is the trust anchor\n"
    "  --sessions N          sessions in all (default: C)\n"
    "  --concurrency C       sessions open at once (default 100)\n"
    "  --threads T           client threads, each with its own epoll set (default 1)\n"
    "  --ramp R              open at most R new connections per second (default 0: no limit)\n"
    "  --max-connecting N    at most N sessions between connect() and the server's greeting\n"
    "                        (default 1024): below the listen backlog, so that the kernel never\n"
    "                        drops a SYN and SYN retransmission timers (1 s, 3 s, ...) stay out\n"
    "                        of the figures\n"
    "  --hold-idle           hold the first C sessions idle after the EHLO over TLS, ask the server\n"
    "                        for its heap (HEAP), then finish them: heap per idle session\n"
    "  --server-in FD        where to write HEAP (the server's stdin), and\n"
    "  --server-out FD       where to read the reply (the server's stdout); both inherited fds\n"
    "  --warmup N            with --hold-idle: sessions run before the baseline HEAP (default 4),\n"
    "                        so that one-time allocations (OpenSSL's caches) are not counted\n"
    "  --settle S            with --hold-idle: seconds to wait before asking with all held (0.2)\n"
    "  --body-bytes N        message body size (default 1024)\n"
    "  --bad-messages N      the first N messages carry a wrong X-Check; the server must answer 554\n"
    "  --tls-version V       pin TLS 1.2 or 1.3 (default: the highest both do)\n"
    "  --client raw|uptls    who runs the client dialogue: raw, the hand-written one in this program\n"
    "                        with the TLS of --client-tls (default; the same client for every server),\n"
    "                        or uptls: uptls::smtp::client over non-blocking uptls streams\n"
    "  --client-tls NAME     the raw dialogue's TLS implementation (default openssl)\n"
    "  --client-backend NAME the uptls backend of --client uptls (default openssl)\n"
    "  --server-name NAME    SNI and the name the certificate must have (default localhost)\n"
    "  --session-timeout S   fail a session not done S seconds after its connect, not counting\n"
    "                        the hold (default 300)\n"
    "  --timeout S           fail whatever is still open S seconds after the start (default 900)\n"
    "  Exit status: 0 when the run finished (\"ok\" in the JSON says whether every session did),\n"
    "  1 when it could not run, 2 for a bad command line.\n";

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "bench-smtp-load: %s\n%s", why.c_str(), usage_text);
  std::exit(2);
}

template <class T>
T number(std::string_view opt, std::string_view text, T lo, T hi) {
  T v{};
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (err != std::errc{} || end != text.data() + text.size() || v < lo || v > hi) {
    std::ostringstream os;
    os << opt << " wants a number from " << lo << " to " << hi << ", not '" << text << "'";
    usage(os.str());
  }
  return v;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    } else if (a == "--port") {
      o.port = number<int>(a, value(), 1, 65535);
    } else if (a == "--host") {
      o.host = value();
    } else if (a == "--certs") {
      o.certs = value();
    } else if (a == "--server-name") {
      o.server_name = value();
    } else if (a == "--sessions") {
      o.sessions = number<std::size_t>(a, value(), 1, 100'000'000);
    } else if (a == "--concurrency") {
      o.concurrency = number<std::size_t>(a, value(), 1, 1'000'000);
    } else if (a == "--threads") {
      o.threads = number<int>(a, value(), 1, 64);
    } else if (a == "--ramp") {
      o.ramp = number<double>(a, value(), 0, 1e9);
    } else if (a == "--max-connecting") {
      o.max_connecting = number<std::size_t>(a, value(), 1, 1'000'000);
    } else if (a == "--hold-idle") {
      o.hold_idle = true;
    } else if (a == "--server-in") {
      o.server_in = number<int>(a, value(), 0, 1 << 20);
    } else if (a == "--server-out") {
      o.server_out = number<int>(a, value(), 0, 1 << 20);
    } else if (a == "--warmup") {
      o.warmup = number<std::size_t>(a, value(), 0, 10'000);
    } else if (a == "--settle") {
      o.settle = number<double>(a, value(), 0, 60);
    } else if (a == "--body-bytes") {
      o.body_bytes = number<std::size_t>(a, value(), 0, 64 << 20);
    } else if (a == "--bad-messages") {
      o.bad_messages = number<std::size_t>(a, value(), 0, 100'000'000);
    } else if (a == "--tls-version") {
      o.version = value();
      if (o.version != "1.2" && o.version != "1.3") usage("--tls-version is 1.2 or 1.3");
    } else if (a == "--client-tls") {
      o.client_tls = value();
      o.client_tls_given = true;
    } else if (a == "--client") {
      o.client = value();
      if (o.client != "raw" && o.client != "uptls") usage("--client is raw or uptls, not '" + o.client + "'");
    } else if (a == "--client-backend") {
      o.client_backend = value();
    } else if (a == "--session-timeout") {
      o.session_timeout = number<double>(a, value(), 0.1, 86'400);
    } else if (a == "--timeout") {
      o.timeout = number<double>(a, value(), 0.1, 86'400);
    } else {
      usage("unknown option '" + std::string(a) + "'");
    }
  }
  if (o.port == 0) usage("--port N is required");
  if (o.certs.empty()) usage("--certs DIR is required");
  if (o.sessions == 0) o.sessions = o.concurrency;
  if (o.concurrency > o.sessions) o.concurrency = o.sessions;
  if ((o.server_in < 0) != (o.server_out < 0)) usage("--server-in and --server-out go together");
  // Never silently ignored: each client takes its own TLS option only.
  if (o.client == "uptls" && o.client_tls_given) usage("--client-tls is the raw client's; --client uptls takes --client-backend");
  if (o.client != "uptls" && o.client_backend != "openssl") usage("--client-backend is for --client uptls");
  if (o.threads > static_cast<int>(o.concurrency)) o.threads = static_cast<int>(o.concurrency);
  return o;
}

// ------------------------------------------------------------ the message

const std::string ehlo_command = "EHLO " + std::string(ehlo_name) + "\r\n";

}  // namespace

std::string make_message(std::size_t id, std::size_t body_bytes, bool bad, bool stuffed) {
  std::vector<std::string> body = {
      "This is message " + std::to_string(id) + " of the uptls concurrency benchmark.",
      ".This line starts with a dot, so it travels as two.",
      ".",
      "The line above was a lone dot.",
  };
  std::size_t size = 0;
  for (const auto& l : body) size += l.size() + 2;
  for (std::size_t k = 0; size < body_bytes; ++k) {
    std::string l = std::to_string(id) + ":" + std::to_string(k) + " ";
    for (std::size_t j = 0; l.size() < 72; ++j) l += static_cast<char>('a' + (id + k + j) % 26);
    size += l.size() + 2;
    body.push_back(std::move(l));
  }
  fnv1a64 h;
  for (const auto& l : body) {
    h.add(l);
    h.add("\r\n");
  }
  const std::uint64_t check = bad ? h.value() ^ 1 : h.value();
  std::string m;
  m.reserve(size + 512);
  m += "From: <sender-" + std::to_string(id) + "@client.localhost>\r\n";
  m += "To: <postmaster@localhost>\r\n";
  m += "Subject: concurrency benchmark, session " + std::to_string(id) + "\r\n";
  m += "Message-ID: <" + std::to_string(id) + "." + std::to_string(::getpid()) + "@client.localhost>\r\n";
  m += std::string(check_header) + " " + hex64(check) + "\r\n";
  m += "\r\n";
  for (const auto& l : body) {
    if (stuffed && !l.empty() && l.front() == '.') m += '.';  // dot-stuffing (RFC 5321 4.5.2)
    m += l;
    m += "\r\n";
  }
  if (stuffed) m += ".\r\n";
  return m;
}

namespace {

// ------------------------------------------------------------ one thread's sessions

enum class state : std::uint8_t {
  connecting, greeting, ehlo, starttls, handshake, ehlo_tls, held, mail, rcpt, data, message, quit
};

const char* name(state s) {
  switch (s) {
    case state::connecting: return "connect";
    case state::greeting: return "greeting";
    case state::ehlo: return "EHLO";
    case state::starttls: return "STARTTLS";
    case state::handshake: return "handshake";
    case state::ehlo_tls: return "EHLO over TLS";
    case state::held: return "held idle";
    case state::mail: return "MAIL";
    case state::rcpt: return "RCPT";
    case state::data: return "DATA";
    case state::message: return "message";
    case state::quit: return "QUIT";
  }
  return "?";
}

struct session {
  std::size_t id = 0;
  std::size_t slot = 0;  // index in worker::open_
  int fd = -1;
  state st = state::connecting;
  bool in_wave = false;  // --hold-idle: one of the sessions held open
  bool settled = false;  // counted in hold_gate::settled
  bool bad = false;      // --bad-messages: a wrong X-Check on purpose
  bool got_first_byte = false;
  std::uint32_t waiting_for = 0;
  std::unique_ptr<client_tls_session> tls;
  std::string out;  // what is being sent; out_off bytes of it are gone
  std::size_t out_off = 0;
  std::string in;   // reply bytes not parsed yet
  std::int64_t t_start = 0, t_hs_start = 0, t_hs_done = 0, deadline = 0;
};

struct reply {
  int code = 0;
  std::string last_line;
  bool starttls = false;  // some line of it was the STARTTLS keyword
};

// The hand-written dialogue, TLS behind client_tls (worker_params in load.hpp).
class worker final : public load_worker {
 public:
  worker(const worker_params& p, client_tls& tls)
      : o_(*p.o), tls_(tls), first_(p.first), count_(p.count), concurrency_(p.concurrency), ramp_(p.ramp),
        max_connecting_(p.max_connecting), wave_(p.wave), gate_(p.gate), bad_until_(p.bad_until),
        run_deadline_(p.run_deadline) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep_ < 0 || wake_ < 0) throw std::runtime_error(std::string("epoll/eventfd: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the wake-up eventfd
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, wake_, &ev) != 0) throw std::runtime_error("epoll_ctl eventfd");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(o_.port));
    if (inet_pton(AF_INET, o_.host.c_str(), &a.sin_addr) != 1) throw std::runtime_error("bad --host " + o_.host);
    addr_ = a;
  }
  ~worker() override {
    while (!open_.empty()) drop(*open_.back());
    ::close(wake_);
    ::close(ep_);
  }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void wake() override {
    const std::uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
  }

  void run() override {
    t0_ = now_ns();
    next_scan_ = t0_ + scan_every_ns;
    epoll_event events[1024];
    while (done_ < count_) {
      start_sessions();
      const int n = epoll_wait(ep_, events, 1024, wait_ms());
      if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
      for (int i = 0; i < n; ++i) {
        if (events[i].data.ptr == nullptr) {
          std::uint64_t v = 0;
          (void)!::read(wake_, &v, sizeof v);
          if (gate_ != nullptr && gate_->resume.load()) resume_held();
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

  bool holding() const { return gate_ != nullptr && !gate_->resume.load(); }

  int wait_ms() const {
    std::int64_t ms = scan_every_ns / 1'000'000;
    if (started_ < count_ && open_.size() < concurrency_ && connecting_ < max_connecting_ &&
        !(holding() && started_ >= wave_)) {
      ms = ramp_ > 0 ? std::max<std::int64_t>(1, static_cast<std::int64_t>(1000.0 / ramp_)) : 0;
    }
    return static_cast<int>(std::min<std::int64_t>(ms, scan_every_ns / 1'000'000));
  }

  // Opens what the concurrency, --max-connecting, the ramp and the hold allow, at
  // most 256 per loop turn, so that the sessions already open are served between
  // bursts of connects.
  void start_sessions() {
    std::size_t budget = 256;
    const std::int64_t now = now_ns();
    while (budget-- > 0 && started_ < count_ && open_.size() < concurrency_ && connecting_ < max_connecting_) {
      if (holding() && started_ >= wave_) return;  // the rest start after the hold
      if (ramp_ > 0 && static_cast<double>(started_) >= static_cast<double>(now - t0_) / 1e9 * ramp_ + 1) return;
      open_session(now);
    }
  }

  void open_session(std::int64_t now) {
    auto s = std::make_unique<session>();
    s->id = first_ + started_;
    s->in_wave = gate_ != nullptr && started_ < wave_;
    s->bad = s->id < bad_until_;
    s->t_start = now;
    s->deadline = now + static_cast<std::int64_t>(o_.session_timeout * 1e9);
    ++started_;
    ++r.started;
    ++connecting_;
    if (r.first_start == 0) r.first_start = now;
    session& ref = *s;
    ref.slot = open_.size();
    open_.push_back(s.release());
    r.peak_open = std::max(r.peak_open, open_.size());

    ref.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ref.fd < 0) return fail(ref, std::string("socket: ") + std::strerror(errno));
    int one = 1;  // as on the servers: a TLS flight is several writes
    (void)::setsockopt(ref.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(ref.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) != 0 && errno != EINPROGRESS) {
      return fail(ref, std::string("connect: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.ptr = &ref;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, ref.fd, &ev) != 0) {
      return fail(ref, std::string("epoll_ctl ADD: ") + std::strerror(errno));
    }
    ref.waiting_for = EPOLLOUT;
  }

  void want(session& s, std::uint32_t events) {
    if (s.waiting_for == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = &s;
    if (epoll_ctl(ep_, EPOLL_CTL_MOD, s.fd, &ev) != 0) return fail(s, std::string("epoll_ctl MOD: ") + std::strerror(errno));
    s.waiting_for = events;
  }

  void send(session& s, std::string text) {
    s.out = std::move(text);
    s.out_off = 0;
  }

  // Runs the session until it has to wait: finish connecting, send what is
  // queued, go on with the handshake, act on a complete reply, read more.
  void drive(session& s) {
    for (;;) {
      if (s.st == state::connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err != 0) return fail(s, std::string("connect: ") + std::strerror(err));
        s.st = state::greeting;
      }
      if (s.out_off < s.out.size()) {
        const tls_result w = write_some(s);
        if (w.status == tls_status::want_read) return want(s, EPOLLIN);
        if (w.status == tls_status::want_write) return want(s, EPOLLOUT);
        if (w.status != tls_status::ok) return fail(s, io_failure(s, w, "write"));
        s.out_off += w.bytes;
        continue;
      }
      if (s.st == state::handshake) {
        const tls_result h = s.tls->handshake();
        if (h.status == tls_status::want_read) return want(s, EPOLLIN);
        if (h.status == tls_status::want_write) return want(s, EPOLLOUT);
        if (h.status != tls_status::ok) return fail(s, io_failure(s, h, "handshake"));
        s.t_hs_done = now_ns();
        r.handshake_us.push_back(static_cast<double>(s.t_hs_done - s.t_hs_start) / 1e3);
        if (r.negotiated.empty()) r.negotiated = s.tls->negotiated();
        s.st = state::ehlo_tls;
        send(s, std::string(ehlo_command));
        continue;
      }
      if (std::optional<reply> rep = take_reply(s)) {
        if (!on_reply(s, *rep)) return;  // done, failed or held
        continue;
      }
      if (!s.in.empty() && s.in.size() > 4096) return fail(s, std::string(name(s.st)) + ": reply longer than 4 KiB");
      char buf[4096];
      const tls_result rd = read_some(s, buf);
      if (rd.status == tls_status::want_read) return want(s, EPOLLIN);
      if (rd.status == tls_status::want_write) return want(s, EPOLLOUT);
      if (rd.status == tls_status::closed) return fail(s, std::string(name(s.st)) + ": the server closed the connection");
      if (rd.status != tls_status::ok) return fail(s, io_failure(s, rd, "read"));
      if (s.st == state::ehlo_tls && !s.got_first_byte) {
        // The figure: from the end of the handshake to the first byte of the
        // server's first reply over TLS (session tickets are not replies).
        s.got_first_byte = true;
        r.ttfb_us.push_back(static_cast<double>(now_ns() - s.t_hs_done) / 1e3);
      }
      if (s.st == state::held) return fail(s, "held idle: the server sent something");
      s.in.append(buf, rd.bytes);
    }
  }

  tls_result write_some(session& s) {
    const std::span<const char> rest(s.out.data() + s.out_off, s.out.size() - s.out_off);
    if (s.tls) return s.tls->write(rest);
    const ssize_t n = ::send(s.fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n > 0) return {tls_status::ok, static_cast<std::size_t>(n)};
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return {tls_status::want_write, 0};
    plain_error_ = std::strerror(errno);
    return {tls_status::failed, 0};
  }

  tls_result read_some(session& s, std::span<char> buf) {
    if (s.tls) return s.tls->read(buf);
    const ssize_t n = ::recv(s.fd, buf.data(), buf.size(), 0);
    if (n > 0) return {tls_status::ok, static_cast<std::size_t>(n)};
    if (n == 0) return {tls_status::closed, 0};
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {tls_status::want_read, 0};
    if (errno == ECONNRESET) return {tls_status::closed, 0};
    plain_error_ = std::strerror(errno);
    return {tls_status::failed, 0};
  }

  std::string io_failure(const session& s, const tls_result&, const char* what) const {
    return std::string(name(s.st)) + ": " + (s.tls ? s.tls->error() : std::string(what) + ": " + plain_error_);
  }

  // A complete reply (all its lines, RFC 5321 4.2.1) from the front of s.in.
  std::optional<reply> take_reply(session& s) {
    reply rep;
    std::size_t pos = 0;
    for (;;) {
      const std::size_t lf = s.in.find('\n', pos);
      if (lf == std::string::npos) return std::nullopt;
      std::string_view line(s.in.data() + pos, lf - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      pos = lf + 1;
      const bool digits = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                          std::isdigit(static_cast<unsigned char>(line[1])) &&
                          std::isdigit(static_cast<unsigned char>(line[2]));
      if (!digits || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
        rep.code = -1;
        rep.last_line = std::string(line.substr(0, 80));
        s.in.erase(0, pos);
        return rep;
      }
      std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
      const std::string_view kw = text.substr(0, text.find(' '));
      if (kw.size() == 8 && strncasecmp(kw.data(), "STARTTLS", 8) == 0) rep.starttls = true;
      if (line.size() == 3 || line[3] == ' ') {
        rep.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        rep.last_line = std::string(line.substr(0, 80));
        s.in.erase(0, pos);
        return rep;
      }
    }
  }

  // Acts on a reply; false when the session is over or waits for something else
  // than the socket (the hold).
  bool on_reply(session& s, const reply& rep) {
    const auto unexpected = [&] {
      fail(s, std::string(name(s.st)) + ": unexpected reply '" + rep.last_line + "'");
      return false;
    };
    switch (s.st) {
      case state::greeting:
        if (rep.code != 220) return unexpected();
        r.connect_us.push_back(static_cast<double>(now_ns() - s.t_start) / 1e3);
        --connecting_;
        s.st = state::ehlo;
        send(s, std::string(ehlo_command));
        return true;
      case state::ehlo:
        if (rep.code != 250) return unexpected();
        if (!rep.starttls) {
          fail(s, "EHLO: STARTTLS not offered");
          return false;
        }
        s.st = state::starttls;
        send(s, "STARTTLS\r\n");
        return true;
      case state::starttls:
        if (rep.code != 220) return unexpected();
        if (!s.in.empty()) {
          fail(s, "STARTTLS: the server sent bytes after its 220");
          return false;
        }
        try {
          s.tls = tls_.attach(s.fd);
        } catch (const std::exception& e) {
          fail(s, std::string("handshake: ") + e.what());
          return false;
        }
        s.t_hs_start = now_ns();
        s.st = state::handshake;
        return true;
      case state::ehlo_tls:
        if (rep.code != 250) return unexpected();
        if (rep.starttls) {
          fail(s, "EHLO over TLS: STARTTLS offered again");
          return false;
        }
        if (s.in_wave && holding()) {
          s.st = state::held;
          settle(s);
          gate_->held.fetch_add(1);
          want(s, EPOLLIN);  // only to notice the server closing it
          return false;
        }
        mail(s);
        return true;
      case state::mail:
        if (rep.code != 250) return unexpected();
        s.st = state::rcpt;
        send(s, "RCPT TO:<postmaster@localhost>\r\n");
        return true;
      case state::rcpt:
        if (rep.code != 250) return unexpected();
        s.st = state::data;
        send(s, "DATA\r\n");
        return true;
      case state::data:
        if (rep.code != 354) return unexpected();
        s.st = state::message;
        send(s, make_message(s.id, o_.body_bytes, s.bad, true));
        return true;
      case state::message:
        if (s.bad) {
          if (rep.code == 250) {
            fail(s, "message: the server accepted a wrong X-Check");
            return false;
          }
          if (rep.code != 554) return unexpected();
          ++r.bad_rejected;
        } else {
          if (rep.code != 250) return unexpected();
          ++r.messages_accepted;
        }
        s.st = state::quit;
        send(s, "QUIT\r\n");
        return true;
      case state::quit:
        if (rep.code != 221) return unexpected();
        complete(s);
        return false;
      case state::connecting:
      case state::handshake:
      case state::held:
        break;
    }
    return unexpected();
  }

  void mail(session& s) {
    s.st = state::mail;
    send(s, "MAIL FROM:<sender-" + std::to_string(s.id) + "@client.localhost>\r\n");
  }

  void resume_held() {
    const std::int64_t now = now_ns();
    // Copied: driving a session may close it, which reorders open_.
    std::vector<session*> held;
    for (session* s : open_) {
      if (s->st == state::held) held.push_back(s);
    }
    for (session* s : held) {
      s->deadline = now + static_cast<std::int64_t>(o_.session_timeout * 1e9);
      mail(*s);
      drive(*s);
    }
  }

  // The session timeout and the run's deadline, checked four times a second.
  void expire(std::int64_t now) {
    std::vector<session*> late;
    for (session* s : open_) {
      if (s->st == state::held) continue;  // the hold is the coordinator's to bound
      if (now >= run_deadline_ || now >= s->deadline) late.push_back(s);
    }
    for (session* s : late) {
      fail(*s, std::string(name(s->st)) + (now >= run_deadline_ ? ": the run's --timeout passed" : ": no progress within --session-timeout"));
    }
    if (now >= run_deadline_) {
      // What was never started fails too, so that run() ends.
      const std::size_t never = count_ - started_;
      if (never > 0) {
        r.failed += never;
        r.failures["not started: the run's --timeout passed"] += never;
        done_ += never;
        started_ = count_;
      }
      for (session* s : std::vector<session*>(open_)) fail(*s, "held idle: the run's --timeout passed");
    }
  }

  void settle(session& s) {
    if (!s.in_wave || s.settled || gate_ == nullptr) return;
    s.settled = true;
    gate_->settled.fetch_add(1);
  }

  void complete(session& s) {
    const std::int64_t now = now_ns();
    s.tls->close_notify();
    ++r.completed;
    r.session_ms.push_back(static_cast<double>(now - s.t_start) / 1e6);
    r.last_done = now;
    drop(s);
  }

  void fail(session& s, const std::string& why) {
    ++r.failed;
    ++r.failures[why];
    settle(s);
    if (s.st == state::held && gate_ != nullptr) gate_->held.fetch_sub(1);
    r.last_done = now_ns();
    drop(s);
  }

  // Closes the session and forgets it.
  void drop(session& s) {
    if (s.st == state::connecting || s.st == state::greeting) --connecting_;
    s.tls.reset();
    if (s.fd >= 0) ::close(s.fd);  // also leaves the epoll set
    session* last = open_.back();
    open_[s.slot] = last;
    last->slot = s.slot;
    open_.pop_back();
    ++done_;
    delete &s;
  }

  const options& o_;
  client_tls& tls_;
  std::size_t first_, count_, concurrency_;
  double ramp_;
  std::size_t max_connecting_;
  std::size_t connecting_ = 0;  // sessions in state connecting or greeting
  std::size_t wave_;
  hold_gate* gate_;
  std::size_t bad_until_;
  std::int64_t run_deadline_;
  int ep_ = -1;
  int wake_ = -1;
  sockaddr_in addr_{};
  std::int64_t t0_ = 0, next_scan_ = 0;
  std::size_t started_ = 0, done_ = 0;
  std::vector<session*> open_;
  std::string plain_error_;
};

// ------------------------------------------------------------ asking the server

// Sends one control command to the server and returns its one-line JSON reply.
std::string ask_server(const options& o, const char* command, std::string& error) {
  const std::string line = std::string(command) + "\n";
  if (::write(o.server_in, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    error = std::string("writing ") + command + " to the server (fd " + std::to_string(o.server_in) + "): " + std::strerror(errno);
    return {};
  }
  std::string got;
  const std::int64_t until = now_ns() + 10'000'000'000;  // 10 s
  for (;;) {
    pollfd p{o.server_out, POLLIN, 0};
    const int left_ms = static_cast<int>((until - now_ns()) / 1'000'000);
    if (left_ms <= 0 || ::poll(&p, 1, left_ms) == 0) {
      error = std::string("no reply to ") + command + " from the server within 10 s";
      return {};
    }
    char c = 0;
    // One byte at a time: the rest of the pipe (the server's STATS line) is not ours to take.
    const ssize_t n = ::read(o.server_out, &c, 1);
    if (n <= 0) {
      error = std::string("the server's stdout closed before replying to ") + command;
      return {};
    }
    if (c == '\n') return got;
    got += c;
  }
}

// ------------------------------------------------------------ kernel counters

// TcpExt ListenOverflows and ListenDrops (/proc/net/netstat): connections the
// kernel dropped because a listening socket's accept queue was full. Counted for
// the whole network namespace, so other loopback servers count too.
std::pair<long long, long long> listen_drops() {
  std::ifstream f("/proc/net/netstat");
  std::string names, values;
  while (std::getline(f, names) && std::getline(f, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string key, val;
    long long overflows = -1, drops = -1;
    while (n >> key && v >> val) {
      if (key == "ListenOverflows") overflows = std::stoll(val);
      if (key == "ListenDrops") drops = std::stoll(val);
    }
    return {overflows, drops};
  }
  return {-1, -1};
}

double pct(const std::vector<double>& v, double p) { return v.empty() ? -1 : bench::percentile(v, p); }

// Runs `count` sessions from id `first` on `threads` workers and merges what they saw.
// The sessions, the concurrency and the ramp are split evenly over the threads.
// `make` builds one thread's worker (the hand-written dialogue or uptls's).
using worker_factory = std::function<std::unique_ptr<load_worker>(const worker_params&)>;

results run_phase(const options& o, const worker_factory& make, std::size_t first, std::size_t count,
                  std::size_t concurrency, int threads, hold_gate* gate, std::size_t bad, std::int64_t deadline,
                  std::vector<std::unique_ptr<load_worker>>& workers, const std::function<void()>& coordinate) {
  workers.clear();
  for (int t = 0; t < threads; ++t) {
    const std::size_t lo = count * t / threads, hi = count * (t + 1) / threads;
    const std::size_t c_lo = concurrency * t / threads, c_hi = concurrency * (t + 1) / threads;
    const std::size_t conc = std::max<std::size_t>(1, c_hi - c_lo);
    const std::size_t wave = gate != nullptr ? std::min(conc, hi - lo) : 0;
    if (gate != nullptr) gate->expected += wave;
    const std::size_t connecting = std::max<std::size_t>(1, o.max_connecting / threads);
    worker_params p;
    p.o = &o;
    p.first = first + lo;
    p.count = hi - lo;
    p.concurrency = conc;
    p.ramp = o.ramp / threads;
    p.max_connecting = connecting;
    p.wave = wave;
    p.gate = gate;
    p.bad_until = first + bad;
    p.run_deadline = deadline;
    workers.push_back(make(p));
  }
  std::vector<std::thread> running;
  std::vector<std::string> errors(workers.size());
  for (std::size_t t = 0; t < workers.size(); ++t) {
    running.emplace_back([&, t] {
      try {
        workers[t]->run();
      } catch (const std::exception& e) {
        errors[t] = e.what();
        if (gate != nullptr) gate->settled.store(SIZE_MAX / 2);  // do not keep the coordinator waiting
      }
    });
  }
  if (coordinate) coordinate();
  for (auto& th : running) th.join();
  results all;
  for (std::size_t t = 0; t < workers.size(); ++t) {
    if (!errors[t].empty()) throw std::runtime_error("client thread " + std::to_string(t) + ": " + errors[t]);
    all.merge(workers[t]->r);
  }
  return all;
}

std::string failures_json(const std::map<std::string, std::size_t>& f) {
  std::string out = "{";
  for (const auto& [k, v] : f) {
    if (out.size() > 1) out += ", ";
    out += json_string(k) + ": " + std::to_string(v);
  }
  return out + "}";
}

int run(const options& o) {
  bench::json out;
  // Every session is one socket: C of them at once, the warm-up's, and slack for
  // epoll, eventfds, stdio and the inherited control pipes.
  const fd_limit limit = raise_fd_limit(o.concurrency + o.warmup + 64 + 4 * static_cast<std::uint64_t>(o.threads));
  out.set("ok", false);
  out.set_json("fd_limit", limit.json());
  if (!limit.enough()) std::fprintf(stderr, "bench-smtp-load: fd limit: %s\n", limit.note.c_str());

  // Who runs the client side: the hand-written dialogue over --client-tls (the
  // default: the same client for every server), or uptls::smtp::client.
  std::unique_ptr<client_tls> tls;
  std::unique_ptr<dialogue_client> uptls_client;
  worker_factory make;
  try {
    if (o.client == "uptls") {
      uptls_client = make_uptls_dialogue_client(o);
      make = [&](const worker_params& p) { return uptls_client->make_worker(p); };
      out.set("client", uptls_client->description());
      out.set("client_tls", uptls_client->tls_description());
    } else {
      client_tls_config tc;
      tc.ca_file = o.certs + "/ca.pem";
      tc.host = o.server_name;
      tc.version = o.version;
      tls = make_client_tls(o.client_tls, tc);
      if (!tls) {
        std::string names;
        for (const auto& n : client_tls_names()) names += (names.empty() ? "" : ", ") + n;
        usage("unknown --client-tls '" + o.client_tls + "' (this build has: " + names + ")");
      }
      make = [&](const worker_params& p) -> std::unique_ptr<load_worker> { return std::make_unique<worker>(p, *tls); };
      out.set("client", "raw: the hand-written dialogue (load.cpp)");
      out.set("client_tls", tls->description());
    }
  } catch (const std::exception& e) {
    out.set("error", std::string("client TLS: ") + e.what());
    std::puts(out.text().c_str());
    return 1;
  }

  const std::int64_t start = now_ns();
  const std::int64_t deadline = start + static_cast<std::int64_t>(o.timeout * 1e9);
  const bool ask = o.server_in >= 0;
  std::vector<std::unique_ptr<load_worker>> workers;
  std::string heap_error;
  std::string baseline, idle;

  // The warm-up: a few whole sessions before the baseline, so that the server's
  // one-time allocations (OpenSSL's algorithm fetch caches, Asio's handler
  // recycling) are not counted against the idle sessions.
  results warm;
  if (o.hold_idle && o.warmup > 0) {
    warm = run_phase(o, make, 0, o.warmup, o.warmup, 1, nullptr, 0, deadline, workers, {});
  }
  if (o.hold_idle && ask) baseline = ask_server(o, "HEAP", heap_error);

  const auto [overflows_before, drops_before] = listen_drops();
  hold_gate gate;
  std::int64_t hold_start = 0, hold_end = 0;
  std::size_t held = 0;
  const std::size_t first = o.hold_idle ? o.warmup : 0;
  const std::function<void()> coordinate = [&] {
    // Waits (bounded by --session-timeout) until every held session is idle or
    // has failed, lets the server go quiet, asks for its heap, lets them go on.
    const std::int64_t until = now_ns() + static_cast<std::int64_t>(o.session_timeout * 1e9);
    while (gate.settled.load() < gate.expected && now_ns() < until && now_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (gate.settled.load() < gate.expected) {
      heap_error = "only " + std::to_string(gate.settled.load()) + " of " + std::to_string(gate.expected) +
                   " sessions reached the hold (or failed) in time";
    }
    hold_start = now_ns();
    std::this_thread::sleep_for(std::chrono::duration<double>(o.settle));
    held = gate.held.load();
    if (ask && heap_error.empty()) idle = ask_server(o, "HEAP", heap_error);
    gate.resume.store(true);
    for (auto& w : workers) w->wake();
    hold_end = now_ns();
  };
  results res;
  try {
    res = run_phase(o, make, first, o.sessions, o.concurrency, o.threads, o.hold_idle ? &gate : nullptr,
                    o.bad_messages, deadline, workers, o.hold_idle ? coordinate : std::function<void()>{});
  } catch (const std::exception& e) {
    out.set("error", e.what());
    std::puts(out.text().c_str());
    return 1;
  }
  const auto [overflows_after, drops_after] = listen_drops();

  const double hold_s = static_cast<double>(hold_end - hold_start) / 1e9;
  const double wall_s = res.last_done > res.first_start
                            ? static_cast<double>(res.last_done - res.first_start) / 1e9 - hold_s
                            : 0;
  out.set("ok", res.failed == 0 && res.completed == o.sessions && heap_error.empty());
  out.set("host", o.host);
  out.set("port", o.port);
  out.set("negotiated", res.negotiated);
  out.set("sessions", o.sessions);
  out.set("concurrency", o.concurrency);
  out.set("threads", o.threads);
  out.set("ramp", o.ramp);
  out.set("max_connecting", o.max_connecting);
  out.set("hold_idle", o.hold_idle);
  out.set("completed", res.completed);
  out.set("failed", res.failed);
  out.set_json("failures", failures_json(res.failures));
  out.set("messages_accepted", res.messages_accepted);
  out.set("bad_messages", o.bad_messages);
  out.set("bad_rejected", res.bad_rejected);
  out.set("wall_s", wall_s);
  out.set("hold_s", hold_s);
  out.set("sessions_per_s", wall_s > 0 ? static_cast<double>(res.completed) / wall_s : 0.0);
  out.set("ttfb_samples", res.ttfb_us.size());
  out.set("ttfb_p50_us", pct(res.ttfb_us, 50));
  out.set("ttfb_p99_us", pct(res.ttfb_us, 99));
  out.set("ttfb_max_us", pct(res.ttfb_us, 100));
  out.set("handshake_p50_us", pct(res.handshake_us, 50));
  out.set("handshake_p99_us", pct(res.handshake_us, 99));
  out.set("greeting_p50_us", pct(res.connect_us, 50));
  out.set("greeting_p99_us", pct(res.connect_us, 99));
  out.set("session_p50_ms", pct(res.session_ms, 50));
  out.set("session_p99_ms", pct(res.session_ms, 99));
  out.set("peak_open", res.peak_open);
  out.set("client_cpu_s", cpu_user_seconds() + cpu_system_seconds());
  if (overflows_before >= 0) {
    out.set("listen_overflows", static_cast<std::int64_t>(overflows_after - overflows_before));
    out.set("listen_drops", static_cast<std::int64_t>(drops_after - drops_before));
  }
  if (o.hold_idle) {
    out.set_json("warmup", "{\"sessions\": " + std::to_string(o.warmup) + ", \"completed\": " +
                               std::to_string(warm.completed) + ", \"failures\": " + failures_json(warm.failures) + "}");
    bench::json heap;
    heap.set("held", held);
    if (!baseline.empty()) heap.set_json("baseline", baseline);
    if (!idle.empty()) heap.set_json("idle", idle);
    if (!baseline.empty() && !idle.empty() && held > 0) {
      const double b = json_number(baseline, "heap_in_use"), i = json_number(idle, "heap_in_use");
      const double rb = json_number(baseline, "rss_kb"), ri = json_number(idle, "rss_kb");
      heap.set("per_idle_session_bytes", (i - b) / static_cast<double>(held));
      heap.set("rss_per_idle_session_bytes", (ri - rb) * 1024.0 / static_cast<double>(held));
    }
    if (!ask) heap.set("note", "no --server-in/--server-out: the server was not asked");
    if (!heap_error.empty()) heap.set("error", heap_error);
    out.set_json("heap", heap.text());
  }
  std::puts(out.text().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace conc

int main(int argc, char** argv) {
  const conc::options o = conc::parse(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return conc::run(o);
  } catch (const std::exception& e) {
    std::printf("{\"ok\": false, \"error\": %s}\n", conc::json_string(e.what()).c_str());
    return 1;
  }
}
