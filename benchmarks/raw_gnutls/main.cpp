#include "bench.hpp"
#include "raw_gnutls.hpp"

int main(int argc, char** argv) { return bench::main(argc, argv, bench::raw_gnutls_impl()); }
