// Ladder shapes refused before anything is dialled. The rung's backend is only asked
// for its name and capabilities here, so a stand-in that declares no RSA key exchange
// shows the capability refusal even in a build whose backends all have it.
#include <gtest/gtest.h>

#include "support.hpp"  // how gtest prints a result
#include "uptls/fallback.hpp"

namespace uptls {
namespace {

class declared_only final : public backend {
 public:
  declared_only(std::string_view name, bool rsa) : name_(name) { caps_.rsa_key_exchange = rsa; }
  std::string_view name() const noexcept override { return name_; }
  std::string_view library_version() const noexcept override { return "0"; }
  const capabilities& caps() const noexcept override { return caps_; }
  result<std::shared_ptr<const context>> make_context(const tls_config&, role) const override {
    return errc::unsupported;  // never reached: the ladder is refused first
  }

 private:
  std::string_view name_;
  capabilities caps_;
};

const declared_only with_rsa("with-rsa", true);
const declared_only without_rsa("without-rsa", false);

TEST(CheckLadder, AcceptsStrictThenLegacyAndSingleRungs) {
  // ok is the empty error (a result<>, so EXPECT_FALSE would now mean "not ok")
  EXPECT_EQ(check_ladder(std::vector<rung>{{&without_rsa, profile::strict}, {&with_rsa, profile::legacy}}),
            std::error_code{});
  EXPECT_EQ(check_ladder(std::vector<rung>{{&without_rsa, profile::strict}}), std::error_code{});
  EXPECT_EQ(check_ladder(std::vector<rung>{{&with_rsa, profile::legacy}}), std::error_code{});
}

TEST(CheckLadder, RefusesLegacyWithoutRsaKeyExchange) {
  EXPECT_EQ(check_ladder(std::vector<rung>{{&with_rsa, profile::strict}, {&without_rsa, profile::legacy}}),
            errc::unsupported);
  EXPECT_EQ(check_ladder(std::vector<rung>{{&without_rsa, profile::legacy}}), errc::unsupported);
}

TEST(CheckLadder, RefusesALadderThatDoesNotClimb) {
  EXPECT_EQ(check_ladder(std::vector<rung>{}), errc::usage);
  EXPECT_EQ(check_ladder(std::vector<rung>{{&with_rsa, profile::legacy}, {&with_rsa, profile::strict}}), errc::usage);
  EXPECT_EQ(check_ladder(std::vector<rung>{{&with_rsa, profile::strict}, {&without_rsa, profile::strict}}),
            errc::usage);
  EXPECT_EQ(check_ladder(std::vector<rung>{{&with_rsa, profile::strict},
                                           {&with_rsa, profile::legacy},
                                           {&with_rsa, profile::legacy}}),
            errc::usage);
}

TEST(CheckLadder, RefusesAMissingBackend) {
  EXPECT_EQ(check_ladder(std::vector<rung>{{nullptr, profile::strict}}), errc::unsupported);
  EXPECT_EQ(check_ladder(std::vector<rung>{{&with_rsa, profile::strict}, {nullptr, profile::legacy}}),
            errc::unsupported);
}

TEST(CheckLadder, TheLadderRefusesBeforeDialling) {
  // Port 9 on loopback is never dialled: the request is refused on its shape.
  fallback_request req;
  req.host = "127.0.0.1";
  req.port = 9;
  req.ladder = {{&with_rsa, profile::strict}, {&without_rsa, profile::legacy}};
  const fallback_result res = connect_with_fallback(req);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::unsupported);
  EXPECT_TRUE(res.report.attempts.empty());
  EXPECT_EQ(res.report.to_string(),
            "outcome 127.0.0.1:9: failed: unsupported: refused before dialling: rung 2 asks for legacy on "
            "without-rsa, which has no RSA key exchange");
}

TEST(CheckLadder, TheConnectorRefusesInItsFirstResume) {
  // The state machine refuses the same request the same way, at once: nothing to
  // wait for, no socket, no stream handed back.
  fallback_request req;
  req.host = "127.0.0.1";
  req.port = 9;
  req.ladder = {{&with_rsa, profile::strict}, {&without_rsa, profile::legacy}};
  fallback_connector ladder(req);
  const result<> r = ladder.resume();
  EXPECT_EQ(r, errc::unsupported);
  EXPECT_FALSE(r.would_block());
  EXPECT_EQ(ladder.native_handle(), -1);
  EXPECT_EQ(ladder.wants(), wait_for::none);
  EXPECT_FALSE(ladder.next_deadline().has_value());
  EXPECT_EQ(ladder.resume(), errc::unsupported);  // spent: it says the same again
  fallback_result res = ladder.take();
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.report.error, errc::unsupported);
  EXPECT_TRUE(res.report.attempts.empty());
  EXPECT_EQ(res.report.to_string(), connect_with_fallback(req).report.to_string());
}

}  // namespace
}  // namespace uptls
