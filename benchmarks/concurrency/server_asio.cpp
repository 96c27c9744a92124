// bench-smtp-server-asio: the same server as bench-smtp-server-raw on standalone
// Asio, written the way the Asio examples write one: one io_context run on one
// thread, a session object per connection kept alive by the handlers that hold
// its shared_ptr, async operations chained from their completion handlers, a
// steady_timer per session for the idle deadline.
//
// The session owns an asio::ssl::stream<tcp::socket> from the start and speaks
// plaintext through next_layer() until STARTTLS; then async_handshake runs over
// the same socket. Asio's stream keeps its own two 17 KiB record buffers and a BIO
// pair beside the SSL (asio/ssl/detail/stream_core.hpp), and it sets
// SSL_MODE_RELEASE_BUFFERS on every SSL itself (asio/ssl/detail/impl/engine.ipp):
// so --release-buffers changes nothing here, and the STATS line says
// release_buffers: true whatever the command line.
//
// The dialogue (smtp_dialogue), the command line, the control channel and every
// line printed are shared with the raw server (common.hpp).
#include <unistd.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "common.hpp"
#include "smtp_dialogue.hpp"

namespace conc {
namespace {

using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view server_name = "asio";

class server;

class session : public std::enable_shared_from_this<session> {
 public:
  session(server& srv, tcp::socket socket);
  ~session();
  void start();

 private:
  void send(std::string_view reply, after then);
  void next();
  void read();
  void handshake();
  void finish(bool orderly);
  void close_socket();
  void touch() { deadline_ = clock_type::now() + idle_; }
  void wait_deadline();

  server& srv_;
  asio::ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  clock_type::duration idle_;
  clock_type::time_point deadline_;
  smtp_dialogue dialogue_;
  bool tls_ = false;
  bool quit_ = false;
  bool closed_ = false;
  std::size_t in_len_ = 0;
  char in_[max_line];
};

class server {
 public:
  server(const server_options& o, const fd_limit& limit)
      : opts_(o), limit_(limit), ctx_(asio::ssl::context::tls_server), acceptor_(io_), pause_(io_), signals_(io_),
        control_in_(io_) {
    configure_server_ctx(ctx_.native_handle(), o);
    tcp::endpoint at(asio::ip::address_v4::loopback(), static_cast<unsigned short>(o.port));
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(listen_backlog);  // as the raw server: the kernel clips it to somaxconn
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
  }

  int run() {
    accept();
    signals_.async_wait([this](const asio::error_code& ec, int signo) {
      if (!ec) stop(signo == SIGTERM ? "SIGTERM" : "SIGINT");
    });
    if (stdin_is_control()) {
      control_in_.assign(::dup(STDIN_FILENO));
      read_control();
    } else {
      std::fprintf(stderr, "%s: stdin is not a pipe or terminal: control by SIGTERM only\n", server_name.data());
    }
    print_line("LISTENING " + std::to_string(acceptor_.local_endpoint().port()));
    io_.run();
    return 0;
  }

  asio::ssl::context& ctx() { return ctx_; }
  asio::io_context& io() { return io_; }
  const server_options& opts() const { return opts_; }
  server_counters counters;
  rate_limited_log log{10};

 private:
  void accept() {
    acceptor_.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
      if (ec) {
        ++counters.accept_errors;
        log("accept: " + ec.message());
        if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory) {
          // Out of descriptors: try again in a while, as the raw server does.
          pause_.expires_after(std::chrono::milliseconds(100));
          pause_.async_wait([this](const asio::error_code&) { accept(); });
          return;
        }
        return accept();
      }
      if (counters.current >= opts_.max_conn) {
        // Over the limit: say why and hang up, without blocking the loop.
        ++counters.refused;
        asio::error_code ignored;
        socket.non_blocking(true, ignored);
        socket.write_some(asio::buffer(smtp_dialogue::too_many), ignored);
        socket.close(ignored);
      } else {
        // TCP_NODELAY, as on the raw server and the load generator.
        asio::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<session>(*this, std::move(socket))->start();
      }
      accept();
    });
  }

  void read_control() {
    asio::async_read_until(control_in_, asio::dynamic_buffer(control_), '\n',
                           [this](const asio::error_code& ec, std::size_t n) {
                             if (ec) return stop("end of stdin");
                             const std::string line = control_.substr(0, n - 1);
                             control_.erase(0, n);
                             switch (parse_control(line)) {
                               case control::heap: print_line(heap_json(server_name, counters)); break;
                               case control::stats: return stop("STATS command");
                               case control::unknown: print_line(unknown_control_json(line)); break;
                             }
                             read_control();
                           });
  }

  void stop(const char* why) {
    if (stopped_) return;
    stopped_ = true;
    print_line(stats_json(server_name, opts_, counters, limit_, why));
    io_.stop();
  }

  server_options opts_;
  fd_limit limit_;
  // One thread runs the loop: the hint lets Asio skip its internal locking.
  asio::io_context io_{1};
  asio::ssl::context ctx_;
  tcp::acceptor acceptor_;
  asio::steady_timer pause_;
  asio::signal_set signals_;
  asio::posix::stream_descriptor control_in_;
  std::string control_;
  bool stopped_ = false;
};

session::session(server& srv, tcp::socket socket)
    : srv_(srv),
      stream_(std::move(socket), srv.ctx()),
      timer_(srv.io()),
      idle_(std::chrono::seconds(srv.opts().idle_timeout_s)) {
  srv_.counters.opened();
}

session::~session() {
  if (!quit_) ++srv_.counters.closed_early;
  --srv_.counters.current;
}

void session::start() {
  touch();
  wait_deadline();
  send(smtp_dialogue::greeting, after::read);
}

// The idle deadline: one wait per session, which re-arms itself while there was
// activity since it was set (touch() only moves the deadline, so reads never
// cancel and restart the timer).
void session::wait_deadline() {
  timer_.expires_at(deadline_);
  timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec || self->closed_) return;
    if (clock_type::now() < self->deadline_) return self->wait_deadline();
    ++self->srv_.counters.timeouts;
    self->close_socket();
  });
}

void session::send(std::string_view reply, after then) {
  auto done = [self = shared_from_this(), then](const asio::error_code& ec, std::size_t) {
    if (ec || self->closed_) return self->finish(false);
    switch (then) {
      case after::read: return self->next();
      case after::start_tls: return self->handshake();
      case after::close: return self->finish(true);
      case after::quit: self->quit_ = true; return self->finish(true);
    }
  };
  if (tls_) {
    asio::async_write(stream_, asio::buffer(reply.data(), reply.size()), std::move(done));
  } else {
    asio::async_write(stream_.next_layer(), asio::buffer(reply.data(), reply.size()), std::move(done));
  }
}

// Answers the next complete line in the buffer, or reads more.
void session::next() {
  for (;;) {
    const auto* lf = static_cast<const char*>(std::memchr(in_, '\n', in_len_));
    if (lf == nullptr) {
      if (in_len_ == sizeof in_) {
        const step s = smtp_dialogue::line_too_long();
        return send(s.reply, s.next);
      }
      return read();
    }
    const std::size_t used = static_cast<std::size_t>(lf - in_) + 1;
    std::size_t len = used - 1;
    if (len > 0 && in_[len - 1] == '\r') --len;
    const step s = dialogue_.on_line(std::string_view(in_, len), tls_, used < in_len_, srv_.counters);
    std::memmove(in_, in_ + used, in_len_ - used);
    in_len_ -= used;
    if (!s.reply.empty()) return send(s.reply, s.next);
  }
}

void session::read() {
  auto done = [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
    if (ec || self->closed_) return self->finish(false);
    self->in_len_ += n;
    self->touch();
    self->next();
  };
  auto room = asio::buffer(in_ + in_len_, sizeof in_ - in_len_);
  if (tls_) {
    stream_.async_read_some(room, std::move(done));
  } else {
    stream_.next_layer().async_read_some(room, std::move(done));
  }
}

void session::handshake() {
  // Nothing is buffered here: the dialogue refused STARTTLS with bytes behind it.
  stream_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](const asio::error_code& ec) {
    if (ec) {
      ++self->srv_.counters.handshake_failures;
      self->srv_.log("handshake: " + ec.message());
      return self->finish(false);
    }
    ++self->srv_.counters.handshakes;
    self->tls_ = true;
    self->dialogue_.tls_started();
    self->next();
  });
}

void session::finish(bool orderly) {
  if (closed_) return;
  if (orderly && tls_) {
    // Asio's shutdown sends close_notify and waits for the peer's; the idle
    // timer still bounds that wait.
    stream_.async_shutdown([self = shared_from_this()](const asio::error_code&) { self->close_socket(); });
    return;
  }
  close_socket();
}

void session::close_socket() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ignored;
  stream_.lowest_layer().close(ignored);
  timer_.cancel();
}

}  // namespace
}  // namespace conc

int main(int argc, char** argv) {
  conc::server_options o = conc::parse_server_options(argc, argv);
  o.release_buffers = true;  // what Asio does to every SSL anyway (see the top of this file)
  std::signal(SIGPIPE, SIG_IGN);
  const conc::fd_limit limit = conc::raise_fd_limit(o.max_conn + 64);
  if (!limit.enough()) std::fprintf(stderr, "bench-smtp-server-asio: fd limit: %s\n", limit.note.c_str());
  try {
    conc::server s(o, limit);
    return s.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-smtp-server-asio: %s\n", e.what());
    return 1;
  }
}
