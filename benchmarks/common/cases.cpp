// The measured cases. The client runs in the calling thread and keeps the time;
// the server runs in a second thread; both share one connector.
#include "cases.hpp"

#include <barrier>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

namespace bench {
namespace {

using seconds_d = std::chrono::duration<double>;
using clk = std::chrono::steady_clock;

void read_exact(connection& c, std::span<std::byte> buf) {
  while (!buf.empty()) {
    const std::size_t n = c.read(buf);
    if (n == 0) fail("the peer closed the connection early");
    buf = buf.subspan(n);
  }
}

// One byte each way after the handshake: the client has then read the server's
// session tickets, and neither side closes while the other still writes.
void pong(connection& c) {
  std::byte b[1];
  read_exact(c, b);
  c.write(b);
}
void ping(connection& c) {
  const std::byte b[1] = {std::byte{'p'}};
  c.write(b);
  std::byte back[1];
  read_exact(c, back);
}

// Runs body in a thread; join() rethrows what it threw.
class worker {
 public:
  explicit worker(std::function<void()> body)
      : t_([this, body = std::move(body)] {
          try {
            body();
          } catch (...) {
            error_ = std::current_exception();
          }
        }) {}
  ~worker() {
    if (t_.joinable()) t_.join();
  }
  void join() {
    t_.join();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::thread t_;
};

// Runs the client part; always stops and joins the server thread, and reports the
// server's error before the client's (it is usually the cause).
template <class F>
void with_server(connector& conn, worker& server, F client) {
  std::exception_ptr client_error;
  try {
    client();
  } catch (...) {
    client_error = std::current_exception();
  }
  conn.finish();
  server.join();
  if (client_error) std::rethrow_exception(client_error);
}

void expect_prefix(const std::string& line, std::string_view prefix) {
  if (line.compare(0, prefix.size(), prefix) != 0) fail("SMTP: expected '" + std::string(prefix) + "', got '" + line + "'");
}

// Reads a (multi-line) reply with the given code; returns its lines.
template <class Read>
std::vector<std::string> read_reply(Read read, std::string_view code) {
  std::vector<std::string> lines;
  for (int i = 0; i < 100; ++i) {
    std::string line = read();
    expect_prefix(line, code);
    lines.push_back(line.substr(std::min<std::size_t>(4, line.size())));
    if (line.size() < 4 || line[3] != '-') return lines;
  }
  fail("SMTP: reply too long");
}

}  // namespace

void put_facts(json& result, const facts& f) {
  result.set("version", f.version).set("cipher", f.cipher).set("group", f.group).set("resumed", f.resumed);
}

void run_handshakes(implementation& impl, const options& o, json& result) {
  auto server = impl.make_server(o.tls);
  auto client = impl.make_client(o.tls);
  auto conn = connector::make(o.transport);
  worker st([&] {
    for (int fd; (fd = conn->accept()) >= 0;) {
      auto c = server->attach(fd);
      c->start_tls();
      pong(*c);
      c->close();
    }
  });
  with_server(*conn, st, [&] {
    const auto one = [&] {
      auto c = client->attach(conn->connect());
      c->start_tls();
      ping(*c);
      facts f = c->negotiated();
      c->close();
      return f;
    };
    if (o.tls.resumption) (void)one();  // the full handshake that gives the first ticket
    std::size_t count = 0;
    std::size_t resumed = 0;
    facts last;
    const double cpu0 = cpu_seconds();
    const auto t0 = clk::now();
    double elapsed = 0;
    while (elapsed < o.seconds || count < o.min_count) {
      last = one();
      ++count;
      resumed += last.resumed ? 1 : 0;
      elapsed = seconds_d(clk::now() - t0).count();
    }
    const double cpu = cpu_seconds() - cpu0;
    if (o.tls.resumption && resumed != count) {
      fail("only " + std::to_string(resumed) + " of " + std::to_string(count) + " handshakes resumed");
    }
    if (!o.tls.resumption && resumed != 0) fail("a full handshake case resumed a session");
    put_facts(result, last);
    result.set("value", static_cast<double>(count) / elapsed)
        .set("unit", "handshakes/s")
        .set("count", count)
        .set("seconds", elapsed)
        .set("cpu_us_per_handshake", cpu / static_cast<double>(count) * 1e6);
  });
}

void run_bulk(implementation& impl, const options& o, json& result) {
  if (o.write == 0 || o.bytes < o.write) fail("bulk: --bytes must be at least --write, which must not be 0");
  auto server = impl.make_server(o.tls);
  auto client = impl.make_client(o.tls);
  auto conn = connector::make(o.transport);
  worker st([&] {
    for (int fd; (fd = conn->accept()) >= 0;) {
      auto c = server->attach(fd);
      c->start_tls();
      std::vector<std::byte> buf(16 * 1024);
      std::size_t got = 0;
      while (got < o.bytes) {
        const std::size_t n = c->read(buf);
        if (n == 0) fail("bulk: the client closed early");
        got += n;
      }
      const std::byte ack[1] = {std::byte{'k'}};
      c->write(ack);
      c->close();
    }
  });
  with_server(*conn, st, [&] {
    auto c = client->attach(conn->connect());
    c->start_tls();
    const facts f = c->negotiated();
    std::vector<std::byte> data(o.write);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 131 + 7);
    const double cpu0 = cpu_seconds();
    const auto t0 = clk::now();
    for (std::size_t sent = 0; sent < o.bytes;) {
      const std::size_t n = std::min(o.write, o.bytes - sent);
      c->write(std::span(data).first(n));
      sent += n;
    }
    std::byte ack[1];
    read_exact(*c, ack);
    const double elapsed = seconds_d(clk::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    c->close();
    const double mb = static_cast<double>(o.bytes) / 1e6;
    put_facts(result, f);
    result.set("value", mb / elapsed)
        .set("unit", "MB/s")
        .set("mb_per_cpu_second", mb / cpu)
        .set("bytes", o.bytes)
        .set("write_size", o.write)
        .set("seconds", elapsed)
        .set("cpu_seconds", cpu);
  });
}

smtp_script hand_script() {
  return {"220 localhost ESMTP ready", "EHLO client.localhost", {"localhost", "PIPELINING", "8BITMIME", "STARTTLS"},
          "220 2.0.0 Ready to start TLS", {"localhost", "PIPELINING", "8BITMIME"}, "221 2.0.0 Bye"};
}

smtp_script library_script() {
  const std::vector<std::string> base = {"localhost greets localhost", "SIZE 10485760", "8BITMIME",
                                         "ENHANCEDSTATUSCODES", "PIPELINING"};
  std::vector<std::string> plain = base;
  plain.emplace_back("STARTTLS");
  plain.emplace_back("HELP");
  std::vector<std::string> tls = base;
  tls.emplace_back("HELP");
  return {"220 localhost ESMTP uptls", "EHLO localhost", plain, "220 2.0.0 Ready to start TLS", tls,
          "221 2.0.0 localhost closing connection"};
}

namespace {

std::string reply_text(std::string_view code, const std::vector<std::string>& lines) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out.append(code).append(i + 1 == lines.size() ? " " : "-").append(lines[i]).append("\r\n");
  }
  return out;
}

void write_text(connection& c, const std::string& text) { c.write(std::as_bytes(std::span(text.data(), text.size()))); }

}  // namespace

void connection::smtp_serve(const smtp_script& script) {
  write_plain(script.greeting + "\r\n");
  expect_prefix(read_line_plain(), "EHLO ");
  write_plain(reply_text("250", script.caps));
  expect_prefix(read_line_plain(), "STARTTLS");
  write_plain(script.ready + "\r\n");
  start_tls();
  expect_prefix(read_line(), "EHLO ");
  write_text(*this, reply_text("250", script.caps_tls));
  expect_prefix(read_line(), "QUIT");
  write_text(*this, script.bye + "\r\n");
}

void connection::smtp_open(const smtp_script& script) {
  const auto plain = [&] { return read_line_plain(); };
  (void)read_reply(plain, "220");
  write_plain(script.ehlo + "\r\n");
  const auto caps = read_reply(plain, "250");
  if (std::find(caps.begin(), caps.end(), "STARTTLS") == caps.end()) fail("SMTP: STARTTLS not offered");
  write_plain("STARTTLS\r\n");
  (void)read_reply(plain, "220");
  start_tls();
  write_text(*this, script.ehlo + "\r\n");
  (void)read_reply([&] { return read_line(); }, "250");
}

void connection::smtp_quit(const smtp_script& /*script*/) {
  write_text(*this, "QUIT\r\n");
  (void)read_reply([&] { return read_line(); }, "221");
}

void run_starttls(implementation& impl, const options& o, json& result) {
  auto server = impl.make_server(o.tls);
  auto client = impl.make_client(o.tls);
  auto conn = connector::make(o.transport);
  const smtp_script script = o.tls.smtp_library ? library_script() : hand_script();
  worker st([&] {
    for (int fd; (fd = conn->accept()) >= 0;) {
      auto c = server->attach(fd);
      c->smtp_serve(script);
      c->close();
    }
  });
  with_server(*conn, st, [&] {
    constexpr std::size_t warm_up = 3;
    std::vector<double> us;
    facts f;
    for (std::size_t i = 0; i < o.count + warm_up; ++i) {
      const auto t0 = clk::now();
      auto c = client->attach(conn->connect());
      c->smtp_open(script);
      const auto t1 = clk::now();
      if (i >= warm_up) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      f = c->negotiated();
      c->smtp_quit(script);
      c->close();
    }
    put_facts(result, f);
    result.set("value", median(us))
        .set("unit", "us")
        .set("median_us", median(us))
        .set("p99_us", percentile(us, 99))
        .set("min_us", percentile(us, 0))
        .set("count", us.size());
  });
}

// Heap of idle connections: mallinfo2() before, with all connections open, after
// the client ends are gone and after the server ends are gone. Every thread has
// made and dropped one connection first, so per-thread library state is not counted.
void run_idle_heap(implementation& impl, const options& o, json& result) {
  auto server = impl.make_server(o.tls);
  auto client = impl.make_client(o.tls);
  auto conn = connector::make(o.transport);
  const std::size_t n = o.count;
  std::barrier sync(3);
  std::vector<std::unique_ptr<connection>> servers;
  std::vector<std::unique_ptr<connection>> clients;
  servers.reserve(n);
  clients.reserve(n);
  facts f;
  // A failed thread would leave the others at a barrier: end the run instead.
  const auto or_abort = [](auto body) {
    return [body] {
      try {
        body();
      } catch (const std::exception& e) {
        abort_run(e.what());
      }
    };
  };
  worker st(or_abort([&] {
    for (std::size_t i = 0; i < n + 1; ++i) {
      const int fd = conn->accept();
      if (fd < 0) fail("idle-heap: the client stopped early");
      auto c = server->attach(fd);
      c->start_tls();
      pong(*c);
      if (i == 0) {
        c.reset();
        sync.arrive_and_wait();  // warm-up done
        sync.arrive_and_wait();  // baseline taken
      } else {
        servers.push_back(std::move(c));
      }
    }
    sync.arrive_and_wait();  // all open
    sync.arrive_and_wait();  // measured
    sync.arrive_and_wait();  // clients gone
    sync.arrive_and_wait();  // measured
    servers.clear();
    sync.arrive_and_wait();
  }));
  worker ct(or_abort([&] {
    for (std::size_t i = 0; i < n + 1; ++i) {
      auto c = client->attach(conn->connect());
      c->start_tls();
      ping(*c);
      if (i == 0) {
        f = c->negotiated();
        c.reset();
        sync.arrive_and_wait();
        sync.arrive_and_wait();
      } else {
        clients.push_back(std::move(c));
      }
    }
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    clients.clear();
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    sync.arrive_and_wait();
  }));
  sync.arrive_and_wait();
  const std::size_t h0 = heap_in_use();
  sync.arrive_and_wait();
  sync.arrive_and_wait();
  const std::size_t h1 = heap_in_use();
  sync.arrive_and_wait();
  sync.arrive_and_wait();
  const std::size_t h2 = heap_in_use();
  sync.arrive_and_wait();
  sync.arrive_and_wait();
  const std::size_t h3 = heap_in_use();
  ct.join();
  st.join();
  const auto per = [&](std::size_t hi, std::size_t lo) {
    return (static_cast<double>(hi) - static_cast<double>(lo)) / static_cast<double>(n);
  };
  put_facts(result, f);
  result.set("value", per(h1, h0))
      .set("unit", "bytes/connection")
      .set("client_bytes", per(h1, h2))
      .set("server_bytes", per(h2, h3))
      .set("leftover_bytes", per(h3, h0))
      .set("connections", n);
}

}  // namespace bench
