#include "peers.hpp"

#include <vector>

#ifndef UPTLS_LEGACY_SMTPD
#error "UPTLS_LEGACY_SMTPD must name legacy_smtpd.py"
#endif

namespace uptls::test {
namespace {

std::string problem;
bool missing = false;

// Starts argv (with the port filled in by make) and waits for its ready line; a few
// tries, because a free port can be taken between free_port() and the bind.
template <class Make>
peer start(peer_program program, const std::string& ready, Make make) {
  missing = false;
  problem = peer_problem(program);
  if (!problem.empty()) return {program, nullptr, 0};
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::uint16_t port = free_port();
    auto c = child::spawn(make(port));
    std::string seen;
    if (c->wait_for_output(ready, 10s, &seen)) return {program, std::move(c), port};
    problem = make(port).front() + " did not start: " + seen;
  }
  return {program, nullptr, 0};
}

}  // namespace

std::string last_peer_problem() { return problem; }
bool last_peer_missing() { return missing; }

peer start_openssl_rsa_only() {
  return start(peer_program::openssl, "ACCEPT", [](std::uint16_t port) {
    return std::vector<std::string>{"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port),
                                    "-tls1_2", "-cipher", "AES128-GCM-SHA256", "-cert", cert("server-rsa.pem"),
                                    "-key", cert("server-rsa.key")};
  });
}

peer start_openssl_modern(const std::string& leaf) {
  return start(peer_program::openssl, "ACCEPT", [&](std::uint16_t port) {
    return std::vector<std::string>{"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port),
                                    "-cert", cert(leaf + ".pem"), "-key", cert(leaf + ".key")};
  });
}

peer start_gnutls_rsa_only() {
  if (!private_network()) {
    missing = true;
    problem = wildcard_listener_skip;
    return {peer_program::gnutls_serv, nullptr, 0};
  }
  return start(peer_program::gnutls_serv, "listening on IPv4", [](std::uint16_t port) {
    return std::vector<std::string>{"gnutls-serv", "--echo", "--disable-client-cert", "--port", std::to_string(port),
                                    "--priority", "NORMAL:-KX-ALL:+RSA:-VERS-TLS1.3",
                                    "--x509certfile", cert("server-rsa.pem"), "--x509keyfile", cert("server-rsa.key")};
  });
}

peer start_smtpd(const std::string& mode) {
  return start(peer_program::python3_aiosmtpd, "READY", [&](std::uint16_t port) {
    return std::vector<std::string>{"/usr/bin/python3", UPTLS_LEGACY_SMTPD, "--port", std::to_string(port),
                                    "--cert", cert("server-rsa.pem"), "--key", cert("server-rsa.key"),
                                    "--mode", mode};
  });
}

}  // namespace uptls::test
