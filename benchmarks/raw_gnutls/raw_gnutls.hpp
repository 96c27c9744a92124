// GnuTLS used straight through its own API, the baseline for uptls's gnutls backend.
#pragma once

#include "impl.hpp"

namespace bench {

implementation& raw_gnutls_impl();

}  // namespace bench
