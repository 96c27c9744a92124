// mbedTLS used straight through its own API, the baseline for uptls's mbedtls backend.
#pragma once

#include "impl.hpp"

namespace bench {

implementation& raw_mbedtls_impl();

}  // namespace bench
