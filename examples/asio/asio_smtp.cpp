// uptls-example-asio: an SMTP server and an SMTP client with STARTTLS on one
// Asio io_context, in one thread.
//
//   uptls-example-asio CA_FILE CERT KEY
//
// uptls never touches an Asio socket. Each side has a buffer-driven stream: the
// bytes Asio receives are fed into it, the bytes it has to send are written by
// Asio. uptls::asio::async_drive() does that pumping for one resumable call (a
// dialogue's resume(), or a client operation) and calls its handler when the
// call has ended. Prints both sides' dialogue; exits 0 when the message arrived
// over TLS and both sides ended cleanly.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "uptls/asio.hpp"
#include "uptls/smtp.hpp"
#include "uptls/uptls.hpp"

namespace {

using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

uptls::smtp::trace_fn tracer(const char* who) {
  return [who](std::string_view dir, std::string_view line) {
    std::printf("%s %.*s: %.*s\n", who, static_cast<int>(dir.size()), dir.data(), static_cast<int>(line.size()),
                line.data());
  };
}

uptls::stream_options stream_opts() {
  uptls::stream_options o = uptls::smtp::line_limits();
  o.io_timeout = 10s;  // async_drive arms a timer at the stream's deadline
  return o;
}

// The client: each operation (open, send_mail, quit) starts with its own call
// and is then driven to its end; its handler starts the next one.
struct client {
  tcp::socket sock;
  uptls::smtp::client smtp;
  uptls::result<> outcome = uptls::errc::internal;  // until the last step ends

  explicit client(asio::io_context& io) : sock(io), smtp(uptls::stream::buffer_driven(stream_opts()), options()) {}

  static uptls::smtp::client_options options() {
    uptls::smtp::client_options o;
    o.ehlo_name = "asio-client.example";
    o.trace = tracer("client");
    return o;
  }

  // Drives the operation whose first call returned `first`; then `next()` on success.
  template <class Next>
  void step(uptls::result<> first, Next next) {
    auto started = std::make_shared<bool>(false);
    uptls::asio::async_drive(
        sock, smtp.connection(),
        [this, first, started] {
          if (*started) return smtp.resume();
          *started = true;
          return first;  // the first call already made progress; hand its result over
        },
        [this, next](uptls::result<> r) {
          if (!r) {
            outcome = r;
            return;
          }
          next();
        });
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s CA_FILE CERT KEY\n", argv[0]);
    return 2;
  }
  const uptls::backend& b = *uptls::backends().front();
  uptls::tls_config server_cfg;
  server_cfg.cert_file = argv[2];
  server_cfg.key_file = argv[3];
  uptls::tls_config client_cfg;
  client_cfg.ca_file = argv[1];
  auto server_ctx = b.make_context(server_cfg, uptls::role::server);
  auto client_ctx = b.make_context(client_cfg, uptls::role::client);
  if (!server_ctx || !client_ctx) {
    std::printf("TLS configuration failed: %s\n", (server_ctx ? client_ctx.error() : server_ctx.error()).message().c_str());
    return 1;
  }

  asio::io_context io;

  // The server: accept one connection and run an SMTP session on it.
  auto opts = std::make_shared<uptls::smtp::server_options>();
  opts->hostname = "asio-server.example";
  opts->tls = *server_ctx;
  opts->require_tls = true;
  opts->trace = tracer("server");
  int delivered_over_tls = 0;
  uptls::result<> server_end = uptls::errc::internal;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket server_sock(io);
  std::unique_ptr<uptls::smtp::server_session> session;
  acceptor.async_accept(server_sock, [&](const std::error_code& ec) {
    if (ec) return;
    session = std::make_unique<uptls::smtp::server_session>(
        uptls::stream::buffer_driven(stream_opts()), opts,
        [&](const uptls::smtp::message& m) { delivered_over_tls += m.over_tls ? 1 : 0; });
    uptls::asio::async_drive(server_sock, session->connection(), [&] { return session->resume(); },
                             [&](uptls::result<> why) { server_end = why; });
  });

  // The client: connect, then open (STARTTLS), send_mail, quit, each driven in turn.
  client c(io);
  c.sock.async_connect(acceptor.local_endpoint(), [&](const std::error_code& ec) {
    if (ec) {
      std::printf("connect failed: %s\n", ec.message().c_str());
      return;
    }
    c.step(c.smtp.open(*client_ctx, uptls::peer_options{"localhost"}), [&] {
      c.step(c.smtp.send_mail("asio@example.org", {"bob@example.org"}, "Subject: asio\r\n\r\nOne io_context.\r\n"),
             [&] { c.step(c.smtp.quit(), [&] { c.outcome = {}; }); });
    });
  });

  // Every wait inside has a deadline; this bound only stops a runaway example.
  io.run_for(30s);

  std::printf("client: %s\n", c.outcome ? "sent, QUIT" : c.outcome.error().message().c_str());
  std::printf("server: %d message(s) over TLS, session ended: %s\n", delivered_over_tls,
              server_end ? "QUIT" : server_end.error().message().c_str());
  return c.outcome && server_end && delivered_over_tls == 1 ? 0 : 1;
}
