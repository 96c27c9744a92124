// One backend's engine (UPTLS_FUZZ_BACKEND) fed arbitrary "TLS" bytes, as the
// client (it speaks first: the bytes answer its ClientHello) or as the server
// (the bytes are a ClientHello and what follows), through a buffer-driven
// stream and so through the wire watcher too. The handshake must fail with a
// uptls::errc, never succeed, never wait forever once the bytes end.
#include "common.hpp"

using namespace uptls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto client = fuzz::make_context(UPTLS_FUZZ_BACKEND, role::client);
  static const auto server = fuzz::make_context(UPTLS_FUZZ_BACKEND, role::server);
  fuzz::input in(data, size);
  const bool as_server = in.flag(3);
  stream_options opts;
  opts.io_timeout = std::chrono::minutes(10);
  stream s = stream::buffer_driven(opts);
  peer_options peer;
  peer.server_name = "localhost";
  const auto& ctx = as_server ? server : client;
  auto r = s.start_tls(ctx, peer);
  for (int guard = 0; r.would_block() && guard < 100'000; ++guard) {
    fuzz::drain(s);
    if (!fuzz::feed_next(s, in)) {
      s.feed_eof();
      r = s.start_tls(ctx, peer);
      break;
    }
    r = s.start_tls(ctx, peer);
  }
  fuzz::drain(s);
  UPTLS_FUZZ_CHECK(!r.ok());
  UPTLS_FUZZ_CHECK(!r.would_block());
  UPTLS_FUZZ_CHECK(s.current() == stream::state::failed);
  fuzz::check_failure(s, r.error());
  UPTLS_FUZZ_CHECK(r.error().category() == uptls::category());
  (void)s.close();
  (void)s.close();
  return 0;
}
