// The real servers the fallback tests talk to, started on loopback and always stopped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "support.hpp"

namespace uptls::test {

struct peer {
  peer_program program = peer_program::openssl;  // the program it runs, for UPTLS_REQUIRE_PEER_PROGRAM
  std::unique_ptr<child> process;
  std::uint16_t port = 0;
  explicit operator bool() const { return process != nullptr; }
};

// openssl s_server, TLS 1.2 with AES128-GCM-SHA256 only (plain RSA key exchange):
// answers a strict client with a fatal alert 40.
peer start_openssl_rsa_only();
// openssl s_server with its defaults (TLS 1.3, forward secrecy) and the given leaf.
peer start_openssl_modern(const std::string& leaf = "server-rsa");
// gnutls-serv limited to TLS 1.2 and RSA key exchange.
peer start_gnutls_rsa_only();
// The aiosmtpd STARTTLS server of legacy_smtpd.py ("legacy": TLS 1.2 RSA only, closes
// without an alert on a failed handshake; "modern": the ssl module's defaults).
peer start_smtpd(const std::string& mode);

// Why a peer could not be started, for failure and skip messages.
std::string last_peer_problem();
// Whether the last peer could not start for a reason that is genuinely optional
// (gnutls-serv outside the private network namespace). A program that ./dev
// installs but cannot do its job is never optional: the test fails.
bool last_peer_missing();

}  // namespace uptls::test

// Skips the test only when the peer is genuinely optional here (and says why);
// fails it when the program is missing or cannot do its job (naming the Debian
// package, through UPTLS_REQUIRE_PEER_PROGRAM), or when it did not start.
#define UPTLS_REQUIRE_PEER(p)                                                                           \
  do {                                                                                                  \
    if (!(p) && ::uptls::test::last_peer_missing()) GTEST_SKIP() << ::uptls::test::last_peer_problem(); \
    UPTLS_REQUIRE_PEER_PROGRAM((p).program);                                                            \
    ASSERT_TRUE(p) << ::uptls::test::last_peer_problem();                                               \
  } while (0)
