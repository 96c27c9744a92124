// The wire watcher that classifies handshake failures, over arbitrary bytes in
// arbitrary pieces: it must pass every byte through unchanged and its facts
// must stay consistent.
#include <cstring>
#include <vector>

#include "common.hpp"
#include "engine/handshake_watch.hpp"
#include "io/buffer_transport.hpp"

using namespace uptls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const auto all = in.rest();
  detail::buffer_transport inner;
  detail::handshake_watch w(inner);
  std::vector<std::byte> seen;
  const std::size_t read_size = 1 + ((in.flags() >> 3) & 31);
  std::vector<std::byte> buf(read_size);
  bool stopped = false;
  while (!in.empty()) {
    UPTLS_FUZZ_CHECK(inner.feed(in.next(), 1 << 20).ok());
    // Halfway, the stream would take the watcher out of the path.
    if (in.flag(7) && !stopped && seen.size() * 2 >= all.size()) {
      w.stop();
      stopped = true;
    }
    for (;;) {
      auto r = w.read_some(buf);
      if (!r.ok()) {
        UPTLS_FUZZ_CHECK(r.would_block());
        break;
      }
      UPTLS_FUZZ_CHECK(*r > 0 && *r <= buf.size());
      seen.insert(seen.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
    }
  }
  inner.feed_eof();
  auto r = w.read_some(buf);
  UPTLS_FUZZ_CHECK(r.ok() && *r == 0);
  // Every byte passed through unchanged.
  UPTLS_FUZZ_CHECK(seen.size() == all.size());
  UPTLS_FUZZ_CHECK(all.empty() || std::memcmp(seen.data(), all.data(), all.size()) == 0);
  const auto& f = w.facts();
  UPTLS_FUZZ_CHECK(f.any_byte == !all.empty() || stopped);
  UPTLS_FUZZ_CHECK(f.first_alert >= -1 && f.first_alert <= 255);
  UPTLS_FUZZ_CHECK(f.plain_alert >= -1 && f.plain_alert <= 255);
  // An alert counts as "first" only before any handshake record, and a byte
  // stream that is not TLS has neither.
  if (f.not_tls) UPTLS_FUZZ_CHECK(!f.handshake_seen && !f.framed);
  if (!all.empty() && !stopped) {
    const auto first = static_cast<std::uint8_t>(all[0]);
    if (first == 22 && f.handshake_seen) UPTLS_FUZZ_CHECK(f.first_alert == -1);
  }
  // Writes pass through and count as moved bytes.
  const auto before = w.bytes_moved();
  const std::byte out[3] = {std::byte{1}, std::byte{2}, std::byte{3}};
  auto wr = w.write_some(out);
  UPTLS_FUZZ_CHECK(wr.ok() && *wr == 3);
  UPTLS_FUZZ_CHECK(w.bytes_moved() >= before);
  return 0;
}
