// Drives pairs of engines and streams for the conformance suite: contexts from
// the backend under test, client and server over a memory pipe or loopback
// sockets, the two ends run concurrently, every wait bounded.
//
// Transports never block and engines over them return would-block, so the
// blocking helpers here are loops over the resumable calls: call, and when the
// call would block, wait on its transport for what it wants (transport::wait,
// the only call that sleeps) and call it again, until a deadline. A transport
// no longer times out by itself: a silent peer is would-block, and errc::timeout
// comes from the helper's deadline.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "engine/engine.hpp"
#include "support.hpp"

namespace uptls::test {

using detail::engine;

// How long one engine call run to its end may wait for the peer, unless a test
// asks for less: generous, since the machine's two cores are shared.
inline constexpr milliseconds call_limit{10'000};

// For EXPECT_TRUE / ASSERT_TRUE: passes when the call ended ok, and otherwise
// prints how it ended ("would block (read)", "error uptls:eof: ...").
template <class T>
::testing::AssertionResult is_ok(const result<T>& r) {
  if (r.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << to_string(r);
}

// A compiled context; a failure to compile is an assertion failure naming the error.
std::shared_ptr<const context> make_ctx(const backend& b, const tls_config& cfg, role side);
std::shared_ptr<const context> client_ctx(const tls_config& cfg);
std::shared_ptr<const context> server_ctx(const tls_config& cfg);

// The two ends of one connection.
struct transport_pair {
  std::unique_ptr<transport> client;
  std::unique_ptr<transport> server;
  // How long one call over these ends may wait for the peer: the bound the
  // blocking helpers (and stream_options::io_timeout, for streams) use.
  milliseconds io_timeout = call_limit;
};

// Memory pipe ends (non-blocking, as every transport; opts shapes the pipe).
transport_pair memory_pair(pipe_options opts = {});
// A TCP connection over 127.0.0.1 (port 0); each call waits at most io_timeout.
transport_pair socket_pair(milliseconds io_timeout = call_limit);

// A transport that forwards every call to another (which it owns) and counts
// the bytes written through it: what an engine call put on the wire.
class counting_transport final : public transport {
 public:
  explicit counting_transport(std::unique_ptr<transport> inner) : inner_(std::move(inner)) {}
  result<std::size_t> read_some(std::span<std::byte> buf) override { return inner_->read_some(buf); }
  result<std::size_t> write_some(std::span<const std::byte> buf) override {
    const result<std::size_t> r = inner_->write_some(buf);
    if (r.ok()) written_ += *r;
    return r;
  }
  void shutdown_write() noexcept override { inner_->shutdown_write(); }
  void close() noexcept override { inner_->close(); }
  result<> wait(wait_for w, clock::time_point deadline) override { return inner_->wait(w, deadline); }
  int native_handle() const noexcept override { return inner_->native_handle(); }
  // Bytes the inner transport took so far (read by the thread that writes).
  std::size_t written() const noexcept { return written_; }

 private:
  std::unique_ptr<transport> inner_;
  std::size_t written_ = 0;
};

// The same pair with the client's end counted (the pair's client points to it).
counting_transport* count_client_writes(transport_pair& t);

// Runs one resumable call to its end: step() again after io.wait(r.wants(), ...)
// whenever it would block. errc::timeout once `limit` has passed; a failed
// wait (the transport was closed under it) ends it with that error. Counts how
// often the call would block in *blocked (optional).
template <class Step>
auto finish(transport& io, Step step, milliseconds limit = call_limit, int* blocked = nullptr) -> decltype(step()) {
  const auto deadline = clock::now() + limit;
  for (;;) {
    auto r = step();
    if (!r.would_block()) return r;
    if (blocked != nullptr) ++*blocked;
    // Checked before waiting too: a step that would block while its transport
    // says it is ready must not spin past the deadline.
    if (clock::now() >= deadline) return make_error_code(errc::timeout);
    if (const result<> w = io.wait(r.wants(), deadline); w.failed()) return w.error();
  }
}

// Two engines over one transport pair. The transports live here too, so they
// outlive the engines (members are destroyed in reverse order).
struct engine_pair {
  transport_pair io;
  std::unique_ptr<engine> client;
  std::unique_ptr<engine> server;
};

// A new engine over io (the harness's way in: contexts make engines through
// the backend-author interface).
result<std::unique_ptr<engine>> new_engine(const context& ctx, transport& io, const peer_options& peer = {});

// Engines for both ends; the client asks for server_name ("localhost" by default).
engine_pair make_engines(const context& client, const context& server, transport_pair io,
                         const std::string& server_name = "localhost");

// Both handshakes at once, each run to its end (the server's in a thread),
// each within the pair's io_timeout. On failure the failing side half-closes
// its transport, so the other side ends too instead of waiting out its bound.
// Counts how often each side would block (optional).
struct handshake_results {
  result<> client;
  result<> server;
  int client_blocked = 0;
  int server_blocked = 0;
};
handshake_results handshake_both(engine_pair& p);

// A finished handshake between the two contexts, or an assertion failure.
engine_pair connected(const context& client, const context& server, transport_pair io,
                      const std::string& server_name = "localhost");

// Blocking helpers over one engine and the transport it does its I/O on:
// write everything / read exactly data.size() bytes, each call run to its end
// within limit. A write that would block is called again with the same bytes
// (the engine contract). Reading: errc::eof when the peer's close_notify came
// first.
result<> engine_write_all(engine& e, transport& io, std::span<const std::byte> data, milliseconds limit = call_limit);
result<> engine_read_exact(engine& e, transport& io, std::span<std::byte> data, milliseconds limit = call_limit);
result<> engine_write_text(engine& e, transport& io, std::string_view text, milliseconds limit = call_limit);
// Reads until n bytes or an error; the text read so far is returned in out.
result<> engine_read_text(engine& e, transport& io, std::size_t n, std::string& out, milliseconds limit = call_limit);

// Runs f on another thread; the future gives its result (bounded by the caller's get with timeout).
template <class F>
auto in_thread(F&& f) {
  return std::async(std::launch::async, std::forward<F>(f));
}

// The errc name of an error code for messages ("cert_expired" or the category's message).
std::string name_of(const std::error_code& ec);

// A checksum that sees order and content (FNV-1a, 64 bit).
inline constexpr std::uint64_t fnv1a_start = 1469598103934665603ull;
std::uint64_t fnv1a(std::span<const std::byte> data, std::uint64_t h = fnv1a_start);

// Deterministic pseudo-random bytes.
void fill_pattern(std::span<std::byte> data, std::uint64_t seed);

}  // namespace uptls::test
