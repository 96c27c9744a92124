// bench-smtp-server-raw: the hand-written baseline on OpenSSL. The server is
// raw_server.hpp's; this is OpenSSL's part of it: one SSL_CTX (the strict profile
// of configure_server_ctx), one SSL per connection on its non-blocking socket,
// SSL_do_handshake / SSL_read_ex / SSL_write_ex with SSL_ERROR_WANT_*.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "raw_server.hpp"

namespace conc::raw {
namespace {

// Clears OpenSSL's thread error queue before an SSL call, so that SSL_get_error
// afterwards sees only this call's errors (SSL_get_error(3)). Peeking first keeps
// the common case (an empty queue) cheap.
// errno is cleared too: after SSL_ERROR_SYSCALL it tells a reset from an EOF.
void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
  errno = 0;
}

class openssl_tls {
 public:
  static constexpr std::string_view name = "raw-openssl";
  static constexpr std::string_view program = "bench-smtp-server-raw";
  using session = SSL*;

  explicit openssl_tls(const server_options& o) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (ctx_ == nullptr) throw std::runtime_error("SSL_CTX_new: " + openssl_error_text());
    configure_server_ctx(ctx_, o);
  }
  ~openssl_tls() { SSL_CTX_free(ctx_); }
  openssl_tls(const openssl_tls&) = delete;
  openssl_tls& operator=(const openssl_tls&) = delete;

  bool begin(SSL*& ssl, int fd) {
    ssl = SSL_new(ctx_);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
      why_ = "SSL_new: " + openssl_error_text();
      return false;
    }
    SSL_set_accept_state(ssl);
    return true;
  }

  io handshake(SSL* ssl) {
    clear_errors();
    const int r = SSL_do_handshake(ssl);
    if (r == 1) return io::ok;
    const int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ) return io::want_read;
    if (e == SSL_ERROR_WANT_WRITE) return io::want_write;
    why_ = failure(e, r);
    return io::error;
  }

  io read(SSL* ssl, char* at, std::size_t room, std::size_t& n) {
    clear_errors();
    const int r = SSL_read_ex(ssl, at, room, &n);
    return r == 1 ? io::ok : outcome(ssl, r, "SSL_read");
  }

  // SSL_write without SSL_MODE_ENABLE_PARTIAL_WRITE writes all or nothing; after
  // WANT_* it is called again with the same bytes, which the server still holds.
  io write(SSL* ssl, const char* p, std::size_t len, std::size_t& n) {
    clear_errors();
    const int r = SSL_write_ex(ssl, p, len, &n);
    return r == 1 ? io::ok : outcome(ssl, r, "SSL_write");
  }

  void end(SSL*& ssl, bool close_notify) {
    if (ssl == nullptr) return;
    if (close_notify) {
      clear_errors();
      (void)SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    ssl = nullptr;
  }

  std::string last_error() { return std::move(why_); }

 private:
  io outcome(SSL* ssl, int r, const char* call) {
    const int e = SSL_get_error(ssl, r);
    switch (e) {
      case SSL_ERROR_WANT_READ: return io::want_read;
      case SSL_ERROR_WANT_WRITE: return io::want_write;
      case SSL_ERROR_ZERO_RETURN: return io::eof;  // close_notify
      case SSL_ERROR_SYSCALL:
        if (errno == 0 || errno == ECONNRESET || errno == EPIPE) return io::eof;  // gone without close_notify
        [[fallthrough]];
      default:
        why_ = std::string(call) + ": " + failure(e, r);
        return io::error;
    }
  }

  static std::string failure(int e, int r) {
    if (e == SSL_ERROR_SYSCALL) {
      return errno != 0 ? std::string(std::strerror(errno)) : "peer closed (return " + std::to_string(r) + ")";
    }
    return openssl_error_text();
  }

  SSL_CTX* ctx_ = nullptr;
  std::string why_;
};

}  // namespace
}  // namespace conc::raw

int main(int argc, char** argv) { return conc::raw::main<conc::raw::openssl_tls>(argc, argv); }
