// bench-smtp-server-raw-mbedtls: the hand-written baseline on mbedTLS, for
// comparing uptls's mbedTLS backend like for like. The server is raw_server.hpp's;
// this is mbedTLS's part of it, with the TLS parameters uptls's backend uses
// (backends/mbedtls): TLS 1.2 only, the strict profile's suites in its order,
// groups X25519, P-256, P-384, the leaf of --cert, and resumption as a uptls
// server offers it (RFC 5077 tickets under AES-256-GCM and a session-id cache).
// The socket is mbedTLS's through two small callbacks (mbedtls_net_send/recv
// would do, but they ask fcntl whether the socket is non-blocking after every
// EAGAIN); MBEDTLS_ERR_SSL_WANT_READ/WRITE say which way the connection waits.
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#if MBEDTLS_VERSION_MAJOR >= 3
#include <psa/crypto.h>
#endif

#include <vector>

#include "raw_server.hpp"

namespace conc::raw {
namespace {

// backends/mbedtls/suites.cpp's strict list, in its order.
constexpr int strict_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,       MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,       MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
};

constexpr std::uint32_t ticket_lifetime_s = 86'400;  // as backends/mbedtls/context.cpp
constexpr int cache_timeout_s = 86'400;
constexpr std::string_view personalization = "bench-smtp-server-raw-mbedtls";

std::string error_text(int r) {
  char text[200];
  mbedtls_strerror(r, text, sizeof text);
  return text;
}

void check(int r, const std::string& what) {
  if (r != 0) throw std::runtime_error(what + ": " + error_text(r));
}

// The socket under mbedTLS: EAGAIN is "want", a reset is the peer gone.
int on_send(void* fd, const unsigned char* buf, std::size_t len) {
  const ssize_t n = ::send(*static_cast<int*>(fd), buf, len, MSG_NOSIGNAL);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_WRITE;
  if (errno == EPIPE || errno == ECONNRESET) return MBEDTLS_ERR_NET_CONN_RESET;
  return MBEDTLS_ERR_NET_SEND_FAILED;
}

int on_recv(void* fd, unsigned char* buf, std::size_t len) {
  const ssize_t n = ::recv(*static_cast<int*>(fd), buf, len, 0);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_READ;
  if (errno == ECONNRESET) return MBEDTLS_ERR_NET_CONN_RESET;
  return MBEDTLS_ERR_NET_RECV_FAILED;
}

class mbedtls_tls {
 public:
  static constexpr std::string_view name = "raw-mbedtls";
  static constexpr std::string_view program = "bench-smtp-server-raw-mbedtls";
  // mbedtls_ssl_context holds pointers into itself: it stays where it was made.
  struct conn {
    mbedtls_ssl_context ssl;
    int fd = -1;
  };
  using session = conn*;

  explicit mbedtls_tls(const server_options& o) {
    if (o.release_buffers) {
      throw std::runtime_error("--release-buffers: mbedTLS has no switch to free idle record buffers");
    }
    mbedtls_entropy_init(&entropy_);
    mbedtls_ctr_drbg_init(&drbg_);
    mbedtls_x509_crt_init(&chain_);
    mbedtls_pk_init(&key_);
    mbedtls_ssl_ticket_init(&tickets_);
    mbedtls_ssl_cache_init(&cache_);
    mbedtls_ssl_config_init(&conf_);
#if MBEDTLS_VERSION_MAJOR >= 3
    if (psa_crypto_init() != PSA_SUCCESS) throw std::runtime_error("psa_crypto_init failed");
#endif
    check(mbedtls_ssl_config_defaults(&conf_, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT),
          "mbedtls_ssl_config_defaults");
    check(mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_,
                                reinterpret_cast<const unsigned char*>(personalization.data()), personalization.size()),
          "mbedtls_ctr_drbg_seed");
    mbedtls_ssl_conf_rng(&conf_, mbedtls_ctr_drbg_random, &drbg_);
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_ssl_conf_min_tls_version(&conf_, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(&conf_, MBEDTLS_SSL_VERSION_TLS1_2);
#else
    mbedtls_ssl_conf_min_version(&conf_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&conf_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
    for (const int id : strict_suites) {
      if (mbedtls_ssl_ciphersuite_from_id(id) != nullptr) suites_.push_back(id);
    }
    suites_.push_back(0);
    mbedtls_ssl_conf_ciphersuites(&conf_, suites_.data());
    static const mbedtls_ecp_group_id groups[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                                  MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE};
    mbedtls_ssl_conf_curves(&conf_, groups);

    const std::string cert = o.certs + "/" + o.leaf + ".pem";
    const std::string key = o.certs + "/" + o.leaf + ".key";
    check(mbedtls_x509_crt_parse_file(&chain_, cert.c_str()), "certificate " + cert);
#if MBEDTLS_VERSION_MAJOR >= 3
    check(mbedtls_pk_parse_keyfile(&key_, key.c_str(), nullptr, mbedtls_ctr_drbg_random, &drbg_), "key " + key);
#else
    check(mbedtls_pk_parse_keyfile(&key_, key.c_str(), nullptr), "key " + key);
#endif
    check(mbedtls_ssl_conf_own_cert(&conf_, &chain_, &key_), "mbedtls_ssl_conf_own_cert");
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_NONE);

    check(mbedtls_ssl_ticket_setup(&tickets_, mbedtls_ctr_drbg_random, &drbg_, MBEDTLS_CIPHER_AES_256_GCM,
                                   ticket_lifetime_s),
          "mbedtls_ssl_ticket_setup");
    mbedtls_ssl_conf_session_tickets_cb(&conf_, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &tickets_);
    mbedtls_ssl_cache_set_timeout(&cache_, cache_timeout_s);
    mbedtls_ssl_conf_session_cache(&conf_, &cache_, mbedtls_ssl_cache_get, mbedtls_ssl_cache_set);
  }

  ~mbedtls_tls() {
    mbedtls_ssl_config_free(&conf_);
    mbedtls_ssl_cache_free(&cache_);
    mbedtls_ssl_ticket_free(&tickets_);
    mbedtls_pk_free(&key_);
    mbedtls_x509_crt_free(&chain_);
    mbedtls_ctr_drbg_free(&drbg_);
    mbedtls_entropy_free(&entropy_);
  }
  mbedtls_tls(const mbedtls_tls&) = delete;
  mbedtls_tls& operator=(const mbedtls_tls&) = delete;

  bool begin(conn*& t, int fd) {
    t = new conn;
    mbedtls_ssl_init(&t->ssl);
    t->fd = fd;
    if (const int r = mbedtls_ssl_setup(&t->ssl, &conf_); r != 0) {
      why_ = "mbedtls_ssl_setup: " + error_text(r);
      return false;
    }
    mbedtls_ssl_set_bio(&t->ssl, &t->fd, on_send, on_recv, nullptr);
    return true;
  }

  io handshake(conn* t) {
    const int r = mbedtls_ssl_handshake(&t->ssl);
    if (r == 0) return io::ok;
    return outcome(r, "mbedtls_ssl_handshake");
  }

  io read(conn* t, char* at, std::size_t room, std::size_t& n) {
    const int r = mbedtls_ssl_read(&t->ssl, reinterpret_cast<unsigned char*>(at), room);
    if (r > 0) {
      n = static_cast<std::size_t>(r);
      return io::ok;
    }
    if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == MBEDTLS_ERR_NET_CONN_RESET) return io::eof;
    return outcome(r, "mbedtls_ssl_read");
  }

  // After WANT_WRITE mbedTLS holds the record it made; the call again with the
  // same bytes sends it and reports them.
  io write(conn* t, const char* p, std::size_t len, std::size_t& n) {
    const int r = mbedtls_ssl_write(&t->ssl, reinterpret_cast<const unsigned char*>(p), len);
    if (r >= 0) {
      n = static_cast<std::size_t>(r);
      return io::ok;
    }
    if (r == MBEDTLS_ERR_NET_CONN_RESET) return io::eof;
    return outcome(r, "mbedtls_ssl_write");
  }

  void end(conn*& t, bool close_notify) {
    if (t == nullptr) return;
    if (close_notify) (void)mbedtls_ssl_close_notify(&t->ssl);
    mbedtls_ssl_free(&t->ssl);
    delete t;
    t = nullptr;
  }

  std::string last_error() { return std::move(why_); }

 private:
  io outcome(int r, const char* call) {
    if (r == MBEDTLS_ERR_SSL_WANT_READ) return io::want_read;
    if (r == MBEDTLS_ERR_SSL_WANT_WRITE) return io::want_write;
    why_ = std::string(call) + ": " + error_text(r);
    return io::error;
  }

  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
  mbedtls_x509_crt chain_;
  mbedtls_pk_context key_;
  mbedtls_ssl_ticket_context tickets_;
  mbedtls_ssl_cache_context cache_;
  mbedtls_ssl_config conf_;
  std::vector<int> suites_;
  std::string why_;
};

}  // namespace
}  // namespace conc::raw

int main(int argc, char** argv) { return conc::raw::main<conc::raw::mbedtls_tls>(argc, argv); }
