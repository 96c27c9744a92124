// GnuTLS straight: credentials and a priority cache per role, one session per
// connection on a blocking fd, session tickets on the server.
#include "raw_gnutls.hpp"

#include <gnutls/gnutls.h>

#include <poll.h>

#include <cctype>

#include "bench.hpp"

namespace bench {
namespace {

// The profile of docs/architecture.md "Profiles" as GnuTLS priority strings.
constexpr const char* base =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1";
constexpr const char* strict =
    ":-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD";
constexpr const char* legacy_extra = ":+RSA:+AES-128-CBC:+AES-256-CBC:+SHA256:+SHA1";
constexpr const char* rsa_only =
    "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+AES-128-CBC:+AES-256-CBC:"
    "-MAC-ALL:+AEAD:+SHA256:+SHA1";

// GnuTLS returns E_AGAIN both when the socket timed out and when it consumed a
// post-handshake message (a TLS 1.3 ticket) without application data: wait for the
// socket, and fail only when it stays silent.
void wait_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 20'000) <= 0) fail("timed out waiting for the peer");
}

void check(int r, const std::string& what) {
  if (r < 0) fail(what + ": " + gnutls_strerror(r));
}

std::string priority_for(const setup& s, bool server) {
  std::string p;
  if (server && s.rsa_kx) {
    p = rsa_only;
  } else {
    p = std::string(base) + strict;
    if (!server && s.rsa_kx) p += legacy_extra;
  }
  if (!server && s.version) p += *s.version == tls_ver::tls13 ? ":-VERS-ALL:+VERS-TLS1.3" : ":-VERS-ALL:+VERS-TLS1.2";
  if (s.cipher) {
    switch (*s.cipher) {
      case cipher_family::aes128gcm: p += ":-CIPHER-ALL:+AES-128-GCM"; break;
      case cipher_family::aes256gcm: p += ":-CIPHER-ALL:+AES-256-GCM"; break;
      case cipher_family::chacha20: p += ":-CIPHER-ALL:+CHACHA20-POLY1305"; break;
    }
  }
  return p;
}

struct datum {
  gnutls_datum_t d{nullptr, 0};
  ~datum() { gnutls_free(d.data); }
};

class gtls_endpoint;

class gtls_connection final : public fd_connection {
 public:
  gtls_connection(int fd, gtls_endpoint& ep);
  ~gtls_connection() override { gnutls_deinit(session_); }

  void start_tls() override {
    check_no_plaintext_left();
    gnutls_transport_set_int(session_, fd_);
    int r = 0;
    for (int round = 0; round < 1000; ++round) {
      r = gnutls_handshake(session_);
      if (r >= 0 || gnutls_error_is_fatal(r) != 0) break;
      if (r == GNUTLS_E_AGAIN) wait_readable(fd_);
    }
    if (r < 0) {
      std::string why = gnutls_strerror(r);
      if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        gnutls_datum_t out{};
        const unsigned status = gnutls_session_get_verify_cert_status(session_);
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
          why += std::string(" (") + reinterpret_cast<const char*>(out.data) + ")";
          gnutls_free(out.data);
        }
      }
      fail("handshake: " + why);
    }
  }

  std::size_t read(std::span<std::byte> buf) override {
    for (int round = 0; round < 1000; ++round) {
      const ssize_t r = gnutls_record_recv(session_, buf.data(), buf.size());
      if (r >= 0) return static_cast<std::size_t>(r);
      if (r == GNUTLS_E_INTERRUPTED) continue;
      if (r == GNUTLS_E_AGAIN) {
        wait_readable(fd_);
        continue;
      }
      if (r == GNUTLS_E_PREMATURE_TERMINATION) return 0;
      fail(std::string("gnutls_record_recv: ") + gnutls_strerror(static_cast<int>(r)));
    }
    fail("gnutls_record_recv: no progress");
  }

  void write(std::span<const std::byte> buf) override {
    while (!buf.empty()) {
      const ssize_t r = gnutls_record_send(session_, buf.data(), buf.size());
      if (r == GNUTLS_E_INTERRUPTED) continue;
      if (r < 0) fail(std::string("gnutls_record_send: ") + gnutls_strerror(static_cast<int>(r)));
      buf = buf.subspan(static_cast<std::size_t>(r));
    }
  }

  facts negotiated() override {
    facts f;
    const char* v = gnutls_protocol_get_name(gnutls_protocol_get_version(session_));
    f.version = v != nullptr ? v : "";
    if (f.version.rfind("TLS1.", 0) == 0) f.version = "TLSv" + f.version.substr(3);
    const char* c = gnutls_ciphersuite_get(session_);
    f.cipher = c != nullptr ? c : "";
    const char* g = gnutls_group_get_name(gnutls_group_get(session_));
    if (g != nullptr) {
      f.group = g;
      for (char& ch : f.group) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    f.resumed = gnutls_session_is_resumed(session_) != 0;
    return f;
  }

  void close() override;

 private:
  gnutls_session_t session_ = nullptr;
  gtls_endpoint& ep_;
};

class gtls_endpoint final : public endpoint {
 public:
  gtls_endpoint(const setup& s, bool server) : setup_(s), server_(server) {
    check(gnutls_certificate_allocate_credentials(&cred_), "credentials");
    if (server) {
      check(gnutls_certificate_set_x509_key_file(cred_, (s.certs + "/" + s.leaf + ".pem").c_str(),
                                                 (s.certs + "/" + s.leaf + ".key").c_str(), GNUTLS_X509_FMT_PEM),
            "certificate");
      check(gnutls_session_ticket_key_generate(&ticket_key_.d), "ticket key");
    } else {
      check(gnutls_certificate_set_x509_trust_file(cred_, (s.certs + "/ca.pem").c_str(), GNUTLS_X509_FMT_PEM), "CA file");
    }
    const std::string p = priority_for(s, server);
    const char* err = nullptr;
    if (gnutls_priority_init(&prio_, p.c_str(), &err) < 0) fail("priority string at '" + std::string(err ? err : "?") + "'");
  }
  ~gtls_endpoint() override {
    gnutls_priority_deinit(prio_);
    gnutls_certificate_free_credentials(cred_);
  }
  std::unique_ptr<connection> attach(int fd) override { return std::make_unique<gtls_connection>(fd, *this); }

  setup setup_;
  bool server_;
  gnutls_certificate_credentials_t cred_ = nullptr;
  gnutls_priority_t prio_ = nullptr;
  datum ticket_key_;
  datum saved_;  // client: the last session, for resumption
};

gtls_connection::gtls_connection(int fd, gtls_endpoint& ep) : fd_connection(fd), ep_(ep) {
  // A client that will not resume asks for no ticket, as uptls's does.
  const unsigned no_tickets = !ep.server_ && !ep.setup_.resumption ? GNUTLS_NO_TICKETS : 0;
  check(gnutls_init(&session_, (ep.server_ ? GNUTLS_SERVER : GNUTLS_CLIENT) | no_tickets), "gnutls_init");
  check(gnutls_priority_set(session_, ep.prio_), "priority");
  check(gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, ep.cred_), "credentials");
  if (ep.server_) {
    check(gnutls_session_ticket_enable_server(session_, &ep.ticket_key_.d), "tickets");
  } else {
    const std::string& host = ep.setup_.host;
    check(gnutls_server_name_set(session_, GNUTLS_NAME_DNS, host.data(), host.size()), "SNI");
    gnutls_session_set_verify_cert(session_, host.c_str(), 0);
    if (ep.setup_.resumption && ep.saved_.d.data != nullptr) {
      check(gnutls_session_set_data(session_, ep.saved_.d.data, ep.saved_.d.size), "session data");
    }
  }
}

void gtls_connection::close() {
  if (!ep_.server_ && ep_.setup_.resumption) {
    datum next;
    check(gnutls_session_get_data2(session_, &next.d), "session data");
    std::swap(ep_.saved_.d, next.d);
  }
  (void)gnutls_bye(session_, GNUTLS_SHUT_WR);
  close_fd();
}

class raw_gnutls final : public implementation {
 public:
  std::string name() const override { return "raw-gnutls"; }
  std::string library() const override { return "gnutls"; }
  std::string library_version() const override { return gnutls_check_version(nullptr); }
  std::unique_ptr<endpoint> make_server(const setup& s) override {
    if (s.release_buffers) throw unsupported("GnuTLS has no switch to release idle record buffers");
    return std::make_unique<gtls_endpoint>(s, true);
  }
  std::unique_ptr<endpoint> make_client(const setup& s) override {
    if (s.release_buffers) throw unsupported("GnuTLS has no switch to release idle record buffers");
    return std::make_unique<gtls_endpoint>(s, false);
  }
};

}  // namespace

implementation& raw_gnutls_impl() {
  static raw_gnutls instance;
  return instance;
}

}  // namespace bench
