// Every client backend against every server backend over POP3 STLS: the uptls
// client logs in and fetches from the uptls server, and both sides name the
// backend they ran on.
#include <gtest/gtest.h>

#include "pop3_harness.hpp"

namespace uptls::test::pop3 {
namespace {

TEST(Pop3Matrix, EveryClientBackendAgainstEveryServerBackend) {
  for (const backend* sb : backends()) {
    for (const backend* cb : backends()) {
      SCOPED_TRACE(std::string(cb->name()) + " client, " + std::string(sb->name()) + " server");
      uptls::pop3::server_options o;
      o.tls = make_ctx(*sb, server_config(), role::server);
      o.require_tls = true;
      server_run srv(o);
      client c(client_to(srv.port()));
      ASSERT_EQ(c.open(make_ctx(*cb, client_config(), role::client)), std::error_code{});
      EXPECT_EQ(c.unit().connection().session()->backend, cb->name());
      ASSERT_EQ(c.login(user, password), std::error_code{});
      ASSERT_EQ(c.retr(2), std::error_code{});
      EXPECT_EQ(c.unit().retrieved(), messages()[1]);
      EXPECT_EQ(c.quit(), std::error_code{});
      EXPECT_EQ(srv.finish(), std::error_code{});
      EXPECT_EQ(srv.log()->logins, (std::vector<std::string>{user + "/" + password + " tls"}));
    }
  }
}

}  // namespace
}  // namespace uptls::test::pop3
