// Drives pairs of engines and streams for the conformance suite: contexts from
// the backend under test, client and server over a memory pipe or loopback
// sockets, the two ends run concurrently, every wait bounded.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "support.hpp"

namespace uptls::test {

// A compiled context; a failure to compile is an assertion failure naming the error.
std::shared_ptr<const context> make_ctx(const backend& b, const tls_config& cfg, role side);
std::shared_ptr<const context> client_ctx(const tls_config& cfg);
std::shared_ptr<const context> server_ctx(const tls_config& cfg);

// The two ends of one connection.
struct transport_pair {
  std::unique_ptr<transport> client;
  std::unique_ptr<transport> server;
};

// Memory pipe ends (blocking with a timeout unless opts.timeout is zero).
transport_pair memory_pair(pipe_options opts = {});
// A TCP connection over 127.0.0.1 (port 0), both ends blocking with io_timeout.
transport_pair socket_pair(milliseconds io_timeout = milliseconds{10'000});

// Two engines over one transport pair. The transports live here too, so they
// outlive the engines.
struct engine_pair {
  transport_pair io;
  std::unique_ptr<engine> client;
  std::unique_ptr<engine> server;
};

// Engines for both ends; the client asks for server_name ("localhost" by default).
engine_pair make_engines(const context& client, const context& server, transport_pair io,
                         const std::string& server_name = "localhost");

// Both handshakes at once (the server's in a thread). On failure the failing side
// half-closes its transport, so the other side ends too instead of waiting out a timeout.
struct handshake_results {
  op_result client;
  op_result server;
};
handshake_results handshake_both(engine_pair& p);

// A finished handshake between the two contexts, or an assertion failure.
engine_pair connected(const context& client, const context& server, transport_pair io,
                      const std::string& server_name = "localhost");

// Blocking helpers over one engine: write everything / read exactly n bytes.
std::error_code engine_write_all(engine& e, std::span<const std::byte> data);
std::error_code engine_read_exact(engine& e, std::span<std::byte> data);
std::error_code engine_write_text(engine& e, std::string_view text);
// Reads until n bytes or an error; the text read so far is returned in out.
std::error_code engine_read_text(engine& e, std::size_t n, std::string& out);

// Runs f on another thread; the future gives its result (bounded by the caller's get with timeout).
template <class F>
auto in_thread(F&& f) {
  return std::async(std::launch::async, std::forward<F>(f));
}

// The errc name of an error code for messages ("cert_expired" or the category's message).
std::string name_of(const std::error_code& ec);

// A checksum that sees order and content (FNV-1a, 64 bit).
std::uint64_t fnv1a(std::span<const std::byte> data, std::uint64_t h = 1469598103934665603ull);

// Deterministic pseudo-random bytes.
void fill_pattern(std::span<std::byte> data, std::uint64_t seed);

}  // namespace uptls::test
