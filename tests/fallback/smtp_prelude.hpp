// SMTP for the ladder tests: the prelude (protocols/smtp's STARTTLS dialogue, a new
// one per attempt: core knows nothing of SMTP), and the check of a stream it won.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ladder_support.hpp"
#include "support.hpp"
#include "uptls/fallback.hpp"
#include "uptls/smtp.hpp"

namespace uptls::test {

// Greeting, EHLO, STARTTLS, 220, with TLS required: nothing else is ever sent.
inline prelude smtp_starttls(std::string ehlo_name = "localhost") {
  smtp::client_options opts;
  opts.ehlo_name = std::move(ehlo_name);
  opts.mode = smtp::tls_mode::required;
  return smtp::starttls_prelude(opts);
}

// request_to() over SMTP STARTTLS: the prelude says EHLO client.test, lines are SMTP's.
inline fallback_request smtp_request_to(std::uint16_t port, std::vector<rung> ladder) {
  fallback_request r = request_to(port, std::move(ladder));
  r.before_tls = smtp_starttls("client.test");
  r.stream_opts = smtp::line_limits(r.stream_opts);
  return r;
}

// EHLO over the new TLS session; the server must not offer STARTTLS again.
inline void expect_ehlo_over_tls(stream& s) {
  ASSERT_EQ(s.write("EHLO client.test\r\n"), std::error_code{});  // ok (the stream handed back blocks)
  std::string line;
  bool starttls = false;
  for (int i = 0; i < 50; ++i) {
    const result<std::string_view> got = s.read_line();
    ASSERT_TRUE(got.ok()) << to_string(got);
    line = *got;
    ASSERT_EQ(line.rfind("250", 0), 0u) << line;
    if (line.find("STARTTLS") != std::string::npos) starttls = true;
    if (line.rfind("250 ", 0) == 0) break;
  }
  EXPECT_EQ(line.rfind("250 ", 0), 0u);
  EXPECT_FALSE(starttls);
  ASSERT_EQ(s.write("QUIT\r\n"), std::error_code{});
  const result<std::string_view> bye = s.read_line();
  ASSERT_TRUE(bye.ok()) << to_string(bye);
  EXPECT_EQ(bye->rfind("221", 0), 0u) << *bye;
}

}  // namespace uptls::test
