#include "harness.hpp"

namespace uptls::test::imap {
namespace {

// The one mailbox of the test store: INBOX with inbox_messages().
class test_mailbox final : public uptls::imap::mailbox {
 public:
  std::vector<std::string> folders() override { return {"INBOX"}; }
  std::optional<std::uint32_t> open_folder(std::string_view name) override {
    if (name.size() != 5 || (name != "INBOX" && name != "inbox" && name != "Inbox")) return std::nullopt;
    return static_cast<std::uint32_t>(inbox_messages().size());
  }
  std::optional<std::string> message(std::uint32_t seq) override {
    if (seq == 0 || seq > inbox_messages().size()) return std::nullopt;
    return inbox_messages()[seq - 1];
  }
};

}  // namespace

uptls::imap::login_handler mail_store::handler() {
  return [this](const uptls::imap::login_request& req) -> std::unique_ptr<uptls::imap::mailbox> {
    {
      std::lock_guard lock(m_);
      logins_.push_back({std::string(req.user), req.over_tls});
    }
    const bool known = (req.user == user && req.password == password) ||
                       (req.user == plain_user && req.password == plain_password);
    if (!known) return nullptr;
    return std::make_unique<test_mailbox>();
  };
}

std::vector<login_seen> mail_store::logins() {
  std::lock_guard lock(m_);
  return logins_;
}

peer_thread::peer_thread(body_fn body) {
  auto l = tcp_listener::listen("127.0.0.1", 0);
  if (!l) throw std::runtime_error("listen failed: " + to_string(l));
  listener_ = std::make_unique<tcp_listener>(std::move(l).value());
  port_ = listener_->port();
  thread_ = std::thread([this, body = std::move(body)] {
    auto conn = listener_->accept(10s);
    if (conn) body(std::move(conn).value());
  });
}

server_run::server_run(uptls::imap::server_options opts, stream_options lines, drive_mode m)
    : opts_(std::make_shared<uptls::imap::server_options>(std::move(opts))), lines_(lines), mode_(m) {
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
  ended(uptls::imap::serve(stream(std::move(conn), o), *opts_, store_.handler()));
}

void server_run::serve_buffer_driven(std::unique_ptr<socket_transport> conn) {
  auto [s, d] = driver::make(drive_mode::buffer_driven, std::move(conn), lines_);
  uptls::imap::server_session session(std::move(s), opts_, store_.handler());
  ended(d.run(session.connection(), [&] { return session.resume(); }, 60s));
  d.pump_out(session.connection());
}

void server_run::serve_event_loop() {
  event_server_options eo;
  eo.stream = lines_;
  std::atomic<bool> over{false};
  eo.on_session_end = [this, &over](loop_session&, const result<>& why) {
    ended(why);
    over = true;
  };
  auto server = event_server::make(std::move(*listener_), uptls::imap::session_factory(opts_, store_.handler()), eo);
  if (!server) return ended(server.status());
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (!over && std::chrono::steady_clock::now() < end) {
    if (const result<> r = (*server)->run_once(100ms); !r) return ended(r);
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

std::string drain(transport& t, bool* closed) {
  std::string all;
  std::byte buf[4096];
  if (closed != nullptr) *closed = false;
  for (int i = 0; i < 10000; ++i) {
    const result<std::size_t> r = read_some_within(t, buf, 5s);
    if (r.ok() && *r == 0 && closed != nullptr) *closed = true;
    if (!r.ok() || *r == 0) break;
    all.append(reinterpret_cast<const char*>(buf), *r);
  }
  return all;
}

std::string read_until_tagged(stream& s, const std::string& tag) {
  std::string all;
  std::string line;
  for (int i = 0; i < 200; ++i) {
    if (const std::error_code ec = read_line(s, line)) return all + "ERR " + ec.message();
    all += line;
    if (line.rfind(tag + " ", 0) == 0) return all;
    all += "\n";
  }
  return all + "ERR too many lines";
}

std::string ask(stream& s, const std::string& tag, const std::string& command) {
  if (const result<> w = s.write(tag + " " + command + "\r\n"); !w) return "ERR " + w.error().message();
  return read_until_tagged(s, tag);
}

std::string last_line(const std::string& reply) {
  const std::size_t nl = reply.rfind('\n');
  return nl == std::string::npos ? reply : reply.substr(nl + 1);
}

std::shared_ptr<const context> make_ctx(const backend& b, const tls_config& cfg, role side) {
  auto made = b.make_context(cfg, side);
  if (!made) throw std::runtime_error("make_context failed: " + to_string(made));
  return std::move(made).value();
}

}  // namespace uptls::test::imap
