// Every client backend against every server backend over ManageSieve STARTTLS:
// the uptls client upgrades, logs in with the capabilities sent inside TLS and
// lists the scripts of the uptls server; each side names its backend.
#include <gtest/gtest.h>

#include "sieve_harness.hpp"

namespace uptls::test::sieve {
namespace {

TEST(SieveMatrix, EveryClientBackendAgainstEveryServerBackend) {
  for (const backend* sb : backends()) {
    for (const backend* cb : backends()) {
      SCOPED_TRACE(std::string(cb->name()) + " client, " + std::string(sb->name()) + " server");
      uptls::sieve::server_options o = with_tls();
      o.tls = smtp::make_ctx(*sb, server_config(), role::server);
      o.require_tls = true;
      server_run srv(o);
      client c(client_to(srv.port()));
      ASSERT_EQ(c.open(smtp::make_ctx(*cb, client_config(), role::client), localhost()), std::error_code{});
      ASSERT_TRUE(c.connection().is_tls());
      EXPECT_EQ(c.connection().session()->backend, cb->name());
      EXPECT_EQ(c.capability_value("SASL"), "PLAIN");  // offered only inside TLS
      ASSERT_EQ(c.authenticate("alice", "secret"), std::error_code{});
      ASSERT_EQ(c.listscripts(), std::error_code{});
      ASSERT_EQ(c.unit().scripts().size(), 1u);
      EXPECT_EQ(c.unit().scripts()[0].name, "vacation");
      EXPECT_EQ(c.logout(), std::error_code{});
      EXPECT_EQ(srv.finish(), std::error_code{});
    }
  }
}

}  // namespace
}  // namespace uptls::test::sieve
