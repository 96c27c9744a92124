// client_tls over raw OpenSSL: one SSL_CTX with the strict profile of the other
// benchmarks' raw client (TLS 1.2-1.3, ECDHE with AEAD, X25519:P-256:P-384, the CA
// file, peer verification), one SSL per session on the driver's fd, SNI and the
// host name check per session.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "client_tls.hpp"
#include "raw_openssl.hpp"

namespace conc {
namespace {

// As in the servers: an empty error queue before each call, so that
// SSL_get_error reports this call; errno cleared for SSL_ERROR_SYSCALL.
void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
  errno = 0;
}

class openssl_session final : public client_tls_session {
 public:
  openssl_session(SSL_CTX* ctx, int fd, const std::string& host) {
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr) throw std::runtime_error("SSL_new: " + bench::openssl_errors());
    if (SSL_set_fd(ssl_, fd) != 1 || SSL_set_tlsext_host_name(ssl_, host.c_str()) != 1 ||
        SSL_set1_host(ssl_, host.c_str()) != 1) {
      const std::string why = bench::openssl_errors();
      SSL_free(ssl_);
      throw std::runtime_error("SSL setup: " + why);
    }
    SSL_set_connect_state(ssl_);
  }
  ~openssl_session() override { SSL_free(ssl_); }

  tls_result handshake() override {
    clear_errors();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) return {tls_status::ok, 0};
    return outcome(r, "");  // the driver names the handshake already
  }

  tls_result read(std::span<char> buf) override {
    std::size_t n = 0;
    clear_errors();
    const int r = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    if (r == 1) return {tls_status::ok, n};
    return outcome(r, "read");
  }

  tls_result write(std::span<const char> buf) override {
    std::size_t n = 0;
    clear_errors();
    const int r = SSL_write_ex(ssl_, buf.data(), buf.size(), &n);
    if (r == 1) return {tls_status::ok, n};
    return outcome(r, "write");
  }

  void close_notify() override {
    clear_errors();
    (void)SSL_shutdown(ssl_);
  }

  std::string error() const override { return error_; }

  std::string negotiated() const override {
    const bench::facts f = bench::openssl_facts(ssl_);
    return f.version + " " + f.cipher + (f.group.empty() ? "" : " " + f.group);
  }

 private:
  tls_result outcome(int r, const char* call) {
    const int e = SSL_get_error(ssl_, r);
    switch (e) {
      case SSL_ERROR_WANT_READ: return {tls_status::want_read, 0};
      case SSL_ERROR_WANT_WRITE: return {tls_status::want_write, 0};
      case SSL_ERROR_ZERO_RETURN: return {tls_status::closed, 0};
      case SSL_ERROR_SYSCALL:
        if (errno == 0) return {tls_status::closed, 0};  // EOF without close_notify
        error_ = prefix(call) + std::strerror(errno);
        return {tls_status::failed, 0};
      default: {
        error_ = prefix(call) + bench::openssl_errors();
        const long v = SSL_get_verify_result(ssl_);
        if (v != X509_V_OK) error_ += std::string(" (certificate: ") + X509_verify_cert_error_string(v) + ")";
        return {tls_status::failed, 0};
      }
    }
  }

  static std::string prefix(const char* call) { return *call != '\0' ? std::string(call) + ": " : std::string(); }

  SSL* ssl_ = nullptr;
  std::string error_;
};

class openssl_client final : public client_tls {
 public:
  explicit openssl_client(const client_tls_config& c) : host_(c.host) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) throw std::runtime_error("SSL_CTX_new: " + bench::openssl_errors());
    // The strict profile, as configure_openssl_ctx (benchmarks/raw_openssl) sets it
    // for the other benchmarks' raw client.
    const auto check = [](int ok, const std::string& what) {
      if (ok != 1) throw std::runtime_error(what + ": " + bench::openssl_errors());
    };
    check(SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION), "min version");
    if (c.version == "1.2" || c.version == "1.3") {
      const int v = c.version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
      check(SSL_CTX_set_min_proto_version(ctx_, v), "min version");
      check(SSL_CTX_set_max_proto_version(ctx_, v), "max version");
    } else if (!c.version.empty()) {
      throw std::runtime_error("the TLS version is 1.2 or 1.3, not '" + c.version + "'");
    }
    check(SSL_CTX_set1_groups_list(ctx_, "X25519:P-256:P-384"), "groups");
    check(SSL_CTX_set_cipher_list(ctx_, "ECDHE+AESGCM:ECDHE+CHACHA20"), "cipher list");
    check(SSL_CTX_load_verify_locations(ctx_, c.ca_file.c_str(), nullptr), "CA file " + c.ca_file);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    // Every session a full handshake, as from distinct clients: no cache, no ticket asked for.
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
  }
  ~openssl_client() override { SSL_CTX_free(ctx_); }

  std::string description() const override { return std::string("openssl (") + OpenSSL_version(OPENSSL_VERSION) + ")"; }

  std::unique_ptr<client_tls_session> attach(int fd) override {
    return std::make_unique<openssl_session>(ctx_, fd, host_);
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  std::string host_;
};

}  // namespace

std::unique_ptr<client_tls> make_openssl_client_tls(const client_tls_config& config) {
  return std::make_unique<openssl_client>(config);
}

}  // namespace conc
