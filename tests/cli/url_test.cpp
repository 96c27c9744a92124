// The URL parser of `uptls probe`: what it takes, and that every refusal says
// what is wrong.
#include "url.hpp"

#include <gtest/gtest.h>

namespace uptls::cli {
namespace {

url ok(std::string_view text) {
  std::string why;
  const std::optional<url> u = parse_url(text, &why);
  EXPECT_TRUE(u.has_value()) << text << ": " << why;
  return u.value_or(url{});
}

std::string refused(std::string_view text) {
  std::string why;
  const std::optional<url> u = parse_url(text, &why);
  EXPECT_FALSE(u.has_value()) << text;
  EXPECT_NE(why.find("SCHEME://HOST[:PORT]"), std::string::npos) << why;  // every refusal shows the shape
  return why;
}

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

TEST(Url, HostAndPort) {
  const url u = ok("smtp://mail.example.org:587");
  EXPECT_EQ(u.scheme, "smtp");
  EXPECT_EQ(u.host, "mail.example.org");
  EXPECT_EQ(u.port, 587);
}

TEST(Url, PortIsOptional) {
  const url u = ok("smtps://127.0.0.1");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_FALSE(u.port.has_value());
}

TEST(Url, SchemeIsCaseInsensitive) { EXPECT_EQ(ok("SMTP://localhost").scheme, "smtp"); }

TEST(Url, TrailingSlashIsAccepted) { EXPECT_EQ(ok("lmtp://localhost:24/").port, 24); }

TEST(Url, Ipv6InBrackets) {
  const url u = ok("smtp://[::1]:2525");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 2525);
  EXPECT_EQ(ok("smtp://[2001:db8::1]").host, "2001:db8::1");
}

TEST(Url, RefusesWhatItWouldIgnore) {
  EXPECT_TRUE(has(refused("mail.example.org"), "no SCHEME://")) << refused("mail.example.org");
  EXPECT_TRUE(has(refused("://x"), "does not start with a scheme"));
  EXPECT_TRUE(has(refused("smtp://"), "has no host"));
  EXPECT_TRUE(has(refused("smtp://:25"), "has no host"));
  EXPECT_TRUE(has(refused("smtp://user@host"), "user name"));
  EXPECT_TRUE(has(refused("smtp://host/path"), "has a path or query ('/path')"));
  EXPECT_TRUE(has(refused("smtp://host?x=1"), "has a path or query"));
  EXPECT_TRUE(has(refused("smtp://ho st"), "bad host 'ho st'"));
  EXPECT_TRUE(has(refused("smtp://::1"), "IPv6 addresses go in brackets"));
  EXPECT_TRUE(has(refused("smtp://[::1"), "closing ']'"));
  EXPECT_TRUE(has(refused("smtp://[zz]"), "bad IPv6 address"));
  EXPECT_TRUE(has(refused("smtp://[::1]x"), "text after the IPv6 address"));
}

TEST(Url, RefusesBadPorts) {
  for (const char* bad : {"smtp://host:", "smtp://host:0", "smtp://host:65536", "smtp://host:99999", "smtp://host:2x",
                          "smtp://host:-1", "smtp://[::1]:"}) {
    EXPECT_TRUE(has(refused(bad), "a number from 1 to 65535")) << bad;
  }
  EXPECT_EQ(ok("smtp://host:65535").port, 65535);
  EXPECT_EQ(ok("smtp://host:1").port, 1);
}

}  // namespace
}  // namespace uptls::cli
