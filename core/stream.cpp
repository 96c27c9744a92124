#include "uptls/stream.hpp"

#include <algorithm>
#include <cstring>
#include <gsl/assert>

#include "handshake_watch.hpp"

namespace uptls {
namespace {

constexpr std::size_t read_chunk = 16 * 1024;

// An over-long line is thrown away in slices of at most this many max_lines per
// read_line call, so one call stays bounded against a peer that never sends LF.
constexpr std::size_t discard_slices = 16;

// An alert read straight off the wire (plaintext, before any handshake record)
// names the failure alike on every backend; only an alert with no name of its
// own leaves the backend's word standing.
std::error_code from_first_alert(int alert, std::error_code backend_said) {
  const errc named = from_alert(alert);
  if (named == errc::peer_alert && backend_said) return backend_said;
  return named;
}

}  // namespace

stream::stream(std::unique_ptr<transport> io, stream_options opts) : io_(std::move(io)), opts_(opts) {
  Expects(io_ != nullptr);
  Expects(opts_.max_line >= 2);
}

stream::~stream() = default;
stream::stream(stream&&) noexcept = default;
stream& stream::operator=(stream&&) noexcept = default;

// After the upgrade too the library's detail matters: a TLS 1.3 client learns
// that the server refused its certificate only on its first read.
std::error_code stream::tls_failed(const op_result& r) {
  if (!error_) failure_ = engine_->failure();
  return fail(r.error);
}

// Ends a failed handshake without racing our alert: closing a socket with unread
// input makes the kernel send a reset, which can overtake the alert just sent.
// So half-close, read what is left for a short, bounded while, then close.
void stream::close_after_failure() {
  io_->shutdown_write();
  io_->set_deadline(clock::now() + std::chrono::milliseconds(100));
  std::byte sink[4096];
  for (int i = 0; i < 16; ++i) {
    if (io_->read_some(sink).status != io_status::ok) break;
  }
  io_->set_deadline(std::nullopt);
  io_->close();
}

std::error_code stream::fail(std::error_code ec) {
  if (!error_) error_ = ec;
  state_ = state::failed;
  return error_;
}

// Appends what one read brings. eof means a clean end (plaintext EOF or the
// peer's close_notify); TLS errors are fatal, plaintext timeouts are not.
std::error_code stream::fill() {
  if (head_ > 0 && (head_ == buf_.size() || head_ >= buf_.size() / 2)) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  const std::size_t old = buf_.size();
  buf_.resize(old + read_chunk);
  const auto space = std::span(buf_).subspan(old);
  std::size_t got = 0;
  std::error_code ec;
  if (state_ == state::tls) {
    const op_result r = engine_->read(space);
    if (r.status == tls_status::ok) got = r.bytes;
    else if (r.status == tls_status::closed) ec = errc::eof;
    else if (r.status == tls_status::error) ec = tls_failed(r);
    else ec = errc::timeout;  // want_*: the stream is used over a blocking transport
  } else {
    const io_result r = io_->read_some(space);
    if (r.status == io_status::ok) got = r.bytes;
    else if (r.status == io_status::eof) ec = errc::eof;
    else if (r.status == io_status::error) ec = r.error;
    else ec = errc::timeout;
  }
  buf_.resize(old + got);
  return ec;
}

std::error_code stream::read_line(std::string& line) {
  line.clear();
  if (error_) return error_;
  if (state_ == state::closed) return errc::usage;
  std::size_t scanned = 0;
  std::size_t discarded = 0;
  for (;;) {
    const auto begin = buf_.begin() + static_cast<std::ptrdiff_t>(head_);
    const auto lf = std::find(begin + static_cast<std::ptrdiff_t>(scanned), buf_.end(), std::byte{'\n'});
    if (lf != buf_.end()) {
      const auto len = static_cast<std::size_t>(lf - begin) + 1;
      if (discarding_ || len > opts_.max_line) {
        head_ += len;
        discarding_ = false;
        return errc::line_too_long;
      }
      std::size_t keep = len - 1;
      if (keep > 0 && begin[static_cast<std::ptrdiff_t>(keep - 1)] == std::byte{'\r'}) --keep;
      last_crlf_ = keep + 2 == len;
      line.assign(reinterpret_cast<const char*>(&*begin), keep);
      head_ += len;
      return {};
    }
    scanned = buffered();
    if (scanned >= opts_.max_line) {
      // Too long already: drop it (memory stays bounded) and keep reading to its LF.
      // The flag outlives this call: when the slice bound below returns early, the
      // next call must go on discarding, or the line's tail would come out as a
      // line of its own (a command smuggled inside a long line).
      discarding_ = true;
      discarded += scanned;
      head_ = buf_.size();
      scanned = 0;
      if (discarded >= discard_slices * opts_.max_line) return errc::line_too_long;
    }
    const std::error_code ec = fill();
    if (!ec) continue;
    if (ec == errc::eof && buffered() > 0 && !discarding_) {
      line.assign(reinterpret_cast<const char*>(buf_.data() + head_), buffered());
      head_ = buf_.size();
      return errc::incomplete_line;
    }
    return discarding_ && ec == errc::eof ? make_error_code(errc::incomplete_line) : ec;
  }
}

result<std::size_t> stream::read_some(std::span<std::byte> buf) {
  Expects(!buf.empty());
  if (error_) return error_;
  if (state_ == state::closed) return errc::usage;
  if (buffered() > 0) {
    const std::size_t n = std::min(buf.size(), buffered());
    std::memcpy(buf.data(), buf_.data() + head_, n);
    head_ += n;
    return n;
  }
  // Nothing buffered: read straight into the caller's memory (no extra copy).
  if (state_ == state::tls) {
    const op_result r = engine_->read(buf);
    if (r.status == tls_status::ok) return r.bytes;
    if (r.status == tls_status::closed) return std::size_t{0};
    if (r.status == tls_status::error) return tls_failed(r);
    return errc::timeout;
  }
  const io_result r = io_->read_some(buf);
  if (r.status == io_status::ok) return r.bytes;
  if (r.status == io_status::eof) return std::size_t{0};
  if (r.status == io_status::error) return r.error;
  return errc::timeout;
}

std::error_code stream::write(std::span<const std::byte> buf) {
  if (error_) return error_;
  if (state_ == state::closed) return errc::usage;
  if (state_ == state::plaintext) return write_all(*io_, buf);
  while (!buf.empty()) {
    const op_result r = engine_->write(buf);
    if (r.status == tls_status::error) return tls_failed(r);
    if (r.status != tls_status::ok) return fail(errc::timeout);
    buf = buf.subspan(r.bytes);
  }
  return {};
}

std::error_code stream::write(std::string_view text) {
  return write(std::as_bytes(std::span(text.data(), text.size())));
}

std::error_code stream::start_tls(std::shared_ptr<const context> ctx, const peer_options& peer) {
  Expects(ctx != nullptr);
  if (error_) return error_;
  if (state_ != state::plaintext) return errc::usage;
  if (buffered() > 0) {
    // Bytes that came before the handshake would otherwise be read as if they
    // had been protected by it (CVE-2011-0411, CVE-2021-22947). Drop them and fail.
    buf_.clear();
    head_ = 0;
    close_after_failure();  // a failed upgrade leaves no connection behind, whatever the cause
    return fail(errc::plaintext_injection);
  }
  buf_.clear();
  buf_.shrink_to_fit();
  head_ = 0;
  discarding_ = false;

  auto watch = std::make_unique<detail::handshake_watch>(*io_);
  auto made = ctx->make_engine(*watch, peer);
  if (!made) return fail(made.error());
  std::unique_ptr<engine> eng = std::move(made).value();

  io_->set_deadline(clock::now() + ctx->config().handshake_timeout);
  const op_result r = eng->handshake();
  io_->set_deadline(std::nullopt);
  watch->stop();

  if (r.status == tls_status::ok) {
    session_ = eng->session();
    ctx_ = std::move(ctx);
    watch_ = std::move(watch);
    engine_ = std::move(eng);
    state_ = state::tls;
    return {};
  }

  // Normalise from the wire what each library words in its own way.
  failure_ = eng->failure();
  const detail::wire_facts& wire = watch->facts();
  std::error_code ec = r.status == tls_status::error ? r.error : make_error_code(errc::timeout);
  const bool client = ctx->side() == role::client;
  if (wire.plain_alert >= 0 && failure_.alert_received < 0 && !(client && wire.first_alert >= 0)) {
    // The peer said why in the clear and the library could not read it (or
    // tripped over the reset that followed it first): the alert is the reason.
    ec = from_first_alert(wire.plain_alert, ec);
    failure_.alert_received = wire.plain_alert;
  } else if (wire.transport_error && failure_.alert_received < 0) {
    ec = wire.transport_error;
  } else if (wire.not_tls) {
    ec = errc::not_tls;
  } else if (client && wire.first_alert >= 0) {
    ec = from_first_alert(wire.first_alert, ec);
    failure_.alert_received = wire.first_alert;
  } else if (wire.eof && failure_.alert_received < 0) {
    ec = errc::eof;
  }
  if (client) {
    failure_.server_handshake_seen = wire.handshake_seen;
    failure_.eof_before_server_hello = wire.eof && !wire.any_byte;
  }
  close_after_failure();  // nothing more may be sent into a failed session
  return fail(ec);
}

std::error_code stream::close() {
  if (state_ == state::closed) return {};
  std::error_code ec;
  if (state_ == state::tls && !error_) {
    const op_result r = engine_->close();
    if (r.status == tls_status::error) ec = r.error;
  }
  io_->close();
  state_ = state::closed;
  return ec;
}

}  // namespace uptls
