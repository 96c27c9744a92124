// uptls smtp-server: a uptls SMTP server that prints every dialogue line and
// every message it receives; STARTTLS when given a certificate.
#include <cstdio>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "print.hpp"
#include "uptls/smtp.hpp"
#include "uptls/stream.hpp"
#include "uptls/transport.hpp"

namespace uptls::cli {
namespace {

void print_message(const smtp::message& m) {
  std::string to;
  for (const auto& r : m.to) to += (to.empty() ? "<" : ", <") + r + ">";
  std::printf("*: message from <%s> to %s, %zu bytes, over TLS: %s\n", m.from.c_str(), to.c_str(), m.data.size(),
              m.over_tls ? "yes" : "NO");
  std::string_view data = m.data;
  while (!data.empty()) {
    const std::size_t eol = data.find("\r\n");
    const std::string_view line = data.substr(0, eol);
    std::printf("| %.*s\n", static_cast<int>(line.size()), line.data());
    if (eol == std::string_view::npos) break;
    data.remove_prefix(eol + 2);
  }
  std::fflush(stdout);
}

}  // namespace

int smtp_server_command(int argc, char** argv) {
  args a;
  a.option("--listen").option("--port").option("--cert").option("--key").option("--backend").option("--profile");
  a.option("--timeout").option("--require-tls", 0).option("--implicit", 0).option("--once", 0);
  if (!a.parse(argc, argv, 2) || !a.positional().empty()) {
    std::fprintf(stderr, "uptls smtp-server: %s\n", a.error().empty() ? "takes no positional words" : a.error().c_str());
    return 2;
  }
  const backend* library = pick_backend(a);
  const auto security = pick_profile(a);
  const auto timeout = pick_timeout(a);
  const auto port = parse_port(a.get("--port", "0"));
  if (library == nullptr || !security || !timeout || !port) return 2;
  if (a.has("--cert") != a.has("--key")) {
    std::fprintf(stderr, "uptls smtp-server: --cert and --key go together\n");
    return 2;
  }
  if ((a.has("--implicit") || a.has("--require-tls")) && !a.has("--cert")) {
    std::fprintf(stderr, "uptls smtp-server: --implicit and --require-tls need --cert and --key\n");
    return 2;
  }

  smtp::server_options opts;
  opts.require_tls = a.has("--require-tls");
  opts.trace = print_trace();
  if (a.has("--cert")) {
    tls_config cfg;
    cfg.security = *security;
    cfg.cert_file = a.get("--cert");
    cfg.key_file = a.get("--key");
    cfg.handshake_timeout = *timeout;
    auto ctx = library->make_context(cfg, role::server);
    if (!ctx) {
      print_failure(ctx.error(), nullptr);
      return 1;
    }
    opts.tls = *ctx;
  }
  const std::string host = a.get("--listen", "127.0.0.1");
  auto listener = tcp_listener::listen(host, *port);
  if (!listener) {
    print_failure(listener.error(), nullptr);
    return 1;
  }
  std::printf("*: listening on %s port %u (%s, %s)\n", host.c_str(), listener->port(),
              std::string(library->name()).c_str(),
              !opts.tls ? "no TLS" : a.has("--implicit") ? "implicit TLS" : "STARTTLS");
  std::fflush(stdout);

  for (;;) {
    auto conn = listener->accept(std::chrono::hours(24), socket_options{*timeout, *timeout});
    if (!conn) {
      if (conn.error() == errc::timeout) continue;
      print_failure(conn.error(), nullptr);
      return 1;
    }
    print_trace()("*", "connection accepted");
    stream s(std::move(conn).value(), smtp::line_limits());
    std::error_code ended;
    if (a.has("--implicit")) ended = s.start_tls(opts.tls);
    if (!ended) ended = smtp::serve(std::move(s), opts, print_message);
    print_trace()("*", ended ? "session ended: " + ended.message() : std::string("session ended with QUIT"));
    if (a.has("--once")) return ended ? 1 : 0;
  }
}

}  // namespace uptls::cli
