// uptls-demo-smtp: for every compiled-in backend, a uptls SMTP server with
// STARTTLS on a loopback port and the uptls SMTP client delivering one message
// to it, with the dialogue, the negotiated TLS parameters and what arrived.
//
// Usage: uptls-demo-smtp --certs DIR [--profile strict|legacy]
//   DIR holds the test PKI (ca.pem, server-rsa.pem, server-rsa.key).
// Exits 0 only when every backend delivered its message over TLS.
#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "uptls/smtp.hpp"
#include "uptls/uptls.hpp"

namespace {

using namespace std::chrono_literals;
namespace smtp = uptls::smtp;

struct args {
  std::string certs;
  uptls::profile security = uptls::profile::strict;
};

bool parse(int argc, char** argv, args& out) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--certs" && i + 1 < argc) {
      out.certs = argv[++i];
    } else if (a == "--profile" && i + 1 < argc) {
      const std::string p = argv[++i];
      if (p != "strict" && p != "legacy") return false;
      out.security = p == "strict" ? uptls::profile::strict : uptls::profile::legacy;
    } else {
      return false;
    }
  }
  return !out.certs.empty();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out.empty() ? "(none)" : out;
}

void show_session(const uptls::session_info& s, const std::string& server_saw_sni) {
  std::printf("  -- negotiated\n");
  std::printf("     backend          %s\n", s.backend.c_str());
  std::printf("     version          %s\n", std::string(uptls::to_string(s.version)).c_str());
  std::printf("     cipher suite     %s (0x%04X)\n", s.suite.name.c_str(), s.suite.id);
  std::printf("     key exchange     %s\n", std::string(uptls::to_string(s.kx)).c_str());
  std::printf("     group            %s\n", std::string(uptls::to_string(s.group)).c_str());
  std::printf("     forward secrecy  %s\n", s.forward_secret ? "yes" : "NO");
  std::printf("     verified         %s\n", s.verified ? "yes" : "NO");
  // Parsed here, on first use: a session that never asks never pays for it.
  if (const uptls::certificate_info* peer = s.peer_certificate()) {
    std::printf("     peer subject     %s\n", peer->subject.c_str());
    std::printf("     peer issuer      %s\n", peer->issuer.c_str());
    std::printf("     peer DNS names   %s\n", join(peer->dns_names).c_str());
    std::printf("     peer key         %s %u bits, SHA-256 %s\n", std::string(uptls::to_string(peer->key)).c_str(),
                peer->key_bits, peer->sha256.c_str());
  }
  std::printf("     SNI sent         %s (server received: %s)\n", s.sni.empty() ? "(none)" : s.sni.c_str(),
              server_saw_sni.empty() ? "(none)" : server_saw_sni.c_str());
  std::printf("     ALPN             %s\n", s.alpn.empty() ? "(none)" : s.alpn.c_str());
}

// One backend as both server and client. True when the message arrived over TLS.
bool run(const uptls::backend& b, const args& a) {
  std::printf("\n=== %s (%s), profile %s ===\n", std::string(b.name()).c_str(),
              std::string(b.library_version()).c_str(), std::string(uptls::to_string(a.security)).c_str());

  uptls::tls_config server_cfg;
  server_cfg.security = a.security;
  server_cfg.cert_file = a.certs + "/server-rsa.pem";
  server_cfg.key_file = a.certs + "/server-rsa.key";
  uptls::tls_config client_cfg;
  client_cfg.security = a.security;
  client_cfg.ca_file = a.certs + "/ca.pem";
  auto server_ctx = b.make_context(server_cfg, uptls::role::server);
  auto client_ctx = b.make_context(client_cfg, uptls::role::client);
  if (!server_ctx || !client_ctx) {
    const std::error_code ec = server_ctx ? client_ctx.error() : server_ctx.error();
    std::printf("  cannot make the TLS contexts: %s\n", ec.message().c_str());
    return false;
  }
  auto listener = uptls::tcp_listener::listen("127.0.0.1", 0);
  if (!listener) {
    std::printf("  cannot listen on 127.0.0.1: %s\n", listener.error().message().c_str());
    return false;
  }
  const uptls::socket_options dial{.connect_timeout = 5s};
  // Each read or write of either end waits at most 10 s for the peer.
  uptls::stream_options stream_opts = smtp::line_limits();
  stream_opts.io_timeout = 10s;
  std::printf("  server: uptls SMTP on 127.0.0.1:%u with STARTTLS (%s)\n\n", listener->port(),
              std::string(b.name()).c_str());

  std::vector<smtp::message> delivered;
  std::error_code server_ended;
  std::thread server([&] {
    auto conn = listener->accept(10s);
    if (!conn) {
      server_ended = conn.error();
      return;
    }
    smtp::server_options opts;
    opts.hostname = "mx.demo.localhost";
    opts.tls = *server_ctx;
    opts.require_tls = true;
    server_ended = smtp::serve(uptls::stream(std::move(conn).value(), stream_opts), opts,
                               [&](const smtp::message& m) { delivered.push_back(m); })
                       .error();
  });

  bool ok = false;
  {
    auto conn = uptls::tcp_connect("127.0.0.1", listener->port(), dial);
    if (!conn) {
      std::printf("  cannot connect: %s\n", conn.error().message().c_str());
    } else {
      smtp::client_options opts;
      opts.ehlo_name = "client.demo.localhost";
      opts.mode = smtp::tls_mode::required;
      opts.trace = [](std::string_view dir, std::string_view line) {
        std::printf("  %.*s: %.*s\n", static_cast<int>(dir.size()), dir.data(), static_cast<int>(line.size()),
                    line.data());
      };
      // Blocking streams (the default mode): every call runs to its end.
      smtp::client c(uptls::stream(std::move(conn).value(), stream_opts), opts);
      std::error_code ec = c.open(*client_ctx, uptls::peer_options{"localhost"}).error();
      if (ec) {
        std::printf("  !! STARTTLS failed: %s\n", ec.message().c_str());
      } else {
        const std::string body = "From: <alice@demo.localhost>\r\nTo: <bob@demo.localhost>\r\nSubject: uptls demo via " +
                                 std::string(b.name()) + "\r\n\r\nHello over STARTTLS.\r\n.a line that starts with a dot\r\n";
        ec = c.send_mail("alice@demo.localhost", {"bob@demo.localhost"}, body).error();
        if (ec) std::printf("  !! sending failed: %s\n", ec.message().c_str());
        const uptls::session_info session = *c.connection().session();
        (void)c.quit();
        server.join();
        const std::string sni = delivered.empty() ? std::string{} : delivered.front().session.sni;
        std::printf("\n");
        show_session(session, sni);
        ok = !ec;
      }
    }
  }
  if (server.joinable()) server.join();

  std::printf("  -- server delivered %zu message(s); session ended: %s\n", delivered.size(),
              server_ended ? server_ended.message().c_str() : "QUIT");
  for (const auto& m : delivered) {
    std::printf("     from <%s> to <%s>, helo %s, over TLS: %s\n", m.from.c_str(), join(m.to).c_str(), m.helo.c_str(),
                m.over_tls ? "yes" : "NO");
    std::string_view data = m.data;
    while (!data.empty()) {
      const std::size_t eol = data.find("\r\n");
      std::printf("     | %.*s\n", static_cast<int>(std::min(eol, data.size())), data.data());
      if (eol == std::string_view::npos) break;
      data.remove_prefix(eol + 2);
    }
  }
  ok = ok && delivered.size() == 1 && delivered.front().over_tls;
  std::printf("  result: %s\n", ok ? "DELIVERED over TLS" : "FAILED");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr, "usage: %s --certs DIR [--profile strict|legacy]\n", argv[0]);
    return 2;
  }
  std::printf("uptls SMTP STARTTLS demo: one server and one client per backend, on 127.0.0.1\n");
  int failed = 0;
  std::vector<std::string> summary;
  for (const uptls::backend* b : uptls::backends()) {
    const bool ok = run(*b, a);
    failed += ok ? 0 : 1;
    summary.push_back(std::string(b->name()) + (ok ? ": delivered" : ": FAILED"));
  }
  std::printf("\n=== summary: %s ===\n", join(summary).c_str());
  return failed == 0 ? 0 : 1;
}
