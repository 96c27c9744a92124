// The resumable stream. Every public call is one step of a state machine that
// either makes progress or says what it waits for; the blocking mode is the
// loop in run(), over the same steps, with the transport's wait() and the
// deadlines.
#include "uptls/stream.hpp"

#include <algorithm>
#include <cstring>
#include <gsl/assert>

#include "engine/engine.hpp"
#include "engine/handshake_watch.hpp"
#include "io/buffer_transport.hpp"

namespace uptls {
namespace detail {
namespace {

// Bytes read per fill(): a TLS record's worth, so one read takes a whole record.
constexpr std::size_t read_chunk = 16 * 1024;

// An over-long line is thrown away in slices of at most this many max_lines per
// read_line call, so one call stays bounded against a peer that never sends LF.
constexpr std::size_t discard_slices = 16;

// How long a failed handshake drains the peer's bytes before the connection
// closes (see close()).
constexpr milliseconds failure_drain{100};

// An alert read straight off the wire (plaintext) names the failure alike on
// every backend; only an alert with no name of its own leaves the backend's word.
std::error_code from_wire_alert(int alert, std::error_code backend_said) {
  const errc named = from_alert(alert);
  if (named == errc::peer_alert && backend_said) return backend_said;
  return named;
}

}  // namespace

class stream_core {
 public:
  stream_core(std::unique_ptr<transport> io, stream_options opts, buffer_transport* buffer)
      : io_(std::move(io)), buffer_(buffer), opts_(opts) {
    Expects(io_ != nullptr);
    Expects(opts_.max_line >= 2);
  }

  // -- the blocking layer: the same step, waited on until it is not blocked
  template <class Step>
  auto run(Step step) -> decltype(step()) {
    for (;;) {
      auto r = step();
      if (!r.would_block() || opts_.mode == io_mode::non_blocking) return r;
      if (const result<> w = wait(r.wants()); w.failed() && w.error() != errc::timeout) return w.error();
      // A timeout of the wait is noticed by the step itself (deadline passed).
    }
  }

  result<> wait(wait_for w) {
    const auto deadline = next_deadline();
    // Every blocked step has a deadline; without one there is nothing to wait for.
    if (!deadline) return errc::usage;
    return io_->wait(w, *deadline);
  }

  // -- reading
  result<std::string_view> read_line();
  result<std::size_t> read_some(std::span<std::byte> buf);
  // -- writing
  result<> write(std::span<const std::byte> buf);
  result<> flush();
  // -- the upgrade and the end
  result<> start_tls(const std::shared_ptr<const context>& ctx, const peer_options& peer);
  result<> close();

  std::optional<clock::time_point> next_deadline() const noexcept {
    std::optional<clock::time_point> at;
    const auto earliest = [&](std::optional<clock::time_point> t) {
      if (t && (!at || *t < *at)) at = t;
    };
    if (state_ == stream::state::handshaking) earliest(handshake_deadline_);
    if (draining_) earliest(drain_deadline_);
    if (read_since_) {
      earliest(*read_since_ + opts_.io_timeout);
      earliest(read_deadline_);
    }
    if (write_since_) earliest(*write_since_ + opts_.io_timeout);
    return at;
  }

  const session_info* session() const {
    if (!engine_ || (state_ != stream::state::tls && !tls_was_up_)) return nullptr;
    if (!session_) session_ = engine_->session();  // built on first use only
    return &*session_;
  }

  std::size_t buffered() const noexcept { return rtail_ - rhead_; }
  std::size_t pending_output() const noexcept { return out_.size(); }

  std::unique_ptr<transport> io_;
  buffer_transport* buffer_;  // io_ itself when buffer-driven, else nullptr
  stream_options opts_;
  stream::state state_ = stream::state::plaintext;
  wait_for wants_ = wait_for::none;
  bool last_crlf_ = false;
  failure_info failure_;
  std::error_code error_;
  std::optional<clock::time_point> read_deadline_;

 private:
  // A call that waits: remember since when, for the io_timeout.
  template <class R>
  R blocked(R r) {
    wants_ = r.wants();
    auto& since = wants_ == wait_for::read ? read_since_ : write_since_;
    if (!since) since = clock::now();
    return r;
  }
  template <class R>
  R done(R r) {
    if (!r.would_block()) wants_ = wait_for::none;
    return r;
  }

  result<> fail(std::error_code ec) {
    if (!error_) error_ = ec;
    state_ = stream::state::failed;
    wants_ = wait_for::none;
    return error_;
  }

  // errc::timeout when the step that is about to wait is past a deadline.
  // Read timeouts leave the stream usable (a server may still say goodbye);
  // write and handshake timeouts are fatal.
  result<> check_deadlines(bool reading) {
    const auto now = clock::now();
    if (state_ == stream::state::handshaking && handshake_deadline_ && now >= *handshake_deadline_) {
      return handshake_failed(make_error_code(errc::timeout));
    }
    if (reading && read_since_) {
      const bool idle = now >= *read_since_ + opts_.io_timeout;
      const bool late = read_deadline_ && now >= *read_deadline_;
      if (idle || late) {
        read_since_.reset();  // the next read starts a wait of its own
        if (state_ == stream::state::handshaking) return handshake_failed(make_error_code(errc::timeout));
        return errc::timeout;
      }
    }
    if (write_since_ && now >= *write_since_ + opts_.io_timeout) {
      write_since_.reset();
      if (state_ == stream::state::handshaking) return handshake_failed(make_error_code(errc::timeout));
      return fail(errc::timeout);
    }
    return {};
  }

  // More bytes from the peer into the read buffer: the count, 0 at the end of
  // the stream (plaintext EOF or the peer's close_notify).
  result<std::size_t> fill();
  void compact_or_grow();
  void release_read_buffer() noexcept {
    if (buffered() > 0) return;
    rbuf_.reset();
    rcap_ = rhead_ = rtail_ = 0;
  }

  // Sends from out_ until it is empty or the transport would block.
  result<> send_pending();
  // What write() held goes out before the stream waits for the peer, who may
  // be waiting for it: would-block (write) until it has.
  result<> flush_before_reading() {
    if (out_.empty()) return {};
    if (const result<> late = check_deadlines(false); !late) return done(late);
    return send_pending();
  }
  // One write of bytes: the count the transport or the engine took.
  result<std::size_t> send_some(std::span<const std::byte> bytes) {
    if (state_ == stream::state::tls) {
      const result<std::size_t> r = engine_->write(bytes);
      if (r.failed()) return tls_failed(r.error());
      return r;
    }
    return io_->write_some(bytes);
  }

  // After the upgrade too the library's detail matters: a TLS 1.3 client learns
  // that the server refused its certificate only on its first read.
  result<> tls_failed(std::error_code ec) {
    if (!error_) failure_ = engine_->failure();
    return fail(ec);
  }
  result<> handshake_failed(std::error_code ec);
  void end_after_failure();
  result<> drain();
  result<> close_after_error() {
    io_->close();
    state_ = stream::state::closed;
    wants_ = wait_for::none;
    return error_;
  }

  // read buffer: [rhead_, rtail_) holds bytes not yet consumed
  std::unique_ptr<std::byte[]> rbuf_;
  std::size_t rcap_ = 0;
  std::size_t rhead_ = 0;
  std::size_t rtail_ = 0;
  bool discarding_ = false;  // inside an over-long line: drop bytes up to its LF
  bool plaintext_read_ = false;  // the peer spoke in plaintext before the upgrade
  std::size_t discarded_ = 0;

  // bytes write() took that the transport (or the engine) has not yet
  byte_queue out_;

  // TLS
  std::shared_ptr<const context> ctx_;
  std::unique_ptr<handshake_watch> watch_;
  std::unique_ptr<engine> engine_;
  mutable std::optional<session_info> session_;
  bool tls_was_up_ = false;
  bool close_notify_sent_ = false;

  // deadlines
  std::optional<clock::time_point> read_since_;
  std::optional<clock::time_point> write_since_;
  std::optional<clock::time_point> handshake_deadline_;
  bool draining_ = false;
  clock::time_point drain_deadline_{};
};

void stream_core::compact_or_grow() {
  if (!rbuf_) {
    rcap_ = std::max(read_chunk, opts_.max_line + 1);
    // Not value-initialised: the bytes are written before they are read.
    rbuf_.reset(new std::byte[rcap_]);
    rhead_ = rtail_ = 0;
    return;
  }
  if (rhead_ == rtail_) {
    rhead_ = rtail_ = 0;
    return;
  }
  if (rcap_ - rtail_ >= read_chunk / 4) return;
  std::memmove(rbuf_.get(), rbuf_.get() + rhead_, rtail_ - rhead_);
  rtail_ -= rhead_;
  rhead_ = 0;
  if (rcap_ - rtail_ < read_chunk / 4) {
    // Still full: a line near max_line plus a record. Grow once, bounded by
    // max_line (read_line discards longer lines before this matters).
    const std::size_t bigger = rcap_ + read_chunk;
    std::unique_ptr<std::byte[]> next(new std::byte[bigger]);
    std::memcpy(next.get(), rbuf_.get(), rtail_);
    rbuf_ = std::move(next);
    rcap_ = bigger;
  }
}

result<std::size_t> stream_core::fill() {
  compact_or_grow();
  const auto space = std::span(rbuf_.get() + rtail_, rcap_ - rtail_);
  result<std::size_t> r = state_ == stream::state::tls ? engine_->read(space) : io_->read_some(space);
  if (r.failed() && state_ == stream::state::tls) return tls_failed(r.error());
  if (r.ok()) {
    rtail_ += *r;
    if (*r > 0) read_since_.reset();  // progress
    if (state_ == stream::state::plaintext) plaintext_read_ = true;
  }
  return r;
}

result<std::string_view> stream_core::read_line() {
  if (error_) return error_;
  if (state_ == stream::state::closed || state_ == stream::state::handshaking) return errc::usage;
  if (const result<> sent = flush_before_reading(); !sent) return sent;
  std::size_t scanned = 0;
  // Bounded: every round either returns or reads at least one byte; the discard
  // bound below ends a call that only ever sees a never-ending line.
  for (;;) {
    std::byte* const begin = rbuf_.get() + rhead_;
    std::byte* const end = rbuf_.get() + rtail_;
    std::byte* const lf = rbuf_ ? std::find(begin + scanned, end, std::byte{'\n'}) : nullptr;
    if (rbuf_ && lf != end) {
      const auto len = static_cast<std::size_t>(lf - begin) + 1;
      rhead_ += len;
      if (discarding_ || len > opts_.max_line) {
        discarding_ = false;
        discarded_ = 0;
        return done(result<std::string_view>(errc::line_too_long));
      }
      std::size_t keep = len - 1;
      if (keep > 0 && begin[keep - 1] == std::byte{'\r'}) --keep;
      last_crlf_ = keep + 2 == len;
      return done(result<std::string_view>(std::string_view(reinterpret_cast<const char*>(begin), keep)));
    }
    scanned = buffered();
    if (scanned >= opts_.max_line) {
      // Too long already: drop it (memory stays bounded) and keep reading to its
      // LF. The flag outlives this call: when the slice bound returns early, the
      // next call must go on discarding, or the line's tail would come out as a
      // line of its own (a command smuggled inside a long line).
      discarding_ = true;
      discarded_ += scanned;
      rhead_ = rtail_;
      scanned = 0;
      if (discarded_ >= discard_slices * opts_.max_line) {
        discarded_ = 0;
        return done(result<std::string_view>(errc::line_too_long));
      }
    }
    if (const result<> late = check_deadlines(true); !late) return done(result<std::string_view>(late));
    const result<std::size_t> got = fill();
    if (got.would_block()) {
      release_read_buffer();  // idle: hold no buffer while the peer is silent
      return blocked(result<std::string_view>(got.status()));
    }
    if (got.failed()) return done(result<std::string_view>(got.status()));
    if (*got > 0) continue;
    // The end of the stream.
    if (discarding_) return done(result<std::string_view>(errc::incomplete_line));
    if (buffered() > 0) {
      // What is left is a line without its end; hand it over once, with the error.
      rhead_ = rtail_;
      return done(result<std::string_view>(errc::incomplete_line));
    }
    return done(result<std::string_view>(errc::eof));
  }
}

result<std::size_t> stream_core::read_some(std::span<std::byte> buf) {
  Expects(!buf.empty());
  if (error_) return error_;
  if (state_ == stream::state::closed || state_ == stream::state::handshaking) return errc::usage;
  if (const result<> sent = flush_before_reading(); !sent) return sent;
  if (buffered() > 0) {
    const std::size_t n = std::min(buf.size(), buffered());
    std::memcpy(buf.data(), rbuf_.get() + rhead_, n);
    rhead_ += n;
    return done(result<std::size_t>(n));
  }
  if (const result<> late = check_deadlines(true); !late) return done(result<std::size_t>(late));
  // Nothing buffered: read straight into the caller's memory (no extra copy).
  result<std::size_t> r = state_ == stream::state::tls ? engine_->read(buf) : io_->read_some(buf);
  if (r.failed() && state_ == stream::state::tls) return done(result<std::size_t>(tls_failed(r.error())));
  if (r.would_block()) {
    release_read_buffer();
    return blocked(r);
  }
  if (r.ok() && *r > 0) {
    read_since_.reset();
    if (state_ == stream::state::plaintext) plaintext_read_ = true;
  }
  return done(r);
}

result<> stream_core::send_pending() {
  while (!out_.empty()) {
    const result<std::size_t> r = send_some(out_.front());
    if (r.would_block()) return blocked(r.status());
    if (r.failed()) return done(fail(r.error()));
    out_.consume(*r);
    write_since_.reset();  // progress
  }
  out_.release();
  return done(result<>{});
}

result<> stream_core::write(std::span<const std::byte> buf) {
  if (error_) return error_;
  if (state_ != stream::state::plaintext && state_ != stream::state::tls) return errc::usage;
  if (!out_.empty()) {
    // Behind what is held: queue it in order; flush() sends it.
    out_.append(buf);
    return {};
  }
  // Nothing held: send straight from the caller's memory, keep only the rest.
  while (!buf.empty()) {
    const result<std::size_t> r = send_some(buf);
    if (r.would_block()) {
      out_.append(buf);
      if (!write_since_) write_since_ = clock::now();
      return {};
    }
    if (r.failed()) return fail(r.error());
    buf = buf.subspan(*r);
    write_since_.reset();
  }
  return {};
}

result<> stream_core::flush() {
  if (error_) return error_;
  if (state_ != stream::state::plaintext && state_ != stream::state::tls) {
    return out_.empty() ? result<>{} : result<>(errc::usage);
  }
  if (out_.empty()) return done(result<>{});
  if (const result<> late = check_deadlines(false); !late) return done(late);
  return send_pending();
}

result<> stream_core::start_tls(const std::shared_ptr<const context>& ctx, const peer_options& peer) {
  Expects(ctx != nullptr);
  if (error_) return error_;
  if (state_ == stream::state::plaintext) {
    // A TLS server says nothing before the client's hello, so a client that
    // finds bytes already waiting behind a go-ahead it read has been sent
    // plaintext to be read as if the handshake had protected it: look once,
    // without waiting. (On a fresh connection, implicit TLS, there was no
    // go-ahead: a server speaking first is a port mix-up, which the handshake
    // names not_tls.)
    if (buffered() == 0 && ctx->side() == role::client && plaintext_read_) {
      compact_or_grow();
      const result<std::size_t> early = io_->read_some(std::span(rbuf_.get() + rtail_, rcap_ - rtail_));
      if (early.ok()) rtail_ += *early;
    }
    if (buffered() > 0) {
      // Bytes that came before the handshake would otherwise be read as if they
      // had been protected by it (CVE-2011-0411, CVE-2021-22947). Drop and fail.
      rhead_ = rtail_ = 0;
      release_read_buffer();
      (void)fail(errc::plaintext_injection);
      end_after_failure();  // a failed upgrade leaves no connection behind
      return done(result<>(error_));
    }
    // Our last plaintext line (a server's go-ahead) goes out before the handshake.
    if (!out_.empty()) {
      if (const result<> sent = flush(); !sent) return sent;
    }
    release_read_buffer();
    discarding_ = false;
    watch_ = std::make_unique<handshake_watch>(*io_);
    const auto& impl = static_cast<const context_impl&>(*ctx);
    auto made = impl.make_engine(*watch_, peer);
    if (!made) return fail(made.error());
    engine_ = std::move(made).value();
    ctx_ = ctx;
    handshake_deadline_ = clock::now() + ctx->config().handshake_timeout;
    state_ = stream::state::handshaking;
  } else if (state_ != stream::state::handshaking) {
    return errc::usage;  // already TLS, or closed
  }

  if (const result<> late = check_deadlines(true); !late) return done(late);
  const std::uint64_t moved_before = watch_->bytes_moved();
  const result<> r = engine_->handshake();
  if (watch_->bytes_moved() != moved_before) {
    // Progress: the idle clock starts again (the handshake as a whole stays
    // bounded by handshake_timeout).
    read_since_.reset();
    write_since_.reset();
  }
  if (r.would_block()) return blocked(r);
  if (r.failed()) return done(handshake_failed(r.error()));
  // Up: the watcher leaves the data path, the deadlines of the handshake go.
  watch_->stop();
  engine_->rebind(*io_);
  watch_.reset();
  handshake_deadline_.reset();
  read_since_.reset();
  write_since_.reset();
  state_ = stream::state::tls;
  tls_was_up_ = true;
  return done(result<>{});
}

// Normalises from the wire what each library words in its own way, then ends
// the connection: nothing more may be sent into a failed session.
result<> stream_core::handshake_failed(std::error_code ec) {
  failure_ = engine_->failure();
  const wire_facts& wire = watch_->facts();
  const bool client = ctx_->side() == role::client;
  if (wire.plain_alert >= 0 && failure_.alert_received < 0 && !(client && wire.first_alert >= 0)) {
    // The peer said why in the clear and the library could not read it (or
    // tripped over the reset that followed it first): the alert is the reason.
    ec = from_wire_alert(wire.plain_alert, ec);
    failure_.alert_received = wire.plain_alert;
  } else if (wire.transport_error && failure_.alert_received < 0 && ec != errc::timeout) {
    ec = wire.transport_error;
  } else if (wire.not_tls) {
    // Plaintext where the handshake was due. After a go-ahead in the clear
    // (STARTTLS) that is plaintext sent behind it (CVE-2011-0411 shape), whether
    // it came in the same segment as the go-ahead or a little later; on a fresh
    // connection it is a plaintext service on an implicit-TLS port.
    ec = plaintext_read_ ? errc::plaintext_injection : errc::not_tls;
  } else if (ec == errc::not_tls && wire.framed) {
    // The peer's first record was TLS: bytes after it that cannot be a record
    // are a broken TLS peer, not a plaintext one (some libraries word both as
    // "wrong version number").
    ec = errc::bad_message;
  } else if (client && wire.first_alert >= 0) {
    ec = from_wire_alert(wire.first_alert, ec);
    failure_.alert_received = wire.first_alert;
  } else if (wire.eof && failure_.alert_received < 0) {
    ec = errc::eof;
  }
  if (client) {
    failure_.server_handshake_seen = wire.handshake_seen;
    failure_.eof_before_server_hello = wire.eof && !wire.any_byte;
  }
  (void)fail(ec);
  end_after_failure();
  return error_;
}

// Ends a failed connection without racing our alert: closing a socket with
// unread input makes the kernel send a reset, which can overtake the alert just
// sent. So half-close now (the peer sees the end at once), and let close() read
// what is left for a short, bounded while before it closes. In blocking mode
// that happens here; a non-blocking owner calls close() (its event loop does).
void stream_core::end_after_failure() {
  io_->shutdown_write();
  draining_ = true;
  drain_deadline_ = clock::now() + failure_drain;
  if (opts_.mode == io_mode::blocking) {
    (void)run([&] { return drain(); });
  }
}

// Discards the peer's bytes until it closes or the drain ends, then closes the
// transport; the stream stays failed (only close() makes it closed).
result<> stream_core::drain() {
  std::byte sink[4096];
  for (int i = 0; i < 16 && clock::now() < drain_deadline_; ++i) {
    const result<std::size_t> r = io_->read_some(sink);
    if (r.would_block()) return blocked(r.status());
    if (!r.ok() || *r == 0) break;
  }
  draining_ = false;
  io_->close();
  wants_ = wait_for::none;
  read_since_.reset();
  return {};
}

result<> stream_core::close() {
  if (state_ == stream::state::closed) return {};
  if (draining_) {
    // After a failure: discard the peer's bytes until it closes or the drain ends.
    if (const result<> d = drain(); d.would_block()) return d;
  } else if (state_ == stream::state::tls && !error_) {
    // What the application wrote goes out before the end of the stream.
    if (!out_.empty()) {
      if (const result<> sent = flush(); !sent) return sent.failed() ? close_after_error() : sent;
    }
    if (!close_notify_sent_) {
      if (const result<> late = check_deadlines(false); !late) return done(late);
      const result<> r = engine_->close();
      if (r.would_block()) return blocked(r);
      close_notify_sent_ = true;  // sent, or failed: either way it is not tried again
      if (r.failed()) {
        io_->close();
        state_ = stream::state::closed;
        return done(r);
      }
    }
  } else if (state_ == stream::state::plaintext && !out_.empty()) {
    // What we wrote last (a "221 bye") goes out before the connection closes.
    if (const result<> sent = flush(); sent.would_block()) return sent;
  }
  // A buffer-driven stream keeps its queued output for the caller to send.
  if (buffer_ == nullptr) io_->close();
  else io_->shutdown_write();
  state_ = stream::state::closed;
  wants_ = wait_for::none;
  read_since_.reset();
  write_since_.reset();
  return done(result<>{});
}

}  // namespace detail

// -- stream: the public face, each call through the blocking layer

stream::stream(std::unique_ptr<transport> io, stream_options opts)
    : core_(std::make_unique<detail::stream_core>(std::move(io), opts, nullptr)) {}

stream stream::buffer_driven(stream_options opts) {
  opts.mode = io_mode::non_blocking;  // a buffer cannot be waited on
  auto io = std::make_unique<detail::buffer_transport>();
  detail::buffer_transport* view = io.get();
  stream s(std::move(io), opts);
  s.core_->buffer_ = view;
  return s;
}

stream::~stream() = default;
stream::stream(stream&&) noexcept = default;
stream& stream::operator=(stream&&) noexcept = default;

result<std::string_view> stream::read_line() {
  return core_->run([&] { return core_->read_line(); });
}
bool stream::last_line_crlf() const noexcept { return core_->last_crlf_; }
result<std::size_t> stream::read_some(std::span<std::byte> buf) {
  return core_->run([&] { return core_->read_some(buf); });
}
result<> stream::write(std::span<const std::byte> buf) {
  const result<> taken = core_->write(buf);  // takes every byte, once
  if (!taken || core_->opts_.mode == io_mode::non_blocking) return taken;
  return core_->run([&] { return core_->flush(); });
}
result<> stream::write(std::string_view text) { return write(std::as_bytes(std::span(text.data(), text.size()))); }
result<> stream::flush() {
  return core_->run([&] { return core_->flush(); });
}
std::size_t stream::pending_output() const noexcept { return core_->pending_output(); }

result<> stream::start_tls(std::shared_ptr<const context> ctx, const peer_options& peer) {
  return core_->run([&] { return core_->start_tls(ctx, peer); });
}
result<> stream::close() {
  return core_->run([&] { return core_->close(); });
}

stream::state stream::current() const noexcept { return core_->state_; }
std::size_t stream::buffered() const noexcept { return core_->buffered(); }
const session_info* stream::session() const { return core_->session(); }
const failure_info& stream::last_failure() const noexcept { return core_->failure_; }
std::error_code stream::error() const noexcept { return core_->error_; }
const stream_options& stream::options() const noexcept { return core_->opts_; }
int stream::native_handle() const noexcept { return core_->io_->native_handle(); }
wait_for stream::wants() const noexcept { return core_->wants_; }
std::optional<clock::time_point> stream::next_deadline() const noexcept { return core_->next_deadline(); }
result<> stream::wait(wait_for w) { return core_->wait(w); }
void stream::set_io_timeout(milliseconds t) noexcept { core_->opts_.io_timeout = t; }
void stream::set_mode(io_mode m) noexcept {
  if (core_->buffer_ == nullptr) core_->opts_.mode = m;
}
void stream::set_read_deadline(std::optional<clock::time_point> when) noexcept { core_->read_deadline_ = when; }
transport& stream::lower() noexcept { return *core_->io_; }

result<> stream::feed(std::span<const std::byte> bytes) {
  if (core_->buffer_ == nullptr) return errc::usage;
  return core_->buffer_->feed(bytes, max_feed());
}
void stream::feed_eof() noexcept {
  if (core_->buffer_ != nullptr) core_->buffer_->feed_eof();
}
std::span<const std::byte> stream::output() const noexcept {
  if (core_->buffer_ == nullptr) return {};
  return core_->buffer_->output();
}
void stream::consume_output(std::size_t n) noexcept {
  if (core_->buffer_ != nullptr) core_->buffer_->consume_output(n);
}

}  // namespace uptls
