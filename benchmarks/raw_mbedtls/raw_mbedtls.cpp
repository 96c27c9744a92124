// mbedTLS straight: one mbedtls_ssl_config (with its own DRBG) per role, one
// context per connection on a blocking fd, session tickets on the server.
#include "raw_mbedtls.hpp"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include <vector>

#include "bench.hpp"

namespace bench {
namespace {

// The profile of docs/architecture.md "Profiles" as mbedTLS suite names.
const char* const strict_suites[] = {
    "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",       "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
    "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384",       "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384",
    "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256", "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256",
};
const char* const rsa_suites[] = {
    "TLS-RSA-WITH-AES-128-GCM-SHA256", "TLS-RSA-WITH-AES-256-GCM-SHA384", "TLS-RSA-WITH-AES-128-CBC-SHA256",
    "TLS-RSA-WITH-AES-256-CBC-SHA256", "TLS-RSA-WITH-AES-128-CBC-SHA",    "TLS-RSA-WITH-AES-256-CBC-SHA",
};
const mbedtls_ecp_group_id groups[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                       MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE};

std::string error_text(int r) {
  char text[200];
  mbedtls_strerror(r, text, sizeof text);
  return text;
}

void check(int r, const std::string& what) {
  if (r != 0) fail(what + ": " + error_text(r));
}

std::vector<int> suites_for(const setup& s, bool server) {
  std::vector<const char*> names;
  if (!(server && s.rsa_kx)) names.assign(std::begin(strict_suites), std::end(strict_suites));
  if (s.rsa_kx) names.insert(names.end(), std::begin(rsa_suites), std::end(rsa_suites));
  std::vector<int> ids;
  for (const char* n : names) {
    const std::string name = n;
    if (s.cipher) {
      const char* fam = *s.cipher == cipher_family::aes128gcm   ? "AES-128-GCM"
                        : *s.cipher == cipher_family::aes256gcm ? "AES-256-GCM"
                                                                : "CHACHA20";
      if (name.find(fam) == std::string::npos) continue;
    }
    const int id = mbedtls_ssl_get_ciphersuite_id(n);
    if (id != 0) ids.push_back(id);
  }
  if (ids.empty()) fail("no cipher suite left for this setup");
  ids.push_back(0);
  return ids;
}

class mtls_endpoint;

class mtls_connection final : public fd_connection {
 public:
  mtls_connection(int fd, mtls_endpoint& ep);
  ~mtls_connection() override { mbedtls_ssl_free(&ssl_); }
  void start_tls() override;
  std::size_t read(std::span<std::byte> buf) override {
    for (int round = 0; round < 1000; ++round) {
      const int r = mbedtls_ssl_read(&ssl_, reinterpret_cast<unsigned char*>(buf.data()), buf.size());
      if (r > 0) return static_cast<std::size_t>(r);
      if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return 0;
      if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      fail("mbedtls_ssl_read: " + error_text(r));
    }
    fail("mbedtls_ssl_read: no progress");
  }
  void write(std::span<const std::byte> buf) override {
    while (!buf.empty()) {
      const int r = mbedtls_ssl_write(&ssl_, reinterpret_cast<const unsigned char*>(buf.data()), buf.size());
      if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      if (r < 0) fail("mbedtls_ssl_write: " + error_text(r));
      buf = buf.subspan(static_cast<std::size_t>(r));
    }
  }
  facts negotiated() override {
    facts f;
    f.version = mbedtls_ssl_get_version(&ssl_);
    f.cipher = mbedtls_ssl_get_ciphersuite(&ssl_);
    for (char& c : f.cipher) c = c == '-' ? '_' : c;
    f.resumed = resumed_;
    return f;
  }
  void close() override;

 private:
  mbedtls_ssl_context ssl_;
  mbedtls_net_context net_;
  mtls_endpoint& ep_;
  bool resumed_ = false;
};

class mtls_endpoint final : public endpoint {
 public:
  mtls_endpoint(const setup& s, bool server) : setup_(s), server_(server), suites_(suites_for(s, server)) {
    mbedtls_entropy_init(&entropy_);
    mbedtls_ctr_drbg_init(&drbg_);
    mbedtls_ssl_config_init(&conf_);
    mbedtls_x509_crt_init(&ca_);
    mbedtls_x509_crt_init(&crt_);
    mbedtls_pk_init(&key_);
    mbedtls_ssl_ticket_init(&ticket_);
    mbedtls_ssl_cache_init(&cache_);
    mbedtls_ssl_session_init(&saved_);
    if (s.version == tls_ver::tls13) throw unsupported("mbedTLS 2.28 has no TLS 1.3");
    check(mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_, nullptr, 0), "DRBG");
    check(mbedtls_ssl_config_defaults(&conf_, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                      MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT),
          "config");
    mbedtls_ssl_conf_rng(&conf_, mbedtls_ctr_drbg_random, &drbg_);
    mbedtls_ssl_conf_min_version(&conf_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&conf_, suites_.data());
    mbedtls_ssl_conf_curves(&conf_, groups);
    if (server) {
      check(mbedtls_x509_crt_parse_file(&crt_, (s.certs + "/" + s.leaf + ".pem").c_str()), "certificate");
      check(mbedtls_pk_parse_keyfile(&key_, (s.certs + "/" + s.leaf + ".key").c_str(), nullptr), "key");
      check(mbedtls_ssl_conf_own_cert(&conf_, &crt_, &key_), "own certificate");
      check(mbedtls_ssl_ticket_setup(&ticket_, mbedtls_ctr_drbg_random, &drbg_, MBEDTLS_CIPHER_AES_256_GCM, 86400),
            "tickets");
      mbedtls_ssl_conf_session_tickets_cb(&conf_, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &ticket_);
      // And a session-id cache for clients without tickets, as uptls's server has.
      mbedtls_ssl_conf_session_cache(&conf_, &cache_, mbedtls_ssl_cache_get, mbedtls_ssl_cache_set);
    } else {
      // A client that will not resume asks for no ticket, as uptls's does.
      mbedtls_ssl_conf_session_tickets(&conf_, s.resumption ? MBEDTLS_SSL_SESSION_TICKETS_ENABLED
                                                            : MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
      check(mbedtls_x509_crt_parse_file(&ca_, (s.certs + "/ca.pem").c_str()), "CA file");
      mbedtls_ssl_conf_ca_chain(&conf_, &ca_, nullptr);
      mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_REQUIRED);
      // Counts certificate checks: a resumed handshake makes none.
      mbedtls_ssl_conf_verify(&conf_, [](void* self, mbedtls_x509_crt*, int, uint32_t*) {
        ++static_cast<mtls_endpoint*>(self)->verified_;
        return 0;
      }, this);
    }
  }
  ~mtls_endpoint() override {
    mbedtls_ssl_session_free(&saved_);
    mbedtls_ssl_cache_free(&cache_);
    mbedtls_ssl_ticket_free(&ticket_);
    mbedtls_pk_free(&key_);
    mbedtls_x509_crt_free(&crt_);
    mbedtls_x509_crt_free(&ca_);
    mbedtls_ssl_config_free(&conf_);
    mbedtls_ctr_drbg_free(&drbg_);
    mbedtls_entropy_free(&entropy_);
  }
  std::unique_ptr<connection> attach(int fd) override { return std::make_unique<mtls_connection>(fd, *this); }

  setup setup_;
  bool server_;
  std::vector<int> suites_;
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
  mbedtls_ssl_config conf_;
  mbedtls_x509_crt ca_;
  mbedtls_x509_crt crt_;
  mbedtls_pk_context key_;
  mbedtls_ssl_ticket_context ticket_;
  mbedtls_ssl_cache_context cache_;
  mbedtls_ssl_session saved_;  // client: the last session, for resumption
  bool have_saved_ = false;
  int verified_ = 0;
};

mtls_connection::mtls_connection(int fd, mtls_endpoint& ep) : fd_connection(fd), ep_(ep) {
  mbedtls_ssl_init(&ssl_);
  mbedtls_net_init(&net_);
  check(mbedtls_ssl_setup(&ssl_, &ep.conf_), "mbedtls_ssl_setup");
  if (!ep.server_) {
    check(mbedtls_ssl_set_hostname(&ssl_, ep.setup_.host.c_str()), "host name");
    if (ep.setup_.resumption && ep.have_saved_) check(mbedtls_ssl_set_session(&ssl_, &ep.saved_), "session");
  }
}

void mtls_connection::start_tls() {
  check_no_plaintext_left();
  net_.fd = fd_;
  mbedtls_ssl_set_bio(&ssl_, &net_, mbedtls_net_send, mbedtls_net_recv, nullptr);
  ep_.verified_ = 0;
  int r = 0;
  for (int round = 0; round < 1000 && (r = mbedtls_ssl_handshake(&ssl_)) != 0; ++round) {
    if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) break;
  }
  if (r != 0) {
    std::string why = error_text(r);
    const uint32_t flags = mbedtls_ssl_get_verify_result(&ssl_);
    if (flags != 0 && flags != static_cast<uint32_t>(-1)) {
      char text[512];
      mbedtls_x509_crt_verify_info(text, sizeof text, "", flags);
      why += std::string(" (") + text + ")";
    }
    fail("handshake: " + why);
  }
  resumed_ = !ep_.server_ && ep_.verified_ == 0;
}

void mtls_connection::close() {
  if (!ep_.server_ && ep_.setup_.resumption) {
    mbedtls_ssl_session_free(&ep_.saved_);
    mbedtls_ssl_session_init(&ep_.saved_);
    check(mbedtls_ssl_get_session(&ssl_, &ep_.saved_), "get session");
    ep_.have_saved_ = true;
  }
  (void)mbedtls_ssl_close_notify(&ssl_);
  close_fd();
}

class raw_mbedtls final : public implementation {
 public:
  std::string name() const override { return "raw-mbedtls"; }
  std::string library() const override { return "mbedtls"; }
  std::string library_version() const override {
    char v[32] = {};
    mbedtls_version_get_string_full(v);
    return v;
  }
  std::unique_ptr<endpoint> make_server(const setup& s) override { return make(s, true); }
  std::unique_ptr<endpoint> make_client(const setup& s) override { return make(s, false); }

 private:
  static std::unique_ptr<endpoint> make(const setup& s, bool server) {
    if (s.release_buffers) throw unsupported("mbedTLS has no run-time switch to release idle record buffers");
    return std::make_unique<mtls_endpoint>(s, server);
  }
};

}  // namespace

implementation& raw_mbedtls_impl() {
  static raw_mbedtls instance;
  return instance;
}

}  // namespace bench
