#include "harness.hpp"

#include <chrono>

namespace uptls::test {

std::shared_ptr<const context> make_ctx(const backend& b, const tls_config& cfg, role side) {
  auto made = b.make_context(cfg, side);
  EXPECT_TRUE(made.ok()) << b.name() << " refused a " << to_string(side) << " config: " << name_of(made.error());
  return made.ok() ? *made : nullptr;
}

std::shared_ptr<const context> client_ctx(const tls_config& cfg) {
  return make_ctx(backend_under_test(), cfg, role::client);
}

std::shared_ptr<const context> server_ctx(const tls_config& cfg) {
  return make_ctx(backend_under_test(), cfg, role::server);
}

transport_pair memory_pair(pipe_options opts) {
  auto [a, b] = make_memory_pipe(opts);
  return {std::move(a), std::move(b)};
}

transport_pair socket_pair(milliseconds io_timeout) {
  auto listener = tcp_listener::listen("127.0.0.1", 0);
  EXPECT_TRUE(listener.ok());
  if (!listener) return {};
  const socket_options opts{milliseconds{5'000}, io_timeout};
  auto client = tcp_connect("127.0.0.1", listener->port(), opts);
  EXPECT_TRUE(client.ok()) << name_of(client.error());
  auto server = listener->accept(milliseconds{5'000}, opts);
  EXPECT_TRUE(server.ok()) << name_of(server.error());
  if (!client || !server) return {};
  return {std::move(*client), std::move(*server)};
}

engine_pair make_engines(const context& client, const context& server, transport_pair io,
                         const std::string& server_name) {
  engine_pair p;
  p.io = std::move(io);
  if (!p.io.client || !p.io.server) return p;
  peer_options peer;
  peer.server_name = server_name;
  auto c = client.make_engine(*p.io.client, peer);
  auto s = server.make_engine(*p.io.server, {});
  EXPECT_TRUE(c.ok()) << name_of(c.error());
  EXPECT_TRUE(s.ok()) << name_of(s.error());
  if (c) p.client = std::move(*c);
  if (s) p.server = std::move(*s);
  return p;
}

handshake_results handshake_both(engine_pair& p) {
  handshake_results r;
  if (!p.client || !p.server) {
    ADD_FAILURE() << "no engines";
    r.client = r.server = {tls_status::error, 0, make_error_code(errc::internal)};
    return r;
  }
  // A side that fails only half-closes: the peer reads EOF instead of waiting
  // out a timeout, and may still finish writing its flight (libraries that
  // flush message by message would otherwise see a reset instead of our alert).
  auto server = in_thread([&p] {
    const op_result s = p.server->handshake();
    if (s.status != tls_status::ok) p.io.server->shutdown_write();
    return s;
  });
  r.client = p.client->handshake();
  if (r.client.status != tls_status::ok) p.io.client->shutdown_write();
  r.server = server.get();
  return r;
}

engine_pair connected(const context& client, const context& server, transport_pair io,
                      const std::string& server_name) {
  engine_pair p = make_engines(client, server, std::move(io), server_name);
  if (!p.client || !p.server) return p;
  const handshake_results r = handshake_both(p);
  EXPECT_EQ(r.client.status, tls_status::ok) << "client: " << name_of(r.client.error) << " "
                                             << p.client->failure().text;
  EXPECT_EQ(r.server.status, tls_status::ok) << "server: " << name_of(r.server.error) << " "
                                             << p.server->failure().text;
  return p;
}

std::error_code engine_write_all(engine& e, std::span<const std::byte> data) {
  while (!data.empty()) {
    const op_result r = e.write(data);
    if (r.status == tls_status::error) return r.error;
    if (r.status != tls_status::ok) return errc::timeout;  // blocking transports only here
    if (r.bytes == 0 || r.bytes > data.size()) return errc::internal;
    data = data.subspan(r.bytes);
  }
  return {};
}

std::error_code engine_read_exact(engine& e, std::span<std::byte> data) {
  while (!data.empty()) {
    const op_result r = e.read(data);
    if (r.status == tls_status::error) return r.error;
    if (r.status == tls_status::closed) return errc::eof;
    if (r.status != tls_status::ok) return errc::timeout;
    if (r.bytes == 0 || r.bytes > data.size()) return errc::internal;
    data = data.subspan(r.bytes);
  }
  return {};
}

std::error_code engine_write_text(engine& e, std::string_view text) {
  return engine_write_all(e, std::as_bytes(std::span(text.data(), text.size())));
}

std::error_code engine_read_text(engine& e, std::size_t n, std::string& out) {
  out.assign(n, '\0');
  std::span<std::byte> buf = std::as_writable_bytes(std::span(out.data(), out.size()));
  std::size_t got = 0;
  std::error_code ec;
  while (got < n) {
    const op_result r = e.read(buf.subspan(got));
    if (r.status == tls_status::ok) {
      got += r.bytes;
      continue;
    }
    ec = r.status == tls_status::error ? r.error
         : r.status == tls_status::closed ? make_error_code(errc::eof)
                                           : make_error_code(errc::timeout);
    break;
  }
  out.resize(got);
  return ec;
}

std::string name_of(const std::error_code& ec) {
  if (!ec) return "no error";
  if (ec.category() == category()) return std::string(to_string(static_cast<errc>(ec.value())));
  return std::string(ec.category().name()) + ":" + ec.message();
}

std::uint64_t fnv1a(std::span<const std::byte> data, std::uint64_t h) {
  for (const std::byte b : data) {
    h ^= std::to_integer<std::uint64_t>(b);
    h *= 1099511628211ull;
  }
  return h;
}

void fill_pattern(std::span<std::byte> data, std::uint64_t seed) {
  std::uint64_t x = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (std::byte& b : data) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x >> 24);
  }
}

}  // namespace uptls::test
