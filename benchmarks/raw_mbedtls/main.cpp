#include "bench.hpp"
#include "raw_mbedtls.hpp"

int main(int argc, char** argv) { return bench::main(argc, argv, bench::raw_mbedtls_impl()); }
