// The pin-store file reader: arbitrary file contents. Loading never crashes and
// never holds more pins than lines; a pin made afterwards survives a reload.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common.hpp"

using namespace uptls;

namespace {
std::filesystem::path scratch_file() {
  // /dev/shm when there is one: each pin() fsyncs, which costs nothing in memory.
  std::filesystem::path dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  return dir / ("uptls-fuzz-pins." + std::to_string(::getpid()));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path file = scratch_file();
  fuzz::input in(data, size);
  const auto bytes = in.rest();
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  const auto lines = static_cast<std::size_t>(std::count(reinterpret_cast<const char*>(bytes.data()),
                                                         reinterpret_cast<const char*>(bytes.data()) + bytes.size(), '\n')) + 1;
  std::size_t before = 0;
  {
    pin_store pins(file);
    before = pins.size();
    UPTLS_FUZZ_CHECK(before <= lines);
    (void)pins.is_pinned("localhost", 25);
    (void)pins.is_pinned("", 0);
    if (in.flag(0)) {
      const bool was = pins.is_pinned("mx.example.org", 25);
      UPTLS_FUZZ_CHECK(pins.pin("MX.example.org", 25).ok());
      UPTLS_FUZZ_CHECK(pins.is_pinned("mx.example.ORG", 25));
      UPTLS_FUZZ_CHECK(pins.size() == before + (was ? 0 : 1));
      before = pins.size();
    }
  }
  if (in.flag(0)) {
    // What was saved reads back the same.
    pin_store again(file);
    UPTLS_FUZZ_CHECK(again.is_pinned("mx.example.org", 25));
    UPTLS_FUZZ_CHECK(again.size() == before);
  }
  std::error_code ignored;
  std::filesystem::remove(file, ignored);
  return 0;
}
