/// @file
/// uptls on Asio's io_context (standalone Asio, `<asio.hpp>`): the optional glue
/// between a buffer-driven uptls::stream and an asio::ip::tcp::socket.
///
/// uptls never touches the socket. async_drive() runs one resumable uptls call
/// (a stream call, or a dialogue's resume()) to its end: it calls the step,
/// writes what the stream has to send with async_write, reads with
/// async_read_some when the step waits for bytes, feeds them in, and calls the
/// step again; a steady_timer bounds each wait by the stream's next deadline.
/// The handler gets the step's final result. Nothing here blocks the io_context.
///
/// @code
///   uptls::stream s = uptls::stream::buffer_driven(uptls::smtp::line_limits());
///   uptls::smtp::server_session session(std::move(s), opts, sink);
///   uptls::asio::async_drive(socket, session.connection(),
///       [&] { return session.resume(); },
///       [](uptls::result<> why) { /* the session ended */ });
/// @endcode
///
/// Only this header needs Asio; the uptls library itself does not. See
/// docs/architecture.md "Asio adapter" and examples/asio.
#pragma once

#include <array>
#include <asio.hpp>
#include <cstddef>
#include <memory>
#include <span>
#include <utility>

#include "uptls/result.hpp"
#include "uptls/stream.hpp"

/// uptls on Asio: async_drive().
namespace uptls::asio {

namespace detail {

// One drive: the socket, the stream, the step, the handler, a read buffer and the
// deadline timer, kept alive by the completion handlers that refer to it.
template <class Step, class Handler>
class drive_op : public std::enable_shared_from_this<drive_op<Step, Handler>> {
 public:
  drive_op(::asio::ip::tcp::socket& sock, stream& s, Step step, Handler handler)
      : sock_(sock), s_(s), step_(std::move(step)), handler_(std::move(handler)), timer_(sock.get_executor()) {}

  void go() { next(step_()); }

 private:
  // What the step said: send what is queued first, then finish or wait.
  void next(result<> r) {
    if (!s_.output().empty()) return send(r);
    if (!r.would_block()) return finish(r);
    if (r.wants() == wait_for::write) return go();  // the output was taken: there is room again
    receive();
  }

  void send(result<> r) {
    const auto out = s_.output();
    auto self = this->shared_from_this();
    ::asio::async_write(sock_, ::asio::buffer(out.data(), out.size()),
                        [self, r](const std::error_code& ec, std::size_t n) {
                          self->s_.consume_output(n);
                          if (ec) {
                            // The connection is gone: the stream learns it as its end.
                            self->s_.feed_eof();
                            return self->go();
                          }
                          if (r.would_block() && r.wants() == wait_for::write) return self->go();
                          self->next(r);
                        });
  }

  void receive() {
    auto self = this->shared_from_this();
    arm_timer();
    sock_.async_read_some(::asio::buffer(buf_), [self](const std::error_code& ec, std::size_t n) {
      self->timer_.cancel();
      if (ec == ::asio::error::operation_aborted && self->timed_out_) {
        self->timed_out_ = false;
        return self->go();  // the deadline passed: the step says errc::timeout itself
      }
      if (ec) {
        self->s_.feed_eof();  // end of stream, or a reset: the stream reports what it got
      } else if (const result<> fed = self->s_.feed(std::as_bytes(std::span(self->buf_.data(), n))); !fed) {
        return self->finish(fed);
      }
      self->go();
    });
  }

  void arm_timer() {
    const auto deadline = s_.next_deadline();
    if (!deadline) return;
    timer_.expires_at(*deadline);
    auto self = this->shared_from_this();
    timer_.async_wait([self](const std::error_code& ec) {
      if (ec) return;  // cancelled: the read came first
      self->timed_out_ = true;
      std::error_code ignored;
      self->sock_.cancel(ignored);
    });
  }

  void finish(result<> r) {
    // A stream that ended hands its connection back: close the socket once the
    // last bytes (a goodbye, a close_notify) are out, as the stream closed.
    if (s_.current() == stream::state::closed || s_.current() == stream::state::failed) {
      std::error_code ignored;
      sock_.shutdown(::asio::ip::tcp::socket::shutdown_send, ignored);
    }
    handler_(r);
  }

  ::asio::ip::tcp::socket& sock_;
  stream& s_;
  Step step_;
  Handler handler_;
  ::asio::steady_timer timer_;
  bool timed_out_ = false;
  std::array<char, 16 * 1024> buf_{};
};

}  // namespace detail

/// Runs step (a callable returning result<>; for a call with a value, return its
/// status()) until it no longer would block, over sock and the buffer-driven
/// stream s, then calls handler(result<>) with the step's final result: ok, or
/// why it failed (errc::timeout when the stream's deadline passed while waiting
/// for bytes; a socket error reaches the stream as the end of its input, and the
/// step then reports it, e.g. errc::eof or errc::truncated). When the stream
/// ended (closed or failed) the socket's sending side is shut down before the
/// handler runs. sock, s and what step uses must outlive the drive; only one
/// drive may run on a stream at a time.
template <class Step, class Handler>
void async_drive(::asio::ip::tcp::socket& sock, stream& s, Step step, Handler handler) {
  auto wrapped = [step = std::move(step)]() mutable -> result<> { return step(); };
  auto op = std::make_shared<detail::drive_op<decltype(wrapped), Handler>>(sock, s, std::move(wrapped),
                                                                           std::move(handler));
  op->go();
}

}  // namespace uptls::asio
