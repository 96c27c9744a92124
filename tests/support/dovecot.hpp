// A real Dovecot (Debian 12: 2.3.19) for the IMAP, POP3, LMTP and ManageSieve
// tests. Each object has a fresh temporary folder with its own dovecot.conf
// (nothing included from /etc/dovecot), base_dir, state_dir, log file, one user
// in a passwd-file and that user's Maildir. Dovecot runs in the foreground
// (`dovecot -F -c CONF`, started as root: it switches to dovenull, dovecot and
// nobody itself), listens on one loopback address only, and is stopped by its
// PID (SIGTERM to its process group, then SIGKILL) before the folder is removed.
//
//   uptls::test::dovecot d;                 // folder, config, user, Maildir
//   d.add_to_inbox("Subject: hi\r\n\r\nbody\r\n");
//   d.start();                               // throws, with the log, on failure
//   ... connect to d.address():d.ports().imap ...
//   EXPECT_EQ(d.delivered().size(), 1u);     // what LMTP delivered
//
// Secured connections: Dovecot treats a connection whose remote address equals
// its local address as secure. From 127.0.0.1 to 127.0.0.1 it offers AUTH=PLAIN
// before STARTTLS and accepts a plaintext LOGIN even with ssl = required. To be
// seen as a remote client, connect from another loopback address (bind the
// client to dovecot::remote_source, 127.0.0.2), or set options::address to
// "127.0.0.2" so that clients using the default source (127.0.0.1) count as
// remote; the test certificate names localhost and 127.0.0.1, so such clients
// verify the name "localhost".
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "support.hpp"

namespace uptls::test {

// How a uptls::test::dovecot is set up (also named dovecot::options).
struct dovecot_options {
  // false: ssl = yes, TLS offered (STARTTLS, and the imaps/pop3s ports).
  // true:  ssl = required, no authentication at all before TLS.
  bool ssl_required = false;
  // disable_plaintext_auth: no plaintext LOGIN/USER/AUTH before TLS (IMAP
  // announces LOGINDISABLED). Always yes with ssl_required.
  bool disable_plaintext_auth = true;
  // TLS restrictions for fallback tests; empty keeps Dovecot's default.
  std::string ssl_min_protocol;   // "TLSv1", "TLSv1.1", "TLSv1.2" (default), "TLSv1.3"
  std::string ssl_cipher_list;    // TLS 1.2 and older, OpenSSL syntax; legacy needs "...:@SECLEVEL=0"
  std::string ssl_cipher_suites;  // TLS 1.3, OpenSSL syntax
  // The leaf of the test PKI: cert(leaf + ".pem") and cert(leaf + ".key").
  std::string leaf = "server-rsa";
  // The loopback address every listener binds (see "Secured connections" above).
  std::string address = "127.0.0.1";
  // Dovecot logs each TLS handshake step and error (verbose_ssl = yes).
  bool verbose_ssl = false;
  // Appended to dovecot.conf as it is; later settings override earlier ones.
  std::string extra_config;
  // How long start() waits for every port to answer.
  std::chrono::milliseconds start_timeout{20'000};
};

class dovecot {
 public:
  using options = dovecot_options;

  struct port_set {
    std::uint16_t imap = 0;   // IMAP with STARTTLS
    std::uint16_t imaps = 0;  // IMAP over implicit TLS
    std::uint16_t pop3 = 0;   // POP3 with STLS
    std::uint16_t pop3s = 0;  // POP3 over implicit TLS
    std::uint16_t lmtp = 0;   // LMTP over TCP, with STARTTLS
    std::uint16_t sieve = 0;  // ManageSieve with STARTTLS
  };

  struct message {
    std::string path;  // the file, in the Maildir's new/ or cur/
    std::string text;  // its contents, as stored (CRLF or LF as it came)
  };

  // A loopback source address other than 127.0.0.1, for clients that must not
  // count as local (see "Secured connections" above).
  static constexpr const char* remote_source = "127.0.0.2";

  // Makes the folder, dovecot.conf, the passwd-file and an empty Maildir. Nothing
  // runs until start(). Throws std::runtime_error when the folder cannot be made.
  explicit dovecot(options o = {});
  // Stops Dovecot (by PID) and removes the folder.
  ~dovecot();
  dovecot(const dovecot&) = delete;
  dovecot& operator=(const dovecot&) = delete;

  // Writes a message straight into INBOX (a file in the Maildir's new/, owned by
  // the mail user); its text is stored as given (use CRLF line ends). Best before
  // start(); Dovecot also finds it later, at the next mailbox sync. Returns the path.
  std::string add_to_inbox(const std::string& text);

  // Starts Dovecot on free ports (new ones, up to three times, when one was taken
  // meanwhile) and returns once every port accepts and the plaintext ones have
  // greeted. Throws std::runtime_error naming the cause, with Dovecot's output
  // and the contents of its log file. Dovecot gets SIGTERM when the calling thread
  // ends (child::spawn_bound): call it from a thread that outlives the server.
  void start();
  // Stops Dovecot by PID (also done by the destructor); start() may follow.
  void stop();
  bool running() const;
  pid_t pid() const;  // of the Dovecot master, -1 when not running

  // Every message in INBOX (new/ and cur/: a session that opens INBOX moves new/
  // files to cur/ and appends flags to their names), sorted by path.
  std::vector<message> inbox() const;
  // The messages in INBOX that add_to_inbox() did not put there: LMTP deliveries.
  std::vector<message> delivered() const;
  // Polls delivered() until it holds at least n messages, at most `timeout`.
  std::vector<message> wait_for_delivered(std::size_t n, std::chrono::milliseconds timeout) const;

  const port_set& ports() const { return ports_; }
  const std::string& address() const { return opts_.address; }
  const options& settings() const { return opts_; }
  const std::string& user() const { return user_; }          // "alice"
  const std::string& password() const { return password_; }  // plaintext, for LOGIN/USER/PASS/AUTH PLAIN
  std::string mail_address() const { return user_ + "@localhost"; }  // an LMTP recipient
  const std::string& folder() const { return folder_; }      // the temporary folder
  std::string config_file() const { return folder_ + "/dovecot.conf"; }
  std::string log_file() const { return folder_ + "/dovecot.log"; }
  std::string maildir() const { return folder_ + "/home/" + user_ + "/Maildir"; }
  // The log file's contents (empty when there is none yet).
  std::string log() const;

 private:
  void write_config() const;
  std::string failure(const std::string& why, const std::string& output) const;

  options opts_;
  std::string folder_;
  std::string user_ = "alice";
  std::string password_ = "alice-Secret-4711";
  port_set ports_;
  std::set<std::string> seeded_;  // Maildir unique names (before ':') of add_to_inbox() files
  unsigned seeded_count_ = 0;
  std::unique_ptr<child> process_;
};

}  // namespace uptls::test
