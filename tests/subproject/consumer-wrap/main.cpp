// The parent chose the backends through uptls's options: OpenSSL only.
#include <cstdio>

#include <uptls/uptls.hpp>

int main() {
  const auto all = uptls::backends();
  for (const uptls::backend* b : all) std::printf("backend %.*s\n", static_cast<int>(b->name().size()), b->name().data());
  return all.size() == 1 && all.front()->name() == "openssl" ? 0 : 1;
}
