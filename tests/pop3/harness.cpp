#include "pop3_harness.hpp"

namespace uptls::test::pop3 {

server_run::server_run(uptls::pop3::server_options opts, stream_options lines, drive_mode m)
    : opts_(std::make_shared<uptls::pop3::server_options>(std::move(opts))), lines_(lines), mode_(m) {
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
    const auto drops = drops_of(log_);
    if (mode_ == drive_mode::non_blocking) {
      // The production path of a non-blocking server: the one-thread epoll server.
      event_server_options eo;
      eo.stream = lines_;
      std::atomic<bool> over{false};
      eo.on_session_end = [this, &over](loop_session&, const result<>& why) {
        ended(why);
        over = true;
      };
      auto server = event_server::make(std::move(*listener_), uptls::pop3::session_factory(opts_, drops), eo);
      if (!server) return ended(server.status());
      const auto end = std::chrono::steady_clock::now() + 30s;
      while (!over && std::chrono::steady_clock::now() < end) {
        if (const result<> r = (*server)->run_once(100ms); !r) return ended(r);
        if ((*server)->stats().accepted == 0 && std::chrono::steady_clock::now() > end - 20s) {
          return ended(make_error_code(errc::timeout));  // no client came
        }
      }
      if (!over) ended(make_error_code(errc::timeout));
      return;
    }
    auto conn = listener_->accept(10s);
    if (!conn) return ended(conn.status());
    if (mode_ == drive_mode::blocking) {
      stream_options o = lines_;
      o.mode = io_mode::blocking;
      return ended(uptls::pop3::serve(stream(std::move(conn).value(), o), *opts_, drops));
    }
    auto [s, d] = driver::make(drive_mode::buffer_driven, std::move(conn).value(), lines_);
    uptls::pop3::server_session session(std::move(s), opts_, drops);
    ended(d.run(session.connection(), [&] { return session.resume(); }, 30s));
    d.pump_out(session.connection());
  });
}

server_run::~server_run() {
  if (thread_.joinable()) thread_.join();
}

void server_run::ended(result<> why) {
  std::lock_guard lock(m_);
  result_ = why;
}

result<> server_run::finish() {
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(m_);
  return result_;
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

}  // namespace uptls::test::pop3
