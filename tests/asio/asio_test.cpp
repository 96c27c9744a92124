// uptls on Asio's io_context: an async STARTTLS client and server (buffer-driven
// streams, uptls::asio::async_drive) against each other on one io_context, and
// the Asio server against openssl s_client -starttls smtp.
#include <gtest/gtest.h>

#include <future>

#include "harness.hpp"
#include "uptls/asio.hpp"

namespace uptls::test::smtp {
namespace {

using tcp = ::asio::ip::tcp;

// An SMTP server on an io_context: each accepted socket gets a buffer-driven
// stream and a server_session, driven by async_drive until the session ends.
class asio_server {
 public:
  asio_server(::asio::io_context& io, uptls::smtp::server_options opts)
      : io_(io), acceptor_(io, tcp::endpoint(::asio::ip::make_address("127.0.0.1"), 0)),
        opts_(std::make_shared<const uptls::smtp::server_options>(std::move(opts))) {
    accept();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<uptls::smtp::message> messages;
  std::vector<result<>> ended;
  void close() { acceptor_.close(); }

 private:
  struct connection {
    explicit connection(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket sock;
    std::unique_ptr<uptls::smtp::server_session> session;
  };

  void accept() {
    acceptor_.async_accept([this](const std::error_code& ec, tcp::socket sock) {
      if (ec) return;
      auto c = std::make_shared<connection>(std::move(sock));
      c->session = std::make_unique<uptls::smtp::server_session>(
          stream::buffer_driven(quick(10s)), opts_, [this](const uptls::smtp::message& m) { messages.push_back(m); });
      uptls::asio::async_drive(c->sock, c->session->connection(), [c] { return c->session->resume(); },
                               [this, c](result<> why) { ended.push_back(why); });
      accept();
    });
  }

  ::asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::shared_ptr<const uptls::smtp::server_options> opts_;
};

uptls::smtp::client_options asio_options() {
  uptls::smtp::client_options o;
  o.ehlo_name = "asio.example";
  return o;
}

// An SMTP client on an io_context: connect, open (STARTTLS), send one message,
// quit; each step driven by async_drive, the next one started by its handler.
struct asio_client {
  asio_client(::asio::io_context& io, std::uint16_t port, std::string body)
      : sock(io), c(stream::buffer_driven(quick(10s)), asio_options()), body(std::move(body)) {
    sock.async_connect(tcp::endpoint(::asio::ip::make_address("127.0.0.1"), port), [this](const std::error_code& ec) {
      if (ec) {
        outcome = errc::connection_refused;
        return;
      }
      run(c.open(client_ctx(), localhost()), [this] {
        run(c.send_mail("asio@example.org", {"rcpt@example.org"}, this->body), [this] {
          run(c.quit(), [this] { outcome = result<>{}; });
        });
      });
    });
  }

  // Drives the operation begun by `first`; on success calls then().
  template <class Then>
  void run(result<> first, Then then) {
    auto started = std::make_shared<bool>(false);
    uptls::asio::async_drive(
        sock, c.connection(),
        [this, first, started] {
          if (!*started) {
            *started = true;
            return first;
          }
          return c.resume();
        },
        [this, then](result<> r) {
          if (!r) {
            outcome = r;
            return;
          }
          then();
        });
  }

  tcp::socket sock;
  uptls::smtp::client c;
  std::string body;
  result<> outcome = errc::internal;  // until it ends
};

TEST(Asio, ClientAndServerOnOneIoContext) {
  ::asio::io_context io;
  asio_server srv(io, with_tls());
  std::vector<std::unique_ptr<asio_client>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<asio_client>(io, srv.port(), "asio " + std::to_string(i) + "\r\n.dot\r\n"));
  }
  // Bounded: every wait inside has a deadline; this stops a runaway test.
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (srv.ended.size() < clients.size() && std::chrono::steady_clock::now() < end) io.run_for(100ms);
  srv.close();
  io.run_for(100ms);
  for (const auto& c : clients) EXPECT_TRUE(c->outcome.ok()) << to_string(c->outcome);
  ASSERT_EQ(srv.messages.size(), clients.size());
  for (const auto& m : srv.messages) {
    EXPECT_TRUE(m.over_tls);
    EXPECT_EQ(m.helo, "asio.example");
    EXPECT_EQ(m.session.backend, backend_under_test().name());
    EXPECT_NE(m.data.find("\r\n.dot\r\n"), std::string::npos) << m.data;  // unstuffed again
  }
  for (const auto& why : srv.ended) EXPECT_TRUE(why.ok()) << to_string(why);
}

TEST(Asio, ServerAgainstOpensslSClient) {
  UPTLS_REQUIRE_PEER_PROGRAM(peer_program::openssl);
  ::asio::io_context io;
  asio_server srv(io, with_tls());
  std::thread loop([&] {
    const auto end = std::chrono::steady_clock::now() + 60s;
    while (srv.ended.empty() && std::chrono::steady_clock::now() < end) io.run_for(50ms);
  });
  auto peer = child::spawn({"openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:" + std::to_string(srv.port()),
                            "-CAfile", cert("ca.pem"), "-verify_return_error", "-verify_hostname", "localhost",
                            "-nocommands", "-ign_eof"});
  std::string seen;
  EXPECT_TRUE(peer->wait_for_output("Verify return code: 0 (ok)", 10s, &seen)) << seen;
  peer->write_stdin("EHLO peer.example\r\n");
  EXPECT_TRUE(peer->wait_for_output("250 HELP", 10s, &seen)) << seen;
  peer->write_stdin("MAIL FROM:<s_client@example.org>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\n");
  EXPECT_TRUE(peer->wait_for_output("354", 10s, &seen)) << seen;
  peer->write_stdin("Subject: asio\r\n\r\nfrom s_client\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(peer->wait_for_output("221", 10s, &seen)) << seen;
  loop.join();
  srv.close();
  ASSERT_EQ(srv.ended.size(), 1u);
  EXPECT_TRUE(srv.ended[0].ok()) << to_string(srv.ended[0]);
  ASSERT_EQ(srv.messages.size(), 1u);
  EXPECT_TRUE(srv.messages[0].over_tls);
  EXPECT_EQ(srv.messages[0].from, "s_client@example.org");
  EXPECT_EQ(srv.messages[0].data, "Subject: asio\r\n\r\nfrom s_client\r\n");
}

}  // namespace
}  // namespace uptls::test::smtp
