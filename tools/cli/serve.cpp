#include "serve.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <optional>

#include "uptls/errc.hpp"
#include "uptls/imap.hpp"
#include "uptls/pop3.hpp"
#include "uptls/sieve.hpp"
#include "uptls/transport.hpp"

namespace uptls::cli {
namespace {

constexpr std::array<serve_protocol, 5> table{{
    {"smtp", make_smtp_sessions, smtp::busy_reply},
    {"lmtp", make_lmtp_sessions, smtp::busy_reply},
    {"imap", make_imap_sessions, imap::busy_reply, imap::max_line},
    {"pop3", make_pop3_sessions, pop3::busy_reply},
    {"sieve", make_sieve_sessions, sieve::busy_reply},
}};

// The server a signal stops. event_server::stop() is safe in a signal handler;
// the pointer is atomic (and lock-free) so the handler never sees half of it.
std::atomic<event_server*> running{nullptr};
static_assert(std::atomic<event_server*>::is_always_lock_free);
volatile std::sig_atomic_t stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  stop_signal = sig;
  if (event_server* s = running.load()) s->stop();
}

// Installs the handlers for the server's lifetime and puts the old ones back.
class stop_signals {
 public:
  stop_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~stop_signals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// The client's address and port, for the session's first line.
std::pair<std::string, std::uint16_t> peer_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {"(unknown)", 0};
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    return {text, ntohs(a->sin_port)};
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    return {text, ntohs(a->sin6_port)};
  }
  return {"(local)", 0};
}

// Implicit TLS (port-465 style): the handshake first, inside the event loop
// like everything else, then the protocol's session on the TLS stream.
class implicit_tls_session final : public loop_session {
 public:
  implicit_tls_session(stream s, std::shared_ptr<const context> tls, const event_server::factory& next,
                       serve_hooks& hooks)
      : s_(std::move(s)), tls_(std::move(tls)), next_(next), hooks_(hooks) {}

  result<> resume() override {
    if (!inner_) {
      const result<> r = s_->start_tls(tls_);
      if (r.would_block()) return r;
      if (!r) {
        hooks_.note("TLS handshake failed: " + r.error().message());
        return r;
      }
      const session_info& info = *s_->session();
      hooks_.note("TLS established: " + std::string(to_string(info.version)) + " " + info.suite.name);
      inner_ = next_(std::move(*s_));
      s_.reset();
      if (!inner_) return errc::internal;
    }
    return inner_->resume();
  }
  stream& connection() noexcept override { return inner_ ? inner_->connection() : *s_; }

 private:
  std::optional<stream> s_;
  std::shared_ptr<const context> tls_;
  const event_server::factory& next_;
  serve_hooks& hooks_;
  std::unique_ptr<loop_session> inner_;
};

// Numbers a session: its lines carry the number, and its end is reported with it.
class numbered_session final : public loop_session {
 public:
  numbered_session(std::uint64_t id, std::unique_ptr<loop_session> inner, serve_hooks& hooks, serve_output& out)
      : id_(id), inner_(std::move(inner)), hooks_(hooks), out_(out) {}

  result<> resume() override {
    hooks_.current_ = id_;
    const result<> r = inner_->resume();
    if (!r.would_block()) out_.session_end(id_, r);
    hooks_.current_ = 0;
    return r;
  }
  stream& connection() noexcept override { return inner_->connection(); }

 private:
  std::uint64_t id_;
  std::unique_ptr<loop_session> inner_;
  serve_hooks& hooks_;
  serve_output& out_;
};

failure_report setup_failure(std::string name, std::string text, int status, std::string hint = {}) {
  failure_report f;
  f.name = std::move(name);
  f.text = std::move(text);
  f.exit_status = status;
  f.hint = std::move(hint);
  return f;
}

}  // namespace

std::span<const serve_protocol> serve_protocols() noexcept { return table; }

const serve_protocol* find_serve_protocol(std::string_view name) noexcept {
  const auto it = std::find_if(table.begin(), table.end(), [&](const serve_protocol& p) { return p.name == name; });
  return it == table.end() ? nullptr : &*it;
}

std::string serve_protocol_names(bool supported) {
  std::string out;
  for (const serve_protocol& p : table) {
    if ((p.make != nullptr) != supported) continue;
    out += (out.empty() ? "" : ", ") + std::string(p.name);
  }
  return out;
}

int run_serve(const serve_plan& plan) {
  std::unique_ptr<serve_output> out = plan.json ? make_json_serve_output() : make_text_serve_output();
  if (plan.proto->make == nullptr) {
    out->failure(setup_failure("protocol_not_supported",
                               "serve " + std::string(plan.proto->name) +
                                   " is not supported yet by this version of uptls; it serves " +
                                   serve_protocol_names(true),
                               exit_not_supported));
    return exit_not_supported;
  }

  std::shared_ptr<const context> tls;
  if (!plan.cert_file.empty()) {
    tls_config cfg;
    cfg.security = plan.security;
    cfg.cert_file = plan.cert_file;
    cfg.key_file = plan.key_file;
    cfg.handshake_timeout = plan.timeout;
    auto made = plan.library->make_context(cfg, role::server);
    if (!made) {
      out->failure(setup_failure(error_name(made.error()),
                                 made.error().message() + " (" + std::string(plan.library->name()) +
                                     " refused --cert " + plan.cert_file + " --key " + plan.key_file + ")",
                                 exit_usage, "--cert takes the PEM chain, --key its private key, and they must match"));
      return exit_usage;
    }
    tls = std::move(made).value();
  }

  auto listener = tcp_listener::listen(plan.listen, plan.port);
  if (!listener) {
    out->failure(setup_failure(error_name(listener.error()),
                               "cannot listen on " + plan.listen + " port " + std::to_string(plan.port) + ": " +
                                   listener.error().message(),
                               exit_failed, "another program may hold that port; --port 0 picks a free one"));
    return exit_failed;
  }

  serve_hooks hooks(*out);
  const event_server::factory sessions = plan.proto->make(plan, tls, hooks);
  std::uint64_t next_id = 0;
  event_server::factory numbered = [&](stream s) -> std::unique_ptr<loop_session> {
    const std::uint64_t id = ++next_id;
    const auto [address, port] = peer_of(s.native_handle());
    out->session_start(id, address, port);
    hooks.current_ = id;
    std::unique_ptr<loop_session> session =
        plan.implicit ? std::make_unique<implicit_tls_session>(std::move(s), tls, sessions, hooks) : sessions(std::move(s));
    hooks.current_ = 0;
    if (!session) return nullptr;
    return std::make_unique<numbered_session>(id, std::move(session), hooks, *out);
  };

  event_server_options eo;
  eo.max_connections = plan.max_connections;
  eo.busy_reply = std::string(plan.proto->busy_reply);
  eo.stream = smtp::line_limits();
  eo.stream.max_line = plan.proto->max_line;
  eo.stream.io_timeout = plan.timeout;
  std::optional<result<>> first_end;
  eo.on_session_end = [&](loop_session&, const result<>& why) {
    if (!first_end) first_end = why;
  };
  auto server = event_server::make(std::move(listener).value(), numbered, eo);
  if (!server) {
    out->failure(setup_failure(error_name(server.error()), "the event loop could not start: " + server.error().message(),
                               exit_failed));
    return exit_failed;
  }

  stop_signals handlers;
  stop_signal = 0;
  running = server->get();
  out->listening(plan, (*server)->port());
  int status = exit_ok;
  std::string why = "stopped";
  std::size_t refused = 0;
  // run_once() rather than run(): between rounds the loop reports refused
  // connections as they happen and sees the end of a --once session.
  for (;;) {
    if (stop_signal != 0) {
      why = stop_signal == SIGINT ? "SIGINT" : "SIGTERM";
      break;
    }
    if (plan.once && first_end) {
      why = "--once";
      status = first_end->ok() ? exit_ok : exit_status_for(first_end->error(), stage::dialogue);
      break;
    }
    if (const result<> r = (*server)->run_once(std::chrono::seconds(1)); !r) {
      out->failure(setup_failure(error_name(r.error()), "the event loop failed: " + r.error().message(), exit_failed));
      why = "error";
      status = exit_failed;
      break;
    }
    const std::size_t now_refused = (*server)->stats().refused_busy;
    for (; refused < now_refused; ++refused) out->refused(refused + 1, plan.max_connections);
  }
  running = nullptr;
  out->stopped((*server)->stats(), why);
  return status;
}

}  // namespace uptls::cli
