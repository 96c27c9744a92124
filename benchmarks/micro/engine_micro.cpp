// Google Benchmark micro-benchmark of the engine alone: TLS records per second
// through uptls's in-memory pipe, per backend, no sockets and no stream on top.
//   bench-engine-micro --certs DIR [--benchmark_* flags]
// The engine is uptls's internal backend interface (core/engine/engine.hpp,
// through uptls_internal_dep): the public API has no engine without a stream.
#include <benchmark/benchmark.h>

#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "uptls/uptls.hpp"

namespace {

std::string certs_dir;

// The memory pipe never blocks: an engine call that would block is retried
// after the pipe's wait(), each wait bounded so that a broken engine ends the
// run instead of hanging it.
constexpr std::chrono::seconds step_timeout{10};

// Runs op until it is not blocked, waiting on io for what it wants.
template <class Op>
auto until_done(uptls::transport& io, Op op) -> decltype(op()) {
  for (;;) {
    auto r = op();
    if (!r.would_block()) return r;
    if (const uptls::result<> w = io.wait(r.wants(), uptls::clock::now() + step_timeout); w.failed()) {
      return w.error();
    }
  }
}

// A client and a server engine that finished their handshake over one memory pipe.
struct engine_pair {
  std::unique_ptr<uptls::transport> client_end;
  std::unique_ptr<uptls::transport> server_end;
  std::shared_ptr<const uptls::context> client_ctx;
  std::shared_ptr<const uptls::context> server_ctx;
  std::unique_ptr<uptls::detail::engine> client;
  std::unique_ptr<uptls::detail::engine> server;
};

std::shared_ptr<const uptls::context> compile(const uptls::backend& b, const uptls::tls_config& cfg, uptls::role r) {
  auto made = b.make_context(cfg, r);
  if (!made) throw std::runtime_error("make_context: " + made.error().message());
  return std::move(made).value();
}

engine_pair connect(const uptls::backend& b) {
  engine_pair p;
  uptls::pipe_options opts;
  opts.capacity = 1 << 20;
  std::tie(p.client_end, p.server_end) = uptls::make_memory_pipe(opts);
  uptls::tls_config server_cfg;
  server_cfg.cert_file = certs_dir + "/server-rsa.pem";
  server_cfg.key_file = certs_dir + "/server-rsa.key";
  uptls::tls_config client_cfg;
  client_cfg.ca_file = certs_dir + "/ca.pem";
  p.server_ctx = compile(b, server_cfg, uptls::role::server);
  p.client_ctx = compile(b, client_cfg, uptls::role::client);
  // Every backend's context is a detail::context_impl underneath the public one.
  const auto& server_impl = static_cast<const uptls::detail::context_impl&>(*p.server_ctx);
  const auto& client_impl = static_cast<const uptls::detail::context_impl&>(*p.client_ctx);
  auto s = server_impl.make_engine(*p.server_end, {});
  auto c = client_impl.make_engine(*p.client_end, {"localhost"});
  if (!s) throw std::runtime_error("make_engine (server): " + uptls::to_string(s));
  if (!c) throw std::runtime_error("make_engine (client): " + uptls::to_string(c));
  p.server = std::move(s).value();
  p.client = std::move(c).value();
  uptls::result<> server_done;
  std::thread t([&] { server_done = until_done(*p.server_end, [&] { return p.server->handshake(); }); });
  const uptls::result<> client_done = until_done(*p.client_end, [&] { return p.client->handshake(); });
  t.join();
  if (!client_done || !server_done) {
    throw std::runtime_error("handshake failed: client " + uptls::to_string(client_done) + " / server " +
                             uptls::to_string(server_done));
  }
  return p;
}

// One write of `size` bytes by the client, read back whole by the server.
void records(benchmark::State& state, const uptls::backend* b, std::size_t size) {
  engine_pair p;
  try {
    p = connect(*b);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::vector<std::byte> out(size, std::byte{'x'});
  std::vector<std::byte> in(16 * 1024);
  for (auto _ : state) {
    std::span<const std::byte> rest(out);
    while (!rest.empty()) {
      // The pipe holds 1 MiB, so a write is blocked only if the engine is broken.
      const uptls::result<std::size_t> w = until_done(*p.client_end, [&] { return p.client->write(rest); });
      if (!w) {
        state.SkipWithError(("write failed: " + uptls::to_string(w)).c_str());
        return;
      }
      rest = rest.subspan(*w);
    }
    for (std::size_t got = 0; got < size;) {
      const uptls::result<std::size_t> r = until_done(*p.server_end, [&] { return p.server->read(in); });
      if (!r || *r == 0) {
        state.SkipWithError(("read failed: " + (r ? std::string("end of stream") : uptls::to_string(r))).c_str());
        return;
      }
      got += *r;
    }
  }
  const auto n = static_cast<double>(state.iterations());
  const double per_write = static_cast<double>((size + 16383) / 16384);
  state.counters["records/s"] = benchmark::Counter(n * per_write, benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.SetLabel(std::string(p.client->session().suite.name));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--certs") == 0 && i + 1 < argc) certs_dir = argv[++i];
  }
  if (certs_dir.empty()) {
    std::cerr << argv[0] << ": --certs DIR is required (tools/make-test-certs.sh makes one)\n";
    return 2;
  }
  for (const uptls::backend* b : uptls::backends()) {
    for (const std::size_t size : {std::size_t{1024}, std::size_t{16 * 1024}}) {
      const std::string name = "records/" + std::string(b->name()) + "/" + std::to_string(size / 1024) + "KiB";
      benchmark::RegisterBenchmark(name.c_str(), records, b, size);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
