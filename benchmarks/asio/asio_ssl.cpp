// Asio's ssl::stream on OpenSSL, the peer a C++ user would pick instead of uptls:
// synchronous calls, the same OpenSSL configuration as the raw baseline, host
// names checked with asio::ssl::host_name_verification.
#include <sys/socket.h>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "bench.hpp"
#include "raw_openssl.hpp"

namespace bench {
namespace {

using socket_type = asio::generic::stream_protocol::socket;

class asio_endpoint;

class asio_connection final : public connection {
 public:
  asio_connection(asio::io_context& io, int fd, asio_endpoint& ep);
  void write_plain(std::string_view text) override { asio::write(s_.next_layer(), asio::buffer(text)); }
  std::string read_line_plain() override { return line_from(s_.next_layer(), plain_); }
  void start_tls() override;
  std::size_t read(std::span<std::byte> buf) override {
    asio::error_code ec;
    const std::size_t n = s_.read_some(asio::buffer(buf.data(), buf.size()), ec);
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return 0;
    if (ec) fail("read: " + ec.message());
    return n;
  }
  void write(std::span<const std::byte> buf) override { asio::write(s_, asio::buffer(buf.data(), buf.size())); }
  std::string read_line() override { return line_from(s_, tls_); }
  facts negotiated() override { return openssl_facts(s_.native_handle()); }
  void close() override;

 private:
  template <class Stream>
  static std::string line_from(Stream& s, std::string& buf) {
    const std::size_t n = asio::read_until(s, asio::dynamic_buffer(buf), "\n");
    std::string line = buf.substr(0, n > 1 && buf[n - 2] == '\r' ? n - 2 : n - 1);
    buf.erase(0, n);
    return line;
  }

  asio::ssl::stream<socket_type> s_;
  asio_endpoint& ep_;
  std::string plain_;
  std::string tls_;
};

class asio_endpoint final : public endpoint {
 public:
  asio_endpoint(const setup& s, bool server)
      : setup_(s), server_(server), ctx_(server ? asio::ssl::context::tls_server : asio::ssl::context::tls_client) {
    configure_openssl_ctx(ctx_.native_handle(), s, server);
  }
  ~asio_endpoint() override {
    if (saved_ != nullptr) SSL_SESSION_free(saved_);
  }
  std::unique_ptr<connection> attach(int fd) override { return std::make_unique<asio_connection>(io_, fd, *this); }

  setup setup_;
  bool server_;
  asio::io_context io_;
  asio::ssl::context ctx_;
  SSL_SESSION* saved_ = nullptr;
};

socket_type adopt(asio::io_context& io, int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) fail_errno("getsockname");
  const int proto = ss.ss_family == AF_UNIX ? 0 : IPPROTO_TCP;
  return socket_type(io, asio::generic::stream_protocol(ss.ss_family, proto), fd);
}

asio_connection::asio_connection(asio::io_context& io, int fd, asio_endpoint& ep)
    : s_(adopt(io, fd), ep.ctx_), ep_(ep) {}

void asio_connection::start_tls() {
  if (!plain_.empty()) fail("plaintext left over before the handshake");
  if (!ep_.server_) {
    SSL* ssl = s_.native_handle();
    if (SSL_set_tlsext_host_name(ssl, ep_.setup_.host.c_str()) != 1) fail("SNI");
    s_.set_verify_mode(asio::ssl::verify_peer);
    s_.set_verify_callback(asio::ssl::host_name_verification(ep_.setup_.host));
    if (ep_.setup_.resumption && ep_.saved_ != nullptr) SSL_set_session(ssl, ep_.saved_);
  }
  asio::error_code ec;
  s_.handshake(ep_.server_ ? asio::ssl::stream_base::server : asio::ssl::stream_base::client, ec);
  if (ec) fail("handshake: " + ec.message());
}

void asio_connection::close() {
  if (!ep_.server_ && ep_.setup_.resumption) {
    SSL_SESSION* s = SSL_get1_session(s_.native_handle());
    if (ep_.saved_ != nullptr) SSL_SESSION_free(ep_.saved_);
    ep_.saved_ = s;
  }
  asio::error_code ignored;
  s_.shutdown(ignored);  // Asio's shutdown also reads the peer's close_notify
  s_.lowest_layer().close(ignored);
}

class asio_impl final : public implementation {
 public:
  std::string name() const override { return "asio"; }
  std::string library() const override { return "openssl"; }
  std::string library_version() const override {
    return std::string(OpenSSL_version(OPENSSL_VERSION)) + ", Asio " + std::to_string(ASIO_VERSION / 100000) + "." +
           std::to_string(ASIO_VERSION / 100 % 1000) + "." + std::to_string(ASIO_VERSION % 100);
  }
  std::unique_ptr<endpoint> make_server(const setup& s) override { return std::make_unique<asio_endpoint>(s, true); }
  std::unique_ptr<endpoint> make_client(const setup& s) override { return std::make_unique<asio_endpoint>(s, false); }
};

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  bench::asio_impl impl;
  return bench::main(argc, argv, impl);
}
