// uptls-example-pop3: a small read-only POP3 server with STLS that real mail
// clients (Thunderbird, mutt, fetchmail, curl, Python's poplib) can use. It
// serves the .eml files of a folder (or two built-in messages) to one user,
// requires TLS before any login, and never deletes anything.
//
// Usage: uptls-example-pop3 --cert FILE --key FILE [--mail DIR] [--user NAME]
//          [--password PW] [--listen ADDR] [--port N] [--backend NAME] [--once]
// It prints "listening on ADDR port N"; --once ends after the first session.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "uptls/pop3.hpp"
#include "uptls/uptls.hpp"

namespace {

namespace pop3 = uptls::pop3;

struct args {
  std::string cert, key, mail, listen = "127.0.0.1", backend;
  std::string user = "demo", password = "demo-password";
  std::uint16_t port = 0;
  bool once = false;
};

bool parse(int argc, char** argv, args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--once") {
      a.once = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    if (k == "--cert") a.cert = v;
    else if (k == "--key") a.key = v;
    else if (k == "--mail") a.mail = v;
    else if (k == "--user") a.user = v;
    else if (k == "--password") a.password = v;
    else if (k == "--listen") a.listen = v;
    else if (k == "--backend") a.backend = v;
    else if (k == "--port") {
      if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) > 65535) return false;
      a.port = static_cast<std::uint16_t>(std::stoul(v));
    }
    else return false;
  }
  return !a.cert.empty() && !a.key.empty();
}

// The messages: every .eml file of the folder in name order, or two built-in ones.
std::vector<std::string> load(const std::string& dir) {
  if (dir.empty()) {
    return {"From: uptls <postmaster@localhost>\r\nSubject: Welcome\r\n\r\nThis message came over POP3 inside TLS.\r\n",
            "From: uptls <postmaster@localhost>\r\nSubject: Dots\r\n\r\n.A line that starts with a dot.\r\n"};
  }
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".eml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    out.push_back(text.str());
  }
  return out;
}

// The one mailbox, read-only: what the application behind the hand-off is.
class folder_drop final : public pop3::maildrop {
 public:
  folder_drop(const args& a, const std::vector<std::string>& messages) : a_(a), messages_(messages) {}
  bool login(const pop3::login_request& who) override {
    std::printf("login as %.*s %s\n", static_cast<int>(who.user.size()), who.user.data(),
                who.over_tls ? "inside TLS" : "without TLS");
    return who.user == a_.user && who.password == a_.password;
  }
  std::size_t count() const override { return messages_.size(); }
  std::size_t size(std::size_t n) const override { return pop3::wire_size(messages_[n - 1]); }
  std::string retrieve(std::size_t n) override { return messages_[n - 1]; }

 private:
  const args& a_;
  const std::vector<std::string>& messages_;
};

uptls::event_server* running = nullptr;
extern "C" void on_signal(int) {
  if (running != nullptr) running->stop();
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: uptls-example-pop3 --cert FILE --key FILE [--mail DIR] [--user NAME] [--password PW]\n"
                 "                          [--listen ADDR] [--port N] [--backend NAME] [--once]\n");
    return 2;
  }
  const uptls::backend* lib = a.backend.empty() ? uptls::backends().front() : uptls::find_backend(a.backend);
  if (lib == nullptr) {
    std::fprintf(stderr, "no backend '%s' in this build\n", a.backend.c_str());
    return 2;
  }
  std::vector<std::string> messages;
  try {
    messages = load(a.mail);
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "cannot read --mail %s: %s\n", a.mail.c_str(), e.what());
    return 2;
  }
  uptls::tls_config cfg;
  cfg.cert_file = a.cert;
  cfg.key_file = a.key;
  auto ctx = lib->make_context(cfg, uptls::role::server);
  if (!ctx) {
    std::fprintf(stderr, "cannot use the certificate: %s\n", to_string(ctx).c_str());
    return 1;
  }
  auto opts = std::make_shared<pop3::server_options>();
  opts->tls = std::move(ctx).value();
  opts->require_tls = true;  // no password ever crosses the network in the clear
  auto listener = uptls::tcp_listener::listen(a.listen, a.port);
  if (!listener) {
    std::fprintf(stderr, "cannot listen: %s\n", to_string(listener).c_str());
    return 1;
  }
  bool ended = false;
  uptls::event_server_options eo;
  eo.busy_reply = pop3::busy_reply;
  eo.stream = pop3::line_limits();
  eo.on_session_end = [&](uptls::loop_session&, const uptls::result<>& why) {
    std::printf("session ended: %s\n", uptls::to_string(why).c_str());
    std::fflush(stdout);
    ended = true;
  };
  auto server = uptls::event_server::make(
      std::move(listener).value(),
      pop3::session_factory(opts, [&] { return std::make_unique<folder_drop>(a, messages); }), eo);
  if (!server) {
    std::fprintf(stderr, "cannot start: %s\n", to_string(server).c_str());
    return 1;
  }
  running = server->get();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::printf("listening on %s port %u (%zu messages for %s, %s)\n", a.listen.c_str(), (*server)->port(),
              messages.size(), a.user.c_str(), std::string(lib->name()).c_str());
  std::fflush(stdout);
  if (!a.once) return (*server)->run().ok() ? 0 : 1;
  while (!ended) {
    if (!(*server)->run_once(std::chrono::milliseconds(200)).ok()) return 1;
  }
  return 0;
}
