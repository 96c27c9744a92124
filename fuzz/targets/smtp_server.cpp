// The SMTP/LMTP server's command parser: server_session over a buffer-driven
// stream fed arbitrary client bytes in arbitrary pieces. The session ends
// (never waits) once the bytes end; every message it delivers is well formed
// (CRLF line ends only, paths without <> or control octets); with TLS required
// nothing is delivered at all (the bytes cannot finish a handshake).
#include "common.hpp"
#include "uptls/smtp.hpp"

using namespace uptls;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto tls = fuzz::make_context("", role::server);
  fuzz::input in(data, size);
  auto opts = std::make_shared<smtp::server_options>();
  opts->hostname = "mx.example";
  opts->tls = in.flag(5) ? nullptr : tls;
  opts->require_tls = in.flag(4) && opts->tls != nullptr;
  opts->proto = in.flag(3) ? smtp::dialect::lmtp : smtp::dialect::smtp;
  opts->max_message = 2048;
  opts->max_recipients = 4;
  opts->max_errors = in.flag(6) ? 3 : 50;
  int delivered = 0;
  const smtp::message_sink sink = [&](const smtp::message& m) {
    ++delivered;
    UPTLS_FUZZ_CHECK(!m.over_tls);
    UPTLS_FUZZ_CHECK(!opts->require_tls);
    UPTLS_FUZZ_CHECK(!m.to.empty() && m.to.size() <= opts->max_recipients);
    UPTLS_FUZZ_CHECK(m.data.size() <= opts->max_message);
    for (const auto& p : m.to) UPTLS_FUZZ_CHECK(p.find_first_of("<>\r\n") == std::string::npos);
    UPTLS_FUZZ_CHECK(m.from.find_first_of("<>\r\n") == std::string::npos);
    for (std::size_t i = 0; i < m.data.size(); ++i) {
      if (m.data[i] == '\n') UPTLS_FUZZ_CHECK(i > 0 && m.data[i - 1] == '\r');
      if (m.data[i] == '\r') UPTLS_FUZZ_CHECK(i + 1 < m.data.size() && m.data[i + 1] == '\n');
    }
  };
  stream_options sopts = smtp::line_limits();
  sopts.io_timeout = std::chrono::minutes(10);
  smtp::server_session session(stream::buffer_driven(sopts), opts, sink);
  auto r = session.resume();
  bool eof = false;
  for (int guard = 0; r.would_block() && guard < 100'000; ++guard) {
    fuzz::drain(session.connection());
    // A write wait (a yield after pipelined commands, or output to send) is
    // resumed without new bytes; a read wait gets the next piece.
    if (r.wants() == wait_for::read) {
      if (!fuzz::feed_next(session.connection(), in)) {
        if (eof) UPTLS_FUZZ_CHECK(!"the session waits for input after the end of the stream");
        session.connection().feed_eof();
        eof = true;
      }
    }
    r = session.resume();
  }
  fuzz::drain(session.connection());
  UPTLS_FUZZ_CHECK(!r.would_block());
  UPTLS_FUZZ_CHECK(session.done());
  if (opts->require_tls) UPTLS_FUZZ_CHECK(delivered == 0);
  // Once ended, the session says the same again.
  const auto again = session.resume();
  UPTLS_FUZZ_CHECK(again.error() == r.error());
  return 0;
}
