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
  EXPECT_TRUE(listener.ok()) << to_string(listener);
  if (!listener) return {};
  auto client = tcp_connect("127.0.0.1", listener->port(), {.connect_timeout = milliseconds{5'000}});
  EXPECT_TRUE(client.ok()) << name_of(client.error());
  auto server = listener->accept(milliseconds{5'000});
  EXPECT_TRUE(server.ok()) << name_of(server.error());
  if (!client || !server) return {};
  return {std::move(*client), std::move(*server), io_timeout};
}

counting_transport* count_client_writes(transport_pair& t) {
  auto counted = std::make_unique<counting_transport>(std::move(t.client));
  counting_transport* view = counted.get();
  t.client = std::move(counted);
  return view;
}

result<std::unique_ptr<engine>> new_engine(const context& ctx, transport& io, const peer_options& peer) {
  return static_cast<const detail::context_impl&>(ctx).make_engine(io, peer);
}

engine_pair make_engines(const context& client, const context& server, transport_pair io,
                         const std::string& server_name) {
  engine_pair p;
  p.io = std::move(io);
  if (!p.io.client || !p.io.server) return p;
  peer_options peer;
  peer.server_name = server_name;
  auto c = new_engine(client, *p.io.client, peer);
  auto s = new_engine(server, *p.io.server, {});
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
    r.client = r.server = errc::internal;
    return r;
  }
  // A side that fails only half-closes: the peer reads EOF instead of waiting
  // out its bound, and may still finish writing its flight (libraries that
  // flush message by message would otherwise see a reset instead of our alert).
  const milliseconds limit = p.io.io_timeout;
  auto server = in_thread([&p, &r, limit] {
    const result<> s = finish(*p.io.server, [&] { return p.server->handshake(); }, limit, &r.server_blocked);
    if (!s.ok()) p.io.server->shutdown_write();
    return s;
  });
  r.client = finish(*p.io.client, [&] { return p.client->handshake(); }, limit, &r.client_blocked);
  if (!r.client.ok()) p.io.client->shutdown_write();
  r.server = server.get();
  return r;
}

engine_pair connected(const context& client, const context& server, transport_pair io,
                      const std::string& server_name) {
  engine_pair p = make_engines(client, server, std::move(io), server_name);
  if (!p.client || !p.server) return p;
  const handshake_results r = handshake_both(p);
  EXPECT_TRUE(r.client.ok()) << "client: " << to_string(r.client) << " " << p.client->failure().text;
  EXPECT_TRUE(r.server.ok()) << "server: " << to_string(r.server) << " " << p.server->failure().text;
  return p;
}

result<> engine_write_all(engine& e, transport& io, std::span<const std::byte> data, milliseconds limit) {
  const auto deadline = clock::now() + limit;
  while (!data.empty()) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
    // finish() calls write again with the same span after a would-block: the
    // same bytes, as the engine contract asks.
    const result<std::size_t> r = finish(io, [&] { return e.write(data); }, std::max(left, milliseconds{0}));
    if (!r.ok()) return r.status();
    if (*r == 0 || *r > data.size()) return errc::internal;  // a broken engine contract
    data = data.subspan(*r);
  }
  return {};
}

result<> engine_read_exact(engine& e, transport& io, std::span<std::byte> data, milliseconds limit) {
  const auto deadline = clock::now() + limit;
  while (!data.empty()) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
    const result<std::size_t> r = finish(io, [&] { return e.read(data); }, std::max(left, milliseconds{0}));
    if (!r.ok()) return r.status();
    if (*r == 0) return errc::eof;  // close_notify before the last byte
    if (*r > data.size()) return errc::internal;
    data = data.subspan(*r);
  }
  return {};
}

result<> engine_write_text(engine& e, transport& io, std::string_view text, milliseconds limit) {
  return engine_write_all(e, io, std::as_bytes(std::span(text.data(), text.size())), limit);
}

result<> engine_read_text(engine& e, transport& io, std::size_t n, std::string& out, milliseconds limit) {
  out.assign(n, '\0');
  const std::span<std::byte> buf = std::as_writable_bytes(std::span(out.data(), out.size()));
  const auto deadline = clock::now() + limit;
  std::size_t got = 0;
  result<> end;
  while (got < n) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
    const result<std::size_t> r = finish(io, [&] { return e.read(buf.subspan(got)); }, std::max(left, milliseconds{0}));
    if (!r.ok()) {
      end = r.status();
      break;
    }
    if (*r == 0) {
      end = errc::eof;
      break;
    }
    got += *r;
  }
  out.resize(got);
  return end;
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
