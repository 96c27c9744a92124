// The plaintext line reader of uptls::stream, buffer-driven: arbitrary bytes in
// arbitrary pieces, lines and raw reads interleaved, then the end of the stream.
// Every line is shorter than the limit and holds no LF; the stream ends with
// eof or incomplete_line, never a hang.
#include "common.hpp"

using namespace uptls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  static constexpr std::size_t limits[] = {4096, 8, 1000, 64};
  stream_options opts;
  opts.max_line = limits[(in.flags() >> 3) & 3];
  opts.io_timeout = std::chrono::minutes(10);
  stream s = stream::buffer_driven(opts);
  const bool raw_reads = in.flag(5);
  std::size_t fed = 0;
  std::size_t taken = 0;
  bool ended = false;
  // One pass: read until the stream would block or ends.
  auto read_all = [&] {
    for (int guard = 0; guard < 100'000; ++guard) {
      if (raw_reads && (taken & 1) != 0) {
        std::byte buf[5];
        auto r = s.read_some(buf);
        if (r.would_block()) return;
        if (!r.ok()) { fuzz::check_failure(s, r.error()); ended = true; return; }
        if (*r == 0) { ended = true; return; }
        taken += *r;
        continue;
      }
      auto r = s.read_line();
      if (r.would_block()) return;
      if (!r.ok()) {
        if (r.error() == make_error_code(errc::line_too_long)) {
          UPTLS_FUZZ_CHECK(s.current() == stream::state::plaintext);
          continue;
        }
        const auto e = r.error();
        UPTLS_FUZZ_CHECK(e == make_error_code(errc::eof) || e == make_error_code(errc::incomplete_line));
        ended = true;
        return;
      }
      UPTLS_FUZZ_CHECK(r->size() < opts.max_line);
      UPTLS_FUZZ_CHECK(r->find('\n') == std::string_view::npos);
      taken += r->size() + 1;
    }
    UPTLS_FUZZ_CHECK(!"the reader loops without end");
  };
  while (!ended && !in.empty()) {
    const auto bytes = in.rest().first(std::min(in.chunk(), in.rest().size()));
    fed += bytes.size();
    UPTLS_FUZZ_CHECK(fuzz::feed_next(s, in));
    UPTLS_FUZZ_CHECK(s.buffered() <= fed);
    read_all();
  }
  if (!ended) {
    s.feed_eof();
    read_all();
    UPTLS_FUZZ_CHECK(ended);  // after the end of the stream nothing would block
  }
  (void)s.close();
  return 0;
}
