// SMTP's reply parser (client side): reply_reader over a buffer-driven stream,
// one reply after another, in arbitrary pieces. Each reply it accepts has one
// code from 200 to 599 on every line and a bounded number of lines.
#include "common.hpp"
#include "smtp/dialogue.hpp"

using namespace uptls;
namespace sd = uptls::smtp::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  stream s = stream::buffer_driven(smtp::line_limits({.io_timeout = std::chrono::minutes(10)}));
  sd::reply_reader reader;
  smtp::reply r;
  std::size_t traced = 0;
  const trace_fn trace = [&](std::string_view dir, std::string_view line) {
    UPTLS_FUZZ_CHECK(dir == "S");
    UPTLS_FUZZ_CHECK(line.size() < smtp::max_line);
    ++traced;
  };
  bool eof = false;
  for (int guard = 0; guard < 100'000; ++guard) {
    auto got = reader.read(s, r, trace);
    if (got.would_block()) {
      if (eof) UPTLS_FUZZ_CHECK(!"a reply read waits after the end of the stream");
      if (!fuzz::feed_next(s, in)) {
        s.feed_eof();
        eof = true;
      }
      continue;
    }
    if (got.ok()) {
      UPTLS_FUZZ_CHECK(r.code >= 200 && r.code <= 599);
      UPTLS_FUZZ_CHECK(!r.lines.empty() && r.lines.size() <= sd::max_reply_lines);
      continue;
    }
    const auto e = got.error();
    if (e == make_error_code(errc::eof) || e == make_error_code(errc::incomplete_line)) break;
    UPTLS_FUZZ_CHECK(e == make_error_code(errc::protocol_error));
    // The reader starts afresh after a malformed reply; keep reading.
  }
  (void)traced;
  return 0;
}
