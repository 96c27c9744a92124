// What every fuzz target shares: how an input is split into a few choices (the
// first byte) and the peer's bytes (the rest), and how a buffer-driven stream is
// fed and drained. The same targets build two ways: with libFuzzer
// (./dev fuzz, clang -fsanitize=fuzzer) and with replay.cpp as a main that runs
// every corpus file (the normal test suite, any compiler).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>

#include "uptls/uptls.hpp"

namespace uptls::fuzz {

// A broken invariant is a crash, so that libFuzzer keeps the input and the
// replay program fails (assert() would vanish under NDEBUG).
#define UPTLS_FUZZ_CHECK(cond)                                                                   \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);          \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

// The input as the peer's bytes plus the choices its first byte makes.
class input {
 public:
  input(const std::uint8_t* data, std::size_t size) {
    if (size > 0) {
      flags_ = data[0];
      bytes_ = std::span(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
    }
  }
  std::uint8_t flags() const noexcept { return flags_; }
  bool flag(int bit) const noexcept { return ((flags_ >> bit) & 1) != 0; }
  // How many bytes arrive at a time: the low three bits pick one of a few sizes
  // (1 and 2 find the resumption bugs, "all" the buffering ones).
  std::size_t chunk() const noexcept {
    static constexpr std::size_t sizes[] = {static_cast<std::size_t>(-1), 1, 2, 3, 7, 16, 64, 512};
    return sizes[flags_ & 7];
  }
  bool empty() const noexcept { return bytes_.empty(); }
  // The next chunk of the peer's bytes (empty once all arrived).
  std::span<const std::byte> next() noexcept {
    const std::size_t n = std::min(chunk(), bytes_.size());
    auto out = bytes_.first(n);
    bytes_ = bytes_.subspan(n);
    return out;
  }
  std::span<const std::byte> rest() const noexcept { return bytes_; }

 private:
  std::uint8_t flags_ = 0;
  std::span<const std::byte> bytes_;
};

// Takes (and checks) what a buffer-driven stream has to send; the bytes go nowhere.
inline void drain(stream& s) {
  const auto out = s.output();
  if (!out.empty()) s.consume_output(out.size());
}

// Feeds the next chunk if the stream has room; false when nothing was fed.
inline bool feed_next(stream& s, input& in) {
  if (in.empty()) return false;
  const auto bytes = in.next();
  const auto r = s.feed(bytes);
  // Feeding is refused only past max_feed() or after close: both are usage.
  if (!r.ok()) UPTLS_FUZZ_CHECK(r.error() == make_error_code(errc::usage));
  return true;
}

// A failure of a call on the stream is an error of some category, never empty,
// and a failed stream stays failed with an error set.
inline void check_failure(const stream& s, std::error_code ec) {
  UPTLS_FUZZ_CHECK(static_cast<bool>(ec));
  if (s.current() == stream::state::failed) UPTLS_FUZZ_CHECK(static_cast<bool>(s.error()));
}

// The test certificates (tools/make-test-certs.sh output), from the build.
inline std::string cert_path(const char* name) {
  std::string dir = UPTLS_FUZZ_CERTS;
  if (const char* env = std::getenv("UPTLS_FUZZ_CERTS")) dir = env;
  return dir + "/" + name;
}

// A context for one backend and role made from the test certificates, verification
// on (a client trusting the test CA), or nullptr when the backend is not compiled.
inline std::shared_ptr<const context> make_context(std::string_view backend_name, role side) {
  const backend* b = backend_name.empty() ? backends().front() : find_backend(backend_name);
  if (b == nullptr) return nullptr;
  tls_config cfg;
  cfg.handshake_timeout = std::chrono::milliseconds(60'000);
  if (side == role::server) {
    cfg.cert_file = cert_path("server-rsa.pem");
    cfg.key_file = cert_path("server-rsa.key");
  } else {
    cfg.ca_file = cert_path("ca.pem");
  }
  auto ctx = b->make_context(cfg, side);
  if (!ctx.ok()) {
    std::fprintf(stderr, "cannot make the %s context: %s\n", std::string(b->name()).c_str(),
                 ctx.error().message().c_str());
    std::abort();
  }
  return *ctx;
}

}  // namespace uptls::fuzz
