// Every client backend against every server backend over IMAP STARTTLS: the
// uptls client logs in, selects INBOX and fetches a message from the uptls
// server, and each side names the backend it ran on.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace uptls::test::imap {
namespace {

TEST(ImapMatrix, EveryClientBackendAgainstEveryServerBackend) {
  for (const backend* sb : backends()) {
    for (const backend* cb : backends()) {
      SCOPED_TRACE(std::string(cb->name()) + " client, " + std::string(sb->name()) + " server");
      uptls::imap::server_options o = with_tls(true);
      o.tls = make_ctx(*sb, server_config(), role::server);
      server_run srv(o);
      client c(client_to(srv.port()), uptls::imap::client_options{});
      ASSERT_EQ(c.open(make_ctx(*cb, client_config(), role::client), localhost()), std::error_code{});
      ASSERT_TRUE(c.connection().is_tls());
      EXPECT_EQ(c.connection().session()->backend, cb->name());
      ASSERT_EQ(c.login(mail_store::user, mail_store::password), std::error_code{});
      ASSERT_EQ(c.select("INBOX"), std::error_code{});
      ASSERT_EQ(c.fetch(1), std::error_code{});
      EXPECT_EQ(c.unit().message(), inbox_messages()[0]);
      EXPECT_EQ(c.logout(), std::error_code{});
      EXPECT_EQ(srv.finish(), std::error_code{});
      const auto logins = srv.store().logins();
      ASSERT_EQ(logins.size(), 1u);
      EXPECT_TRUE(logins[0].over_tls);
    }
  }
}

}  // namespace
}  // namespace uptls::test::imap
