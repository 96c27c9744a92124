#include "harness.hpp"

namespace uptls::test::smtp {

server_run::server_run(uptls::smtp::server_options opts, stream_options lines, drive_mode m)
    : opts_(std::make_shared<uptls::smtp::server_options>(std::move(opts))), lines_(lines), mode_(m) {
  auto user_trace = opts_->trace;
  opts_->trace = [this, user_trace](std::string_view d, std::string_view l) {
    {
      std::lock_guard lock(m_);
      trace_.push_back(std::string(d) + ": " + std::string(l));
    }
    if (user_trace) user_trace(d, l);
  };
  auto l = tcp_listener::listen("127.0.0.1", 0);
  if (!l) throw std::runtime_error("listen failed: " + to_string(l));
  listener_ = std::make_unique<tcp_listener>(std::move(l).value());
  port_ = listener_->port();
  thread_ = std::thread([this] {
    if (mode_ == drive_mode::non_blocking) return serve_event_loop();
    auto conn = listener_->accept(10s);
    if (!conn) return ended(conn.status());
    if (mode_ == drive_mode::blocking) return serve_blocking(std::move(conn).value());
    serve_buffer_driven(std::move(conn).value());
  });
}

server_run::~server_run() {
  if (thread_.joinable()) thread_.join();
}

void server_run::ended(result<> why) {
  std::lock_guard lock(m_);
  result_ = why;
}

void server_run::serve_blocking(std::unique_ptr<socket_transport> conn) {
  stream_options o = lines_;
  o.mode = io_mode::blocking;
  ended(uptls::smtp::serve(stream(std::move(conn), o), *opts_, [this](const uptls::smtp::message& msg) {
    std::lock_guard lock(m_);
    got_.push_back(msg);
  }));
}

void server_run::serve_buffer_driven(std::unique_ptr<socket_transport> conn) {
  auto [s, d] = driver::make(drive_mode::buffer_driven, std::move(conn), lines_);
  uptls::smtp::server_session session(std::move(s), opts_, [this](const uptls::smtp::message& msg) {
    std::lock_guard lock(m_);
    got_.push_back(msg);
  });
  ended(d.run(session.connection(), [&] { return session.resume(); }, 60s));
  d.pump_out(session.connection());  // what the session said last (a 221, a 421)
}

// The production path of a non-blocking server: the one-thread epoll server,
// serving this one connection and stopping when its session ends.
void server_run::serve_event_loop() {
  event_server_options eo;
  eo.stream = lines_;
  std::atomic<bool> over{false};
  eo.on_session_end = [this, &over](loop_session&, const result<>& why) {
    ended(why);
    over = true;
  };
  auto sink = [this](const uptls::smtp::message& msg) {
    std::lock_guard lock(m_);
    got_.push_back(msg);
  };
  auto server = event_server::make(std::move(*listener_), uptls::smtp::session_factory(opts_, sink), eo);
  if (!server) return ended(server.status());
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (!over && std::chrono::steady_clock::now() < end) {
    if (const result<> r = (*server)->run_once(100ms); !r) return ended(r);
    // No client came within the accept bound of the other modes.
    if ((*server)->stats().accepted == 0 && std::chrono::steady_clock::now() > end - 50s) {
      return ended(make_error_code(errc::timeout));
    }
  }
  if (!over) ended(make_error_code(errc::timeout));
}

result<> server_run::finish() {
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(m_);
  return result_;
}

std::vector<uptls::smtp::message> server_run::messages() {
  std::lock_guard lock(m_);
  return got_;
}

std::vector<std::string> server_run::trace() {
  std::lock_guard lock(m_);
  return trace_;
}

std::vector<std::string> server_run::received() {
  std::vector<std::string> out;
  for (const auto& t : trace()) {
    if (t.rfind("C: ", 0) == 0) out.push_back(t.substr(3));
  }
  return out;
}

}  // namespace uptls::test::smtp
