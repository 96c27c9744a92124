// bench-smtp-server-raw-gnutls: the hand-written baseline on GnuTLS, for comparing
// uptls's GnuTLS backend like for like. The server is raw_server.hpp's; this is
// GnuTLS's part of it, with the TLS parameters uptls's backend uses
// (backends/gnutls): the strict profile's priority string with server precedence,
// the leaf of --cert, session tickets with a key made at start-up, and a TLS 1.3
// server's two tickets sent once the handshake is complete
// (GNUTLS_NO_AUTO_SEND_TICKET, then gnutls_session_ticket_send). GnuTLS reads and
// writes the socket itself (gnutls_transport_set_int); GNUTLS_E_AGAIN with
// gnutls_record_get_direction says which way the connection waits.
#include <gnutls/gnutls.h>

#include "raw_server.hpp"

namespace conc::raw {
namespace {

// The strict profile as backends/gnutls/priority.cpp spells it for a server that
// may negotiate TLS 1.2 and 1.3.
constexpr const char* priority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
    ":-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA"
    ":-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
    ":-MAC-ALL:+AEAD"
    ":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1"
    ":%SERVER_PRECEDENCE";

// As many TLS 1.3 tickets as uptls's backend (and OpenSSL) sends.
constexpr unsigned tickets_per_handshake = 2;

// Calls after which GnuTLS asks to be called again without waiting for the
// socket (an interrupted call, a warning alert): a bound, not an expectation.
constexpr int max_retries = 64;

class gnutls_tls {
 public:
  static constexpr std::string_view name = "raw-gnutls";
  static constexpr std::string_view program = "bench-smtp-server-raw-gnutls";
  struct session {
    gnutls_session_t s = nullptr;
    bool tickets_due = false;  // the handshake is done, the TLS 1.3 tickets are not
  };

  explicit gnutls_tls(const server_options& o) {
    if (o.release_buffers) {
      throw std::runtime_error("--release-buffers: GnuTLS has no switch to free idle record buffers");
    }
    check(gnutls_certificate_allocate_credentials(&creds_), "gnutls_certificate_allocate_credentials");
    const std::string cert = o.certs + "/" + o.leaf + ".pem";
    const std::string key = o.certs + "/" + o.leaf + ".key";
    check(gnutls_certificate_set_x509_key_file2(creds_, cert.c_str(), key.c_str(), GNUTLS_X509_FMT_PEM, nullptr, 0),
          "certificate " + cert);
    const char* at = nullptr;
    if (const int r = gnutls_priority_init2(&priority_, priority, &at, 0); r < 0) {
      throw std::runtime_error(std::string("priority string at '") + (at != nullptr ? at : "?") +
                               "': " + gnutls_strerror(r));
    }
    check(gnutls_session_ticket_key_generate(&ticket_key_), "gnutls_session_ticket_key_generate");
  }

  ~gnutls_tls() {
    if (ticket_key_.data != nullptr) {
      gnutls_memset(ticket_key_.data, 0, ticket_key_.size);
      gnutls_free(ticket_key_.data);
    }
    if (priority_ != nullptr) gnutls_priority_deinit(priority_);
    if (creds_ != nullptr) gnutls_certificate_free_credentials(creds_);
  }
  gnutls_tls(const gnutls_tls&) = delete;
  gnutls_tls& operator=(const gnutls_tls&) = delete;

  bool begin(session& t, int fd) {
    int r = gnutls_init(&t.s, GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET);
    if (r < 0) {
      t.s = nullptr;
      return failed(r, "gnutls_init");
    }
    if ((r = gnutls_priority_set(t.s, priority_)) < 0) return failed(r, "gnutls_priority_set");
    if ((r = gnutls_credentials_set(t.s, GNUTLS_CRD_CERTIFICATE, creds_)) < 0) return failed(r, "gnutls_credentials_set");
    if ((r = gnutls_session_ticket_enable_server(t.s, &ticket_key_)) < 0) return failed(r, "tickets");
    gnutls_transport_set_int(t.s, fd);
    return true;
  }

  io handshake(session& t) {
    if (!t.tickets_due) {
      int r = 0;
      for (int i = 0;; ++i) {
        r = gnutls_handshake(t.s);
        if (r == GNUTLS_E_SUCCESS) break;
        if (r == GNUTLS_E_AGAIN) return direction(t);
        if (gnutls_error_is_fatal(r) == 0 && i < max_retries) continue;  // interrupted, a warning alert
        return error(r, "gnutls_handshake");
      }
      t.tickets_due = gnutls_protocol_get_version(t.s) == GNUTLS_TLS1_3;
    }
    for (int i = 0; t.tickets_due; ++i) {
      const int r = gnutls_session_ticket_send(t.s, tickets_per_handshake, 0);
      if (r == GNUTLS_E_SUCCESS) {
        t.tickets_due = false;
      } else if (r == GNUTLS_E_AGAIN) {
        return direction(t);
      } else if (r != GNUTLS_E_INTERRUPTED || i >= max_retries) {
        return error(r, "gnutls_session_ticket_send");
      }
    }
    return io::ok;
  }

  io read(session& t, char* at, std::size_t room, std::size_t& n) {
    for (int i = 0;; ++i) {
      const ssize_t r = gnutls_record_recv(t.s, at, room);
      if (r > 0) {
        n = static_cast<std::size_t>(r);
        return io::ok;
      }
      if (r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION) return io::eof;  // close_notify, or gone without it
      if (r == GNUTLS_E_AGAIN) return direction(t);
      if (r == GNUTLS_E_PULL_ERROR && (errno == ECONNRESET || errno == EPIPE)) return io::eof;
      if (gnutls_error_is_fatal(static_cast<int>(r)) == 0 && i < max_retries) continue;
      return error(static_cast<int>(r), "gnutls_record_recv");
    }
  }

  // After GNUTLS_E_AGAIN GnuTLS holds the record it made; the call again with the
  // same bytes sends it and reports them.
  io write(session& t, const char* p, std::size_t len, std::size_t& n) {
    for (int i = 0;; ++i) {
      const ssize_t r = gnutls_record_send(t.s, p, len);
      if (r >= 0) {
        n = static_cast<std::size_t>(r);
        return io::ok;
      }
      if (r == GNUTLS_E_AGAIN) return direction(t);
      if (r == GNUTLS_E_INTERRUPTED && i < max_retries) continue;
      if (r == GNUTLS_E_PUSH_ERROR && (errno == ECONNRESET || errno == EPIPE)) return io::eof;
      return error(static_cast<int>(r), "gnutls_record_send");
    }
  }

  void end(session& t, bool close_notify) {
    if (t.s == nullptr) return;
    if (close_notify) (void)gnutls_bye(t.s, GNUTLS_SHUT_WR);
    gnutls_deinit(t.s);
    t = session{};
  }

  std::string last_error() { return std::move(why_); }

 private:
  static void check(int r, const std::string& what) {
    if (r < 0) throw std::runtime_error(what + ": " + gnutls_strerror(r));
  }

  // GNUTLS_E_AGAIN: was GnuTLS reading (0) or writing (1) when the socket said EAGAIN?
  static io direction(const session& t) {
    return gnutls_record_get_direction(t.s) == 0 ? io::want_read : io::want_write;
  }

  io error(int r, const char* call) {
    why_ = std::string(call) + ": " + gnutls_strerror(r);
    if ((r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_PUSH_ERROR) && errno != 0) why_ += std::string(" (") + std::strerror(errno) + ")";
    return io::error;
  }

  bool failed(int r, const char* call) {
    (void)error(r, call);
    return false;
  }

  gnutls_certificate_credentials_t creds_ = nullptr;
  gnutls_priority_t priority_ = nullptr;
  gnutls_datum_t ticket_key_{nullptr, 0};
  std::string why_;
};

}  // namespace
}  // namespace conc::raw

int main(int argc, char** argv) { return conc::raw::main<conc::raw::gnutls_tls>(argc, argv); }
