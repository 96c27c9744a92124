// The upgrade boundary: plaintext lines up to a go-ahead ("220" for a client,
// "STARTTLS" for a server, as in SMTP), then start_tls() over whatever follows,
// with arbitrary bytes around the go-ahead and arbitrary pieces. Plaintext that
// arrived behind the go-ahead must be refused as an injection, and a handshake
// against bytes that are no TLS peer must never be reported as done.
#include "common.hpp"

using namespace uptls;

namespace {
struct contexts {
  std::shared_ptr<const context> client = fuzz::make_context("", role::client);
  std::shared_ptr<const context> server = fuzz::make_context("", role::server);
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const contexts ctx;
  fuzz::input in(data, size);
  const bool as_server = in.flag(3);
  stream_options opts;
  opts.max_line = 1000;
  opts.io_timeout = std::chrono::minutes(10);
  stream s = stream::buffer_driven(opts);

  // The plaintext part: lines until the go-ahead.
  bool go = false;
  bool ended = false;
  while (!go && !ended) {
    for (;;) {
      auto r = s.read_line();
      if (r.would_block()) break;
      if (!r.ok()) {
        if (r.error() == make_error_code(errc::line_too_long)) continue;
        ended = true;
        break;
      }
      const std::string_view line = *r;
      if (as_server ? line == "STARTTLS" : line.substr(0, 3) == "220") {
        go = true;
        break;
      }
    }
    if (go || ended) break;
    if (!fuzz::feed_next(s, in)) {
      s.feed_eof();
      auto r = s.read_line();
      UPTLS_FUZZ_CHECK(!r.would_block());
      if (!r.ok()) ended = true;
      else go = as_server ? *r == "STARTTLS" : r->substr(0, 3) == "220";
    }
  }
  if (!go) return 0;

  const bool injected = s.buffered() > 0;
  peer_options peer;
  peer.server_name = "localhost";
  auto r = s.start_tls(as_server ? ctx.server : ctx.client, peer);
  if (injected) {
    // Bytes the peer sent behind the go-ahead before our handshake began.
    UPTLS_FUZZ_CHECK(r.error() == make_error_code(errc::plaintext_injection));
    UPTLS_FUZZ_CHECK(s.current() == stream::state::failed);
    return 0;
  }
  for (int guard = 0; r.would_block() && guard < 100'000; ++guard) {
    fuzz::drain(s);
    if (!fuzz::feed_next(s, in)) {
      s.feed_eof();
      r = s.start_tls(as_server ? ctx.server : ctx.client, peer);
      break;
    }
    r = s.start_tls(as_server ? ctx.server : ctx.client, peer);
  }
  // No byte sequence without the keys completes a handshake with us.
  UPTLS_FUZZ_CHECK(!r.ok());
  UPTLS_FUZZ_CHECK(!r.would_block());
  UPTLS_FUZZ_CHECK(s.current() == stream::state::failed);
  fuzz::check_failure(s, r.error());
  UPTLS_FUZZ_CHECK(r.error().category() == uptls::category());
  (void)s.close();
  return 0;
}
