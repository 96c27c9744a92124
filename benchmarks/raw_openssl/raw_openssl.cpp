// OpenSSL straight: one SSL_CTX per role, one SSL per connection on a blocking fd.
#include "raw_openssl.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "bench.hpp"

namespace bench {
namespace {

// The profile strings of docs/architecture.md "Profiles", as OpenSSL cipher lists.
constexpr const char* strict_tls12 = "ECDHE+AESGCM:ECDHE+CHACHA20";
constexpr const char* rsa_kx_suites = "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA";

void check(int ok, const std::string& what) {
  if (ok != 1) fail(what + ": " + openssl_errors());
}

// The TLS 1.2 suites of one bulk cipher, forward secret and plain RSA; and its
// TLS 1.3 suite. Both sides get the same pin, so the suite cannot depend on
// whose list wins.
struct pinned {
  const char* ecdhe;
  const char* rsa;  // empty: no such RSA key exchange suite
  const char* tls13;
};

pinned suites_of(cipher_family c) {
  switch (c) {
    case cipher_family::aes128gcm:
      return {"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", "AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"};
    case cipher_family::aes256gcm:
      return {"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384", "AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384"};
    case cipher_family::chacha20:
      return {"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305", "", "TLS_CHACHA20_POLY1305_SHA256"};
  }
  fail("unknown cipher");
}

// The TLS 1.2 cipher list for this side of this setup.
std::string tls12_list(const setup& s, bool server) {
  const std::string ecdhe = s.cipher ? suites_of(*s.cipher).ecdhe : strict_tls12;
  const std::string rsa = s.cipher ? suites_of(*s.cipher).rsa : rsa_kx_suites;
  if (!s.rsa_kx) return ecdhe;
  if (rsa.empty()) throw unsupported("no RSA key exchange suite with this cipher");
  return server ? rsa : ecdhe + ":" + rsa;
}

class ossl_connection final : public fd_connection {
 public:
  ossl_connection(int fd, SSL_CTX* ctx, bool server, const setup& s, SSL_SESSION** saved)
      : fd_connection(fd), server_(server), host_(s.host), saved_(saved) {
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr) fail("SSL_new: " + openssl_errors());
  }
  ~ossl_connection() override { SSL_free(ssl_); }

  void start_tls() override {
    check_no_plaintext_left();
    check(SSL_set_fd(ssl_, fd_), "SSL_set_fd");
    if (!server_) {
      check(SSL_set_tlsext_host_name(ssl_, host_.c_str()), "SNI");
      check(SSL_set1_host(ssl_, host_.c_str()), "host name check");
      if (saved_ != nullptr && *saved_ != nullptr) check(SSL_set_session(ssl_, *saved_), "SSL_set_session");
    }
    const int r = server_ ? SSL_accept(ssl_) : SSL_connect(ssl_);
    if (r != 1) {
      const long v = SSL_get_verify_result(ssl_);
      fail(std::string("handshake: ") + openssl_errors() +
           (v != X509_V_OK ? std::string(" (") + X509_verify_cert_error_string(v) + ")" : ""));
    }
  }

  std::size_t read(std::span<std::byte> buf) override {
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    if (r == 1) return n;
    if (SSL_get_error(ssl_, r) == SSL_ERROR_ZERO_RETURN) return 0;
    fail("SSL_read: " + openssl_errors());
  }

  void write(std::span<const std::byte> buf) override {
    while (!buf.empty()) {
      std::size_t n = 0;
      if (SSL_write_ex(ssl_, buf.data(), buf.size(), &n) != 1) fail("SSL_write: " + openssl_errors());
      buf = buf.subspan(n);
    }
  }

  facts negotiated() override { return openssl_facts(ssl_); }

  void close() override {
    if (saved_ != nullptr) {
      // Kept for the next connection (after the data exchange the TLS 1.3 tickets are in).
      SSL_SESSION* s = SSL_get1_session(ssl_);
      if (*saved_ != nullptr) SSL_SESSION_free(*saved_);
      *saved_ = s;
    }
    (void)SSL_shutdown(ssl_);
    close_fd();
  }

 private:
  SSL* ssl_ = nullptr;
  bool server_;
  std::string host_;
  SSL_SESSION** saved_;
};

class ossl_endpoint final : public endpoint {
 public:
  ossl_endpoint(const setup& s, bool server) : setup_(s), server_(server) {
    ctx_ = SSL_CTX_new(TLS_method());
    if (ctx_ == nullptr) fail("SSL_CTX_new: " + openssl_errors());
    configure_openssl_ctx(ctx_, s, server);
  }
  ~ossl_endpoint() override {
    if (saved_ != nullptr) SSL_SESSION_free(saved_);
    SSL_CTX_free(ctx_);
  }
  std::unique_ptr<connection> attach(int fd) override {
    const bool keep = !server_ && setup_.resumption;
    return std::make_unique<ossl_connection>(fd, ctx_, server_, setup_, keep ? &saved_ : nullptr);
  }

 private:
  setup setup_;
  bool server_;
  SSL_CTX* ctx_ = nullptr;
  SSL_SESSION* saved_ = nullptr;
};

class raw_openssl final : public implementation {
 public:
  std::string name() const override { return "raw-openssl"; }
  std::string library() const override { return "openssl"; }
  std::string library_version() const override { return OpenSSL_version(OPENSSL_VERSION); }
  std::unique_ptr<endpoint> make_server(const setup& s) override { return std::make_unique<ossl_endpoint>(s, true); }
  std::unique_ptr<endpoint> make_client(const setup& s) override { return std::make_unique<ossl_endpoint>(s, false); }
};

}  // namespace

std::string openssl_errors() {
  std::string out;
  for (unsigned long e; (e = ERR_get_error()) != 0;) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "no library error" : out;
}

void configure_openssl_ctx(SSL_CTX* ctx, const setup& s, bool server) {
  check(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), "min version");
  check(SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384"), "groups");
  // The legacy server that only does RSA key exchange speaks TLS 1.2 only.
  if (server && s.rsa_kx) check(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION), "max version");
  check(SSL_CTX_set_cipher_list(ctx, tls12_list(s, server).c_str()), "cipher list");
  if (s.cipher) check(SSL_CTX_set_ciphersuites(ctx, suites_of(*s.cipher).tls13), "ciphersuites");
  if (!server && s.version) {
    const int v = *s.version == tls_ver::tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    check(SSL_CTX_set_min_proto_version(ctx, v), "min version");
    check(SSL_CTX_set_max_proto_version(ctx, v), "max version");
  }
  if (s.release_buffers) SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (server) {
    check(SSL_CTX_use_certificate_chain_file(ctx, (s.certs + "/" + s.leaf + ".pem").c_str()), "certificate");
    check(SSL_CTX_use_PrivateKey_file(ctx, (s.certs + "/" + s.leaf + ".key").c_str(), SSL_FILETYPE_PEM), "key");
  } else {
    check(SSL_CTX_load_verify_locations(ctx, (s.certs + "/ca.pem").c_str(), nullptr), "CA file");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_session_cache_mode(ctx, s.resumption ? SSL_SESS_CACHE_CLIENT : SSL_SESS_CACHE_OFF);
    // A client that will not resume asks for no ticket, as uptls's does.
    if (!s.resumption) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
}

facts openssl_facts(SSL* ssl) {
  facts f;
  f.version = SSL_get_version(ssl);
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  if (c != nullptr) f.cipher = SSL_CIPHER_standard_name(c);
  const int nid = SSL_get_negotiated_group(ssl);
  if (nid != 0 && nid != NID_undef) {
    const char* g = SSL_group_to_name(ssl, nid);
    f.group = g != nullptr ? g : OBJ_nid2sn(nid);
    if (f.group == "X25519") f.group = "x25519";
  }
  f.resumed = SSL_session_reused(ssl) == 1;
  return f;
}

implementation& raw_openssl_impl() {
  static raw_openssl instance;
  return instance;
}

}  // namespace bench
