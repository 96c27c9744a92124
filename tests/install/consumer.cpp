// A program built against an installed uptls with nothing but
// `pkg-config --cflags --libs uptls`: one SMTP STARTTLS session over loopback,
// a uptls server and a uptls client, the client verifying the server.
//   consumer CA-FILE SERVER-CERT SERVER-KEY
#include <uptls/smtp.hpp>
#include <uptls/uptls.hpp>

#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: consumer CA-FILE SERVER-CERT SERVER-KEY\n");
    return 2;
  }
  const uptls::backend& b = *uptls::backends().front();
  uptls::tls_config scfg;
  scfg.cert_file = argv[2];
  scfg.key_file = argv[3];
  uptls::tls_config ccfg;
  ccfg.ca_file = argv[1];
  auto sctx = b.make_context(scfg, uptls::role::server);
  auto cctx = b.make_context(ccfg, uptls::role::client);
  if (!sctx || !cctx) {
    std::fprintf(stderr, "contexts: %s / %s\n", uptls::to_string(sctx).c_str(), uptls::to_string(cctx).c_str());
    return 1;
  }
  auto listener = uptls::tcp_listener::listen("127.0.0.1", 0);
  if (!listener) return 1;
  std::string delivered;
  std::thread server([&] {
    auto conn = listener->accept(std::chrono::seconds(10));
    if (!conn) return;
    uptls::smtp::server_options o;
    o.tls = *sctx;
    (void)uptls::smtp::serve(uptls::stream(std::move(conn).value(), uptls::smtp::line_limits()), o,
                             [&](const uptls::smtp::message& m) { delivered = m.data; });
  });
  auto conn = uptls::tcp_connect("127.0.0.1", listener->port());
  if (!conn) return 1;
  uptls::smtp::client c(uptls::stream(std::move(conn).value(), uptls::smtp::line_limits()), {});
  uptls::result<> r = c.open(*cctx, {"localhost"});
  if (r) r = c.send_mail("consumer@example.org", {"rcpt@example.org"}, "installed\r\n");
  const uptls::session_info* info = c.connection().session();
  const std::string facts = info != nullptr ? std::string(uptls::to_string(info->version)) : std::string("no TLS");
  if (r) r = c.quit();
  server.join();
  if (!r || delivered != "installed\r\n") {
    std::fprintf(stderr, "session failed: %s\n", uptls::to_string(r).c_str());
    return 1;
  }
  std::printf("STARTTLS session ok over %.*s, %s\n", static_cast<int>(b.name().size()), b.name().data(), facts.c_str());
  return 0;
}
