// uptls-imap-mailbox: a small read-only IMAP server (STARTTLS on the same
// connection, or implicit TLS) in front of a folder of .eml files, for real
// clients: log in, LIST, SELECT INBOX, FETCH a message, LOGOUT. uptls does the
// IMAP dialogue, the upgrade and its defences; this program only checks the one
// user's credentials and serves the files (folder_mailbox below).
//
// Usage: uptls-imap-mailbox --cert FILE --key FILE --user NAME --password-file FILE
//                           [--mail DIR] [--listen ADDR] [--port N] [--implicit]
//                           [--allow-plaintext-login] [--backend NAME] [--once]
//   --mail DIR   INBOX holds DIR's *.eml files in name order (default: two
//                built-in messages)
//   LOGIN needs TLS first unless --allow-plaintext-login.
// Prints "listening on ADDR port N ...", then each login and each session's end;
// runs until SIGINT/SIGTERM (or the end of the first session with --once).
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "uptls/imap.hpp"
#include "uptls/uptls.hpp"

namespace {

namespace imap = uptls::imap;

// The messages, read once at start-up, line ends made CRLF as IMAP wants.
std::vector<std::string> load(const std::string& dir) {
  if (dir.empty()) {
    return {"From: uptls <uptls@localhost>\r\nTo: you@localhost\r\nSubject: Welcome\r\n\r\nThe first message.\r\n",
            "From: uptls <uptls@localhost>\r\nTo: you@localhost\r\nSubject: Second\r\n\r\nThe second message.\r\n"};
  }
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".eml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string crlf;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) crlf.push_back('\r');
      crlf.push_back(raw[i]);
    }
    out.push_back(std::move(crlf));
  }
  return out;
}

// The application's whole part of an IMAP session: one read-only INBOX.
class folder_mailbox final : public imap::mailbox {
 public:
  explicit folder_mailbox(const std::vector<std::string>& messages) : messages_(messages) {}
  std::vector<std::string> folders() override { return {"INBOX"}; }
  std::optional<std::uint32_t> open_folder(std::string_view name) override {
    std::string upper(name);
    for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    if (upper != "INBOX") return std::nullopt;
    return static_cast<std::uint32_t>(messages_.size());
  }
  std::optional<std::string> message(std::uint32_t seq) override {
    if (seq == 0 || seq > messages_.size()) return std::nullopt;
    return messages_[seq - 1];
  }

 private:
  const std::vector<std::string>& messages_;
};

// Compares every octet, so that the time taken says nothing of where a guess went wrong.
bool same(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// Port 993 style: the handshake first, then the IMAP session on the TLS stream
// (which then offers no STARTTLS).
class implicit_session final : public uptls::loop_session {
 public:
  implicit_session(uptls::stream s, std::shared_ptr<const uptls::context> tls, const uptls::event_server::factory& next)
      : s_(std::move(s)), tls_(std::move(tls)), next_(next) {}
  uptls::result<> resume() override {
    if (!inner_) {
      const uptls::result<> r = s_->start_tls(tls_);
      if (!r) return r;
      inner_ = next_(std::move(*s_));
      s_.reset();
    }
    return inner_->resume();
  }
  uptls::stream& connection() noexcept override { return inner_ ? inner_->connection() : *s_; }

 private:
  std::optional<uptls::stream> s_;
  std::shared_ptr<const uptls::context> tls_;
  const uptls::event_server::factory& next_;
  std::unique_ptr<uptls::loop_session> inner_;
};

volatile std::sig_atomic_t stop_signal = 0;
extern "C" void on_signal(int) { stop_signal = 1; }

int usage() {
  std::fprintf(stderr,
               "usage: uptls-imap-mailbox --cert FILE --key FILE --user NAME --password-file FILE [--mail DIR]\n"
               "       [--listen ADDR] [--port N] [--implicit] [--allow-plaintext-login] [--backend NAME] [--once]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cert, key, user, password_file, mail, listen = "127.0.0.1", backend_name, port_text = "0";
  bool implicit = false, plaintext_login = false, once = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string* value = a == "--cert"            ? &cert
                         : a == "--key"           ? &key
                         : a == "--user"          ? &user
                         : a == "--password-file" ? &password_file
                         : a == "--mail"          ? &mail
                         : a == "--listen"        ? &listen
                         : a == "--backend"       ? &backend_name
                         : a == "--port"          ? &port_text
                                                  : nullptr;
    if (value != nullptr) {
      if (i + 1 >= argc) return usage();
      *value = argv[++i];
    } else if (a == "--implicit") {
      implicit = true;
    } else if (a == "--allow-plaintext-login") {
      plaintext_login = true;
    } else if (a == "--once") {
      once = true;
    } else {
      return usage();
    }
  }
  const int port = std::atoi(port_text.c_str());
  if (cert.empty() || key.empty() || user.empty() || password_file.empty() || port < 0 || port > 65535) return usage();
  std::string password;
  {
    std::ifstream in(password_file);
    if (!in || !std::getline(in, password) || password.empty()) {
      std::fprintf(stderr, "cannot read a password from %s\n", password_file.c_str());
      return 2;
    }
  }
  const std::vector<std::string> messages = load(mail);

  const uptls::backend* b = backend_name.empty() ? uptls::backends().front() : uptls::find_backend(backend_name);
  if (b == nullptr) return usage();
  uptls::tls_config cfg;
  cfg.cert_file = cert;
  cfg.key_file = key;
  auto ctx = b->make_context(cfg, uptls::role::server);
  if (!ctx) {
    std::fprintf(stderr, "TLS setup failed: %s\n", ctx.error().message().c_str());
    return 2;
  }
  auto opts = std::make_shared<imap::server_options>();
  opts->hostname = "uptls-imap-mailbox";
  opts->tls = implicit ? nullptr : *ctx;
  opts->require_tls = !plaintext_login;

  const imap::login_handler on_login = [&](const imap::login_request& r) -> std::unique_ptr<imap::mailbox> {
    const bool ok = same(r.user, user) && same(r.password, password);
    std::printf("login %s %s\n", ok ? "accepted" : "refused", r.over_tls ? "inside TLS" : "in plaintext");
    std::fflush(stdout);
    return ok ? std::make_unique<folder_mailbox>(messages) : nullptr;
  };
  const uptls::event_server::factory imap_sessions = imap::session_factory(opts, on_login);
  const uptls::event_server::factory sessions =
      !implicit ? imap_sessions : uptls::event_server::factory([&, tls = *ctx](uptls::stream s) {
        return std::unique_ptr<uptls::loop_session>(std::make_unique<implicit_session>(std::move(s), tls, imap_sessions));
      });

  auto listener = uptls::tcp_listener::listen(listen, static_cast<std::uint16_t>(port));
  if (!listener) {
    std::fprintf(stderr, "cannot listen on %s port %d: %s\n", listen.c_str(), port, listener.error().message().c_str());
    return 1;
  }
  uptls::event_server_options eo;
  eo.busy_reply = imap::busy_reply;
  eo.stream = imap::line_limits();
  std::atomic<bool> ended{false};
  eo.on_session_end = [&](uptls::loop_session&, const uptls::result<>& why) {
    std::printf("session ended: %s\n", uptls::to_string(why).c_str());
    std::fflush(stdout);
    ended = true;
  };
  auto server = uptls::event_server::make(std::move(listener).value(), sessions, eo);
  if (!server) {
    std::fprintf(stderr, "event loop: %s\n", server.error().message().c_str());
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::printf("listening on %s port %u (%s, %zu messages in INBOX)\n", listen.c_str(),
              static_cast<unsigned>((*server)->port()), implicit ? "implicit TLS" : "STARTTLS", messages.size());
  std::fflush(stdout);
  // run_once() rather than run(): --once ends after the first session.
  int status = 0;
  while (!(once && ended) && stop_signal == 0) {
    const uptls::result<> r = (*server)->run_once(std::chrono::milliseconds(500));
    if (!r) {
      status = 1;
      break;
    }
  }
  return status;
}
