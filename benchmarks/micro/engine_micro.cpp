// Google Benchmark micro-benchmark of the engine alone: TLS records per second
// through uptls's in-memory pipe, per backend, no sockets and no stream on top.
//   bench-engine-micro --certs DIR [--benchmark_* flags]
#include <benchmark/benchmark.h>

#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "uptls/uptls.hpp"

namespace {

std::string certs_dir;

// A client and a server engine that finished their handshake over one memory pipe.
struct engine_pair {
  std::unique_ptr<uptls::transport> client_end;
  std::unique_ptr<uptls::transport> server_end;
  std::shared_ptr<const uptls::context> client_ctx;
  std::shared_ptr<const uptls::context> server_ctx;
  std::unique_ptr<uptls::engine> client;
  std::unique_ptr<uptls::engine> server;
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
  auto s = p.server_ctx->make_engine(*p.server_end, {});
  auto c = p.client_ctx->make_engine(*p.client_end, {"localhost"});
  if (!s || !c) throw std::runtime_error("make_engine failed");
  p.server = std::move(s).value();
  p.client = std::move(c).value();
  uptls::op_result server_done;
  std::thread t([&] { server_done = p.server->handshake(); });
  const uptls::op_result client_done = p.client->handshake();
  t.join();
  if (client_done.status != uptls::tls_status::ok || server_done.status != uptls::tls_status::ok) {
    throw std::runtime_error("handshake failed: " + client_done.error.message() + " / " + server_done.error.message());
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
      const uptls::op_result w = p.client->write(rest);
      if (w.status != uptls::tls_status::ok) {
        state.SkipWithError("write failed");
        return;
      }
      rest = rest.subspan(w.bytes);
    }
    for (std::size_t got = 0; got < size;) {
      const uptls::op_result r = p.server->read(in);
      if (r.status != uptls::tls_status::ok) {
        state.SkipWithError("read failed");
        return;
      }
      got += r.bytes;
    }
  }
  const auto n = static_cast<double>(state.iterations());
  const double per_write = static_cast<double>((size + 16383) / 16384);
  state.counters["records/s"] = benchmark::Counter(n * per_write, benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.SetLabel(std::string(p.client->session().cipher));
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
