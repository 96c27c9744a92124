// Uses uptls through its public header only: lists the backends and makes a
// client context with each, then upgrades nothing (no network needed).
#include <cstdio>

#include <uptls/uptls.hpp>

int main() {
  if (uptls::backends().empty()) return 1;
  for (const uptls::backend* b : uptls::backends()) {
    uptls::tls_config cfg;
    cfg.dangerous_skip_verification = true;
    auto ctx = b->make_context(cfg, uptls::role::client);
    if (!ctx) {
      std::printf("%.*s: %s\n", static_cast<int>(b->name().size()), b->name().data(), ctx.error().message().c_str());
      return 1;
    }
    std::printf("backend %.*s ok\n", static_cast<int>(b->name().size()), b->name().data());
  }
  return 0;
}
