#include "bench.hpp"
#include "raw_openssl.hpp"

int main(int argc, char** argv) { return bench::main(argc, argv, bench::raw_openssl_impl()); }
