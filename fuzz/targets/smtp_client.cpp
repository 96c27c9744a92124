// The SMTP/LMTP client against arbitrary server bytes, over a buffer-driven
// stream: open() (greeting, EHLO/LHLO, STARTTLS, the handshake), then in
// opportunistic mode, when TLS was skipped, a mail transaction and QUIT.
// With TLS required nothing but EHLO/LHLO and STARTTLS may leave in plaintext,
// and no session may come out as TLS (the bytes are no TLS server).
#include <string>
#include <vector>

#include "common.hpp"
#include "uptls/smtp.hpp"

using namespace uptls;

namespace {
// Every CRLF-terminated line the client sent.
std::vector<std::string> lines_of(const std::string& wire) {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (std::size_t nl; (nl = wire.find("\r\n", at)) != std::string::npos; at = nl + 2) out.push_back(wire.substr(at, nl - at));
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto tls = fuzz::make_context("", role::client);
  fuzz::input in(data, size);
  smtp::client_options copts;
  copts.proto = in.flag(3) ? smtp::dialect::lmtp : smtp::dialect::smtp;
  copts.mode = in.flag(4) ? smtp::tls_mode::opportunistic : smtp::tls_mode::required;
  copts.ehlo_name = "client.example";
  stream_options sopts = smtp::line_limits();
  sopts.io_timeout = std::chrono::minutes(10);
  smtp::client c(stream::buffer_driven(sopts), copts);
  std::string sent;
  bool eof = false;
  // Runs one operation to its end, feeding the server's bytes as it waits.
  auto run = [&](result<> r) {
    for (int guard = 0; r.would_block() && guard < 100'000; ++guard) {
      auto out = c.connection().output();
      sent.append(reinterpret_cast<const char*>(out.data()), out.size());
      c.connection().consume_output(out.size());
      if (!fuzz::feed_next(c.connection(), in)) {
        if (eof) UPTLS_FUZZ_CHECK(!"the client waits after the end of the stream");
        c.connection().feed_eof();
        eof = true;
      }
      r = c.resume();
    }
    auto out = c.connection().output();
    sent.append(reinterpret_cast<const char*>(out.data()), out.size());
    c.connection().consume_output(out.size());
    UPTLS_FUZZ_CHECK(!r.would_block());
    return r;
  };
  peer_options peer;
  peer.server_name = "localhost";
  const auto opened = run(c.open(tls, peer));
  // The bytes are no TLS server: the upgrade cannot have happened.
  UPTLS_FUZZ_CHECK(!c.connection().is_tls());
  if (copts.mode == smtp::tls_mode::required) {
    UPTLS_FUZZ_CHECK(!opened.ok());
    const std::string hello = copts.proto == smtp::dialect::lmtp ? "LHLO " : "EHLO ";
    // The handshake's bytes follow STARTTLS on the wire; only lines before it count.
    const auto cut = sent.find("STARTTLS\r\n");
    for (const auto& line : lines_of(cut == std::string::npos ? sent : sent.substr(0, cut + 10)))
      UPTLS_FUZZ_CHECK(line.rfind(hello, 0) == 0 || line == "STARTTLS");
    return 0;
  }
  if (!opened.ok()) return 0;
  UPTLS_FUZZ_CHECK(c.tls_skipped());
  const auto e = c.tls_skip_reason();
  UPTLS_FUZZ_CHECK(e == make_error_code(errc::starttls_not_offered) || e == make_error_code(errc::starttls_refused));
  const auto mailed = run(c.send_mail("a@example.org", {"b@example.org", "c@example.org"}, "Subject: x\n\n.hi\n"));
  if (copts.proto == smtp::dialect::lmtp && mailed.ok()) {
    // Delivered means every recipient got a 2xx.
    UPTLS_FUZZ_CHECK(c.recipient_replies().size() == 2);
    for (int code : c.recipient_replies()) UPTLS_FUZZ_CHECK(code >= 200 && code < 300);
  }
  if (mailed.ok()) (void)run(c.quit());
  return 0;
}
