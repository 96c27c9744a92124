#include "dovecot.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace uptls::test {

namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

// Accounts that exist on every Debian with dovecot-core: the package makes
// dovenull (login processes) and dovecot (internal processes); nobody/nogroup
// own the mail, since Dovecot refuses mail access as root.
constexpr const char* login_user = "dovenull";
constexpr const char* internal_user = "dovecot";
constexpr const char* mail_user = "nobody";
constexpr const char* mail_group = "nogroup";

std::string dovecot_program() { return have_program("dovecot") ? "dovecot" : "/usr/sbin/dovecot"; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path);
  }
  if (chmod(path.c_str(), mode) != 0) throw std::runtime_error("cannot chmod " + path);
}

// Gives a path to the mail user (only root can; Dovecot runs only as root here).
void give_to_mail_user(const std::string& path) {
  if (geteuid() != 0) return;
  const passwd* pw = getpwnam(mail_user);
  const group* gr = getgrnam(mail_group);
  if (pw == nullptr || gr == nullptr) throw std::runtime_error(std::string("no user ") + mail_user + " or group " + mail_group);
  if (chown(path.c_str(), pw->pw_uid, gr->gr_gid) != 0) throw std::runtime_error("cannot chown " + path);
}

// Connects to address:port (TCP, IPv4), bounded; -1 when nothing accepts.
int connect_bounded(const std::string& address, std::uint16_t port, std::chrono::milliseconds timeout) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) return -1;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return fd;
  if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (poll(&p, 1, static_cast<int>(timeout.count())) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
        err == 0) {
      return fd;
    }
  }
  close(fd);
  return -1;
}

// Whether something accepts on address:port and, when `greeting` is not empty,
// sends a line starting with it before `end`; stops early once `gone()` (Dovecot
// exited: whatever holds the port then is not Dovecot).
bool answers(const std::string& address, std::uint16_t port, const std::string& greeting, clock::time_point end,
             const std::function<bool()>& gone) {
  const auto left = [&] {
    return std::max<long long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(end - clock::now()).count());
  };
  const int fd = connect_bounded(address, port, std::chrono::milliseconds(std::min<long long>(left(), 500)));
  if (fd < 0) return false;
  bool ok = greeting.empty();
  std::string got;
  while (!ok && left() > 0 && !gone()) {
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::min<long long>(left(), 100)));
    if (r == 0) continue;
    if (r < 0) break;
    char buf[1024];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
    for (std::size_t start = 0, nl; (nl = got.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (got.compare(start, greeting.size(), greeting) == 0) ok = true;
    }
  }
  close(fd);
  return ok;
}

// Six different free ports.
dovecot::port_set pick_ports() {
  std::set<std::uint16_t> taken;
  const auto next = [&] {
    for (;;) {
      const std::uint16_t p = free_port();
      if (taken.insert(p).second) return p;
    }
  };
  dovecot::port_set s;
  s.imap = next();
  s.imaps = next();
  s.pop3 = next();
  s.pop3s = next();
  s.lmtp = next();
  s.sieve = next();
  return s;
}

}  // namespace

dovecot::dovecot(options o) : opts_(std::move(o)) {
  std::string tmpl = (fs::temp_directory_path() / "uptls-dovecot-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("cannot make a folder like " + tmpl);
  folder_ = tmpl;
  try {
    // Dovecot's unprivileged processes must reach the passwd-file and the home.
    if (chmod(folder_.c_str(), 0755) != 0) throw std::runtime_error("cannot chmod " + folder_);
    const std::string home = folder_ + "/home";
    for (const std::string& d : {home, home + "/" + user_, maildir(), maildir() + "/new", maildir() + "/cur",
                                 maildir() + "/tmp"}) {
      if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) throw std::runtime_error("cannot make " + d);
      if (d != home) give_to_mail_user(d);
    }
    if (chmod(home.c_str(), 0755) != 0) throw std::runtime_error("cannot chmod " + home);
    // passwd-file: user:password; {PLAIN} so that every mechanism can check it.
    // Read by the auth process, which runs as the internal user.
    const std::string users = folder_ + "/users";
    write_file(users, user_ + ":{PLAIN}" + password_ + "\n", 0640);
    const group* internal = getgrnam(internal_user);
    if (geteuid() == 0 && (internal == nullptr || chown(users.c_str(), 0, internal->gr_gid) != 0)) {
      throw std::runtime_error(std::string("cannot give ") + users + " to the group " + internal_user);
    }
    write_config();
  } catch (...) {
    std::error_code ec;
    fs::remove_all(folder_, ec);
    throw;
  }
}

dovecot::~dovecot() {
  stop();
  std::error_code ec;
  fs::remove_all(folder_, ec);
}

void dovecot::write_config() const {
  const bool no_plaintext = opts_.ssl_required || opts_.disable_plaintext_auth;
  std::ostringstream c;
  c << "# Written by the uptls test harness (tests/support/dovecot.cpp); self-contained:\n"
       "# nothing from /etc/dovecot.\n"
       "base_dir = " << folder_ << "/run\n"
       "state_dir = " << folder_ << "/state\n"
       "instance_name = " << fs::path(folder_).filename().string() << "\n"
       "log_path = " << log_file() << "\n"
       "protocols = imap pop3 lmtp sieve\n"
       "listen = " << opts_.address << "\n"
       "hostname = localhost\n"
       "default_login_user = " << login_user << "\n"
       "default_internal_user = " << internal_user << "\n"
       "\n"
       "ssl = " << (opts_.ssl_required ? "required" : "yes") << "\n"
       "disable_plaintext_auth = " << (no_plaintext ? "yes" : "no") << "\n"
       "ssl_cert = <" << cert(opts_.leaf + ".pem") << "\n"
       "ssl_key = <" << cert(opts_.leaf + ".key") << "\n";
  // Debian's dovecot-core ships DH parameters; without them no DHE suite is offered.
  if (access("/usr/share/dovecot/dh.pem", R_OK) == 0) c << "ssl_dh = </usr/share/dovecot/dh.pem\n";
  if (!opts_.ssl_min_protocol.empty()) c << "ssl_min_protocol = " << opts_.ssl_min_protocol << "\n";
  if (!opts_.ssl_cipher_list.empty()) c << "ssl_cipher_list = " << opts_.ssl_cipher_list << "\n";
  if (!opts_.ssl_cipher_suites.empty()) c << "ssl_cipher_suites = " << opts_.ssl_cipher_suites << "\n";
  if (opts_.verbose_ssl) c << "verbose_ssl = yes\n";
  c << "\n"
       "auth_mechanisms = plain login\n"
       "auth_verbose = yes\n"
       "# A refused login answers at once (the default waits 2 s).\n"
       "auth_failure_delay = 0\n"
       "# The user part only: IMAP logs in as alice, LMTP delivers to alice@localhost.\n"
       "passdb {\n"
       "  driver = passwd-file\n"
       "  args = scheme=PLAIN username_format=%n " << folder_ << "/users\n"
       "}\n"
       "userdb {\n"
       "  driver = static\n"
       "  args = uid=" << mail_user << " gid=" << mail_group << " home=" << folder_ << "/home/%n\n"
       "}\n"
       "mail_location = maildir:~/Maildir\n"
       "# Tests may open many connections as one user from one address.\n"
       "mail_max_userip_connections = 100\n"
       "\n"
       "service imap-login {\n"
       "  inet_listener imap {\n"
       "    port = " << ports_.imap << "\n"
       "  }\n"
       "  inet_listener imaps {\n"
       "    port = " << ports_.imaps << "\n"
       "    ssl = yes\n"
       "  }\n"
       "}\n"
       "service pop3-login {\n"
       "  inet_listener pop3 {\n"
       "    port = " << ports_.pop3 << "\n"
       "  }\n"
       "  inet_listener pop3s {\n"
       "    port = " << ports_.pop3s << "\n"
       "    ssl = yes\n"
       "  }\n"
       "}\n"
       "# protocols must name lmtp, or this listener is ignored.\n"
       "service lmtp {\n"
       "  inet_listener lmtp {\n"
       "    port = " << ports_.lmtp << "\n"
       "  }\n"
       "}\n"
       "service managesieve-login {\n"
       "  inet_listener sieve {\n"
       "    port = " << ports_.sieve << "\n"
       "  }\n"
       "}\n"
       "plugin {\n"
       "  sieve = file:~/sieve;active=~/.dovecot.sieve\n"
       "}\n";
  if (!opts_.extra_config.empty()) c << "\n# options::extra_config\n" << opts_.extra_config << "\n";
  write_file(config_file(), c.str(), 0644);
}

std::string dovecot::add_to_inbox(const std::string& text) {
  // Maildir: write in tmp/, then rename into new/ so that no reader sees half a file.
  const std::string name = std::to_string(std::time(nullptr)) + ".M" + std::to_string(++seeded_count_) + "P" +
                           std::to_string(getpid()) + ".uptls-seeded";
  const std::string tmp = maildir() + "/tmp/" + name;
  const std::string path = maildir() + "/new/" + name;
  write_file(tmp, text, 0600);
  give_to_mail_user(tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
  seeded_.insert(name);
  return path;
}

std::string dovecot::log() const { return read_file(log_file()); }

bool dovecot::running() const { return process_ != nullptr; }

pid_t dovecot::pid() const { return process_ ? process_->pid() : -1; }

// The error text of a failed start: why, Dovecot's own output and its log.
std::string dovecot::failure(const std::string& why, const std::string& output) const {
  std::string text = "Dovecot (" + dovecot_program() + " -F -c " + config_file() + ") " + why;
  text += "\n--- its output ---\n" + (output.empty() ? std::string("(none)\n") : output);
  const std::string l = log();
  text += "--- its log, " + log_file() + " ---\n" + (l.empty() ? std::string("(empty)\n") : l);
  return text;
}

void dovecot::start() {
  if (running()) return;
  if (geteuid() != 0) {
    throw std::runtime_error("the Dovecot harness starts Dovecot as root (it then switches to " +
                             std::string(login_user) + ", " + internal_user + " and " + mail_user +
                             " itself): run the tests as root");
  }
  constexpr int attempts = 3;
  for (int attempt = 1;; ++attempt) {
    ports_ = pick_ports();
    write_config();
    const std::size_t log_before = log().size();
    // Bound: should this test process die unannounced, Dovecot gets SIGTERM and
    // takes its own processes (and the ports) with it.
    process_ = child::spawn_bound({dovecot_program(), "-F", "-c", config_file()});
    const auto end = clock::now() + opts_.start_timeout;
    // The plaintext ports greet once the login process and auth are up.
    struct probe {
      std::uint16_t port;
      const char* greeting;
      bool ok = false;
    };
    std::vector<probe> probes = {{ports_.imap, "* OK"}, {ports_.imaps, ""}, {ports_.pop3, "+OK"},
                                 {ports_.pop3s, ""},     {ports_.lmtp, "220 "}, {ports_.sieve, "OK"}};
    bool exited = false;
    while (clock::now() < end) {
      if (process_->wait(std::chrono::milliseconds(0)) >= 0) {
        exited = true;
        break;
      }
      const auto gone = [this] { return process_->wait(std::chrono::milliseconds(0)) >= 0; };
      bool all = true;
      for (auto& p : probes) {
        if (!p.ok) p.ok = answers(opts_.address, p.port, p.greeting, end, gone);
        all = all && p.ok;
      }
      if (all) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::string out = process_->read_all(std::chrono::milliseconds(300));
    if (exited) {
      const std::string said = out + log().substr(std::min(log_before, log().size()));
      const bool port_taken = said.find("Address already in use") != std::string::npos;
      stop();  // reaped already; ends any process it left
      if (port_taken && attempt < attempts) continue;  // a port was taken meanwhile: new ones
      throw std::runtime_error(failure("exited while starting (attempt " + std::to_string(attempt) + " of " +
                                       std::to_string(attempts) + ")", out));
    }
    stop();
    std::string silent;
    for (const auto& p : probes) {
      if (p.ok) continue;
      silent += " " + std::to_string(p.port);
      if (p.greeting[0] != '\0') silent += std::string(" (greeting \"") + p.greeting + "\")";
    }
    throw std::runtime_error(failure("did not answer within " + std::to_string(opts_.start_timeout.count()) +
                                         " ms on " + opts_.address + ":" + silent,
                                     out));
  }
}

void dovecot::stop() {
  if (!process_) return;
  const pid_t master = process_->pid();
  process_->stop();  // SIGTERM to the master's process group, SIGKILL after 2 s, reaped
  // Dovecot's own processes share that group; any still there (never reaped by
  // us, reparented when the master went) are ended too.
  kill(-master, SIGKILL);
  process_.reset();
}

std::vector<dovecot::message> dovecot::inbox() const {
  std::vector<message> all;
  for (const char* sub : {"new", "cur"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(maildir() + "/" + sub, ec)) {
      if (!e.is_regular_file()) continue;
      all.push_back({e.path().string(), read_file(e.path().string())});
    }
  }
  std::sort(all.begin(), all.end(), [](const message& a, const message& b) { return a.path < b.path; });
  return all;
}

std::vector<dovecot::message> dovecot::delivered() const {
  std::vector<message> out;
  for (auto& m : inbox()) {
    const std::string name = fs::path(m.path).filename().string();
    if (seeded_.count(name.substr(0, name.find(':'))) == 0) out.push_back(std::move(m));
  }
  return out;
}

std::vector<dovecot::message> dovecot::wait_for_delivered(std::size_t n, std::chrono::milliseconds timeout) const {
  const auto end = clock::now() + timeout;
  for (;;) {
    auto got = delivered();
    if (got.size() >= n || clock::now() >= end) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace uptls::test
