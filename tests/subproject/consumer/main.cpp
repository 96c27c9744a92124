// Uses uptls through its public header only: lists the backends and makes a
// client context with each, then upgrades nothing (no network needed). The
// unused parameter below warns only at warning_level 3 (-Wextra): with werror on,
// this file fails to build if uptls's warning level reached its parent.
#include <cstdio>

#include <uptls/uptls.hpp>

static int unused_parameter_warns_only_with_extra_warnings(int ignored) { return 0; }

int main() {
  if (uptls::backends().empty()) return 1;
  for (const uptls::backend* b : uptls::backends()) {
    uptls::tls_config cfg;
    cfg.dangerous_skip_verification = true;
    auto ctx = b->make_context(cfg, uptls::role::client);
    if (!ctx) {
      std::printf("%.*s: %s\n", static_cast<int>(b->name().size()), b->name().data(), uptls::to_string(ctx).c_str());
      return 1;
    }
    std::printf("backend %.*s ok\n", static_cast<int>(b->name().size()), b->name().data());
  }
  return unused_parameter_warns_only_with_extra_warnings(0);
}
