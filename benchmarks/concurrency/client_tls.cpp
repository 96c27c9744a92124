// The registry of client TLS implementations for bench-smtp-load --client-tls.
// A uptls-based client adds a line to each function (and its source file to
// bench-smtp-load in meson.build).
#include "client_tls.hpp"

namespace conc {

std::unique_ptr<client_tls> make_client_tls(std::string_view name, const client_tls_config& config) {
  if (name == "openssl") return make_openssl_client_tls(config);
  return nullptr;
}

std::vector<std::string> client_tls_names() { return {"openssl"}; }

}  // namespace conc
