#include <cstdio>
#include <string>

#include "commands.hpp"
#include "uptls/backend.hpp"

namespace uptls::cli {

int backends_command(int argc, char** /*argv*/) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: uptls backends\n");
    return 2;
  }
  bool first = true;
  for (const backend* b : backends()) {
    const capabilities& c = b->caps();
    std::string caps;
    const auto add = [&](bool on, const char* name) {
      if (on) caps += (caps.empty() ? "" : " ") + std::string(name);
    };
    add(c.tls13, "tls1.3");
    add(c.rsa_key_exchange, "rsa-key-exchange");
    add(c.ip_address_names, "ip-address-names");
    add(c.alpn, "alpn");
    add(c.resumption, "resumption");
    add(c.client_certificates, "client-certificates");
    add(c.system_trust, "system-trust");
    add(c.release_buffers, "release-buffers");
    add(c.chacha20, "chacha20");
    std::printf("%-8s %s%s\n         %s\n", std::string(b->name()).c_str(), std::string(b->library_version()).c_str(),
                first ? " (default)" : "", caps.c_str());
    first = false;
  }
  return 0;
}

}  // namespace uptls::cli
