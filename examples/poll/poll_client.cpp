// uptls-example-poll-client: an SMTP client on a non-blocking stream, driven by
// a plain poll() loop, as an event loop of your own would drive it.
//
//   uptls-example-poll-client HOST PORT CA_FILE [SERVER_NAME]
//
// Every uptls call returns at once: ok, failed, or would-block with what it
// waits for (read or write). The loop polls the stream's socket for that, at
// most until the stream's next deadline, and calls resume(). A deadline that
// passes makes the call fail with errc::timeout itself, so the loop needs no
// timer of its own. The same loop over many sockets serves many connections.
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "uptls/smtp.hpp"
#include "uptls/uptls.hpp"

namespace {

long wakeups = 0;  // how often poll() returned before an operation finished

// Runs one client operation to its end: `r` is what starting it returned.
uptls::result<> drive(uptls::smtp::client& c, uptls::result<> r) {
  while (r.would_block()) {
    const uptls::stream& s = c.connection();
    pollfd p{s.native_handle(), static_cast<short>(r.wants() == uptls::wait_for::read ? POLLIN : POLLOUT), 0};
    int timeout_ms = -1;
    if (const auto deadline = s.next_deadline()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - uptls::clock::now());
      timeout_ms = static_cast<int>(std::max<long long>(0, left.count()));
    }
    (void)poll(&p, 1, timeout_ms);  // ready, or the deadline: resume() tells which
    ++wakeups;
    r = c.resume();
  }
  return r;
}

int fail(const char* what, std::error_code ec) {
  std::printf("%s failed: %s\n", what, ec.message().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s HOST PORT CA_FILE [SERVER_NAME]\n", argv[0]);
    return 2;
  }
  const std::string server_name = argc > 4 ? argv[4] : argv[1];
  uptls::tls_config cfg;
  cfg.ca_file = argv[3];
  auto ctx = uptls::backends().front()->make_context(cfg, uptls::role::client);
  if (!ctx) return fail("the TLS configuration", ctx.error());

  // wait_for_connect = false: tcp_connect returns while the connection is still
  // being made; the first write waits (would-block) until it is up.
  auto conn = uptls::tcp_connect(argv[1], static_cast<std::uint16_t>(std::atoi(argv[2])),
                                 {.connect_timeout = std::chrono::seconds(5), .wait_for_connect = false});
  if (!conn) return fail("connecting", conn.error());
  uptls::stream_options opts = uptls::smtp::line_limits();
  opts.io_timeout = std::chrono::seconds(10);
  opts.mode = uptls::io_mode::non_blocking;  // calls never wait: they say what they wait for

  uptls::smtp::client_options copts;
  copts.ehlo_name = "poll.example";
  copts.trace = [](std::string_view dir, std::string_view line) {
    std::printf("%.*s: %.*s\n", static_cast<int>(dir.size()), dir.data(), static_cast<int>(line.size()), line.data());
  };
  uptls::smtp::client c(uptls::stream(std::move(conn).value(), opts), copts);

  // Each operation starts with its own call, then drive() resumes it.
  if (const auto r = drive(c, c.open(*ctx, uptls::peer_options{server_name})); !r) return fail("STARTTLS", r.error());
  if (const auto r = drive(c, c.send_mail("poll@example.org", {"bob@example.org"}, "Subject: poll\r\n\r\nDriven by poll().\r\n")); !r)
    return fail("sending", r.error());
  std::printf("accepted: %d\n", c.last_reply().code);
  if (const auto r = drive(c, c.quit()); !r) return fail("QUIT", r.error());
  std::printf("done after %ld poll() wake-ups, never blocked in uptls\n", wakeups);
  return 0;
}
