// The transport callbacks mbedTLS reads and writes through, and handshake flights.
#include "engine.hpp"

#include <mbedtls/net_sockets.h>

#include <algorithm>
#include <climits>
#include <gsl/narrow>

namespace uptls::mbed {

int mbed_engine::on_send(void* self, const unsigned char* buf, std::size_t len) {
  auto* e = static_cast<mbed_engine*>(self);
  if (len == 0) return 0;
  const auto bytes = std::as_bytes(std::span(buf, std::min<std::size_t>(len, INT_MAX)));
  if (e->watching_) {
    e->to_peer_.feed(bytes);
    e->flight_.insert(e->flight_.end(), bytes.begin(), bytes.end());
    return gsl::narrow<int>(bytes.size());
  }
  return e->send_now(bytes);
}

// One write to the transport: the count taken, or an mbedTLS code.
int mbed_engine::send_now(std::span<const std::byte> bytes) {
  const result<std::size_t> r = io_->write_some(bytes);
  if (r.ok()) return gsl::narrow<int>(*r);
  if (r.would_block()) {
    blocked_ = wait_for::write;
    return MBEDTLS_ERR_SSL_WANT_WRITE;
  }
  io_error_ = r.error();
  return MBEDTLS_ERR_NET_SEND_FAILED;
}

// Sends what is held of the current flight: 0 once all of it is out.
int mbed_engine::flush_flight() {
  while (flight_sent_ < flight_.size()) {
    const int n = send_now(std::span(flight_).subspan(flight_sent_));
    if (n < 0) return n;
    flight_sent_ += static_cast<std::size_t>(n);
  }
  flight_.clear();
  flight_sent_ = 0;
  return 0;
}

int mbed_engine::on_recv(void* self, unsigned char* buf, std::size_t len) {
  auto* e = static_cast<mbed_engine*>(self);
  if (len == 0) return 0;
  if (const int flushed = e->flush_flight(); flushed != 0) return flushed;
  const auto bytes = std::as_writable_bytes(std::span(buf, std::min<std::size_t>(len, INT_MAX)));
  const result<std::size_t> r = e->io_->read_some(bytes);
  if (r.ok() && *r > 0) {
    if (e->watching_) e->from_peer_.feed(bytes.first(*r));
    return gsl::narrow<int>(*r);
  }
  if (r.ok()) {
    e->io_eof_ = true;
    return 0;  // mbedTLS reports MBEDTLS_ERR_SSL_CONN_EOF
  }
  if (r.would_block()) {
    e->blocked_ = wait_for::read;
    return MBEDTLS_ERR_SSL_WANT_READ;
  }
  e->io_error_ = r.error();
  return MBEDTLS_ERR_NET_RECV_FAILED;
}

}  // namespace uptls::mbed
