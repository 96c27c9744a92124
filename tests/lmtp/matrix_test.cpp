// Every client backend against every server backend over LMTP STARTTLS: the
// uptls client delivers to two recipients of the uptls server and gets one reply
// for each; each side names the backend it ran on.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace uptls::test::smtp {
namespace {

TEST(LmtpMatrix, EveryClientBackendAgainstEveryServerBackend) {
  for (const backend* sb : backends()) {
    for (const backend* cb : backends()) {
      SCOPED_TRACE(std::string(cb->name()) + " client, " + std::string(sb->name()) + " server");
      uptls::smtp::server_options o = with_tls();
      o.tls = make_ctx(*sb, server_config(), role::server);
      o.proto = uptls::smtp::dialect::lmtp;
      o.require_tls = true;
      server_run srv(o);
      uptls::smtp::client_options co;
      co.proto = uptls::smtp::dialect::lmtp;
      client c(client_to(srv.port()), co);
      ASSERT_EQ(c.open(make_ctx(*cb, client_config(), role::client), localhost()), std::error_code{});
      EXPECT_EQ(c.connection().session()->backend, cb->name());
      ASSERT_EQ(c.send_mail("a@example.org", {"x@example.org", "y@example.org"}, "matrix\r\n"), std::error_code{});
      EXPECT_EQ(c.recipient_replies(), (std::vector<int>{250, 250}));
      EXPECT_EQ(c.quit(), std::error_code{});
      EXPECT_EQ(srv.finish(), std::error_code{});
      ASSERT_EQ(srv.messages().size(), 1u);
      EXPECT_TRUE(srv.messages()[0].over_tls);
      EXPECT_EQ(srv.messages()[0].session.backend, sb->name());
    }
  }
}

}  // namespace
}  // namespace uptls::test::smtp
