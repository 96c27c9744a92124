#include "transport_glue.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>

namespace uptls::detail::gtls {
namespace {

transport_glue& self_of(gnutls_transport_ptr_t p) { return *static_cast<transport_glue*>(p); }

// One flight is a few records; gather up to this much into one write so that
// a handshake flight leaves in one segment instead of one per record.
constexpr std::size_t gather_limit = 16 * 1024 + 512;

}  // namespace

void transport_glue::attach(gnutls_session_t session) noexcept {
  session_ = session;
  gnutls_transport_set_ptr(session, this);
  gnutls_transport_set_pull_function(session, &transport_glue::pull);
  gnutls_transport_set_push_function(session, &transport_glue::push);
  gnutls_transport_set_vec_push_function(session, &transport_glue::vec_push);
  gnutls_transport_set_pull_timeout_function(session, &transport_glue::pull_timeout);
}

bool transport_glue::peer_not_tls() const noexcept {
  if (first_len_ >= 1 && (first_[0] < 20 || first_[0] > 23)) return true;  // record types 20..23
  if (first_len_ >= 2 && first_[1] != 3) return true;                        // major version 3
  return false;
}

void transport_glue::note_first_bytes(const std::uint8_t* p, std::size_t n) noexcept {
  while (first_len_ < first_.size() && n > 0) {
    first_[first_len_++] = *p++;
    --n;
  }
}

ssize_t transport_glue::pull(gnutls_transport_ptr_t self, void* data, size_t size) {
  return self_of(self).on_pull(data, size);
}
ssize_t transport_glue::push(gnutls_transport_ptr_t self, const void* data, size_t size) {
  return self_of(self).on_push(data, size);
}
ssize_t transport_glue::vec_push(gnutls_transport_ptr_t self, const giovec_t* iov, int iovcnt) {
  return self_of(self).on_vec_push(iov, iovcnt);
}

// GnuTLS asks before a read it wants bounded (its own handshake timer, the
// TLS 1.3 ticket wait). The transport bounds every read itself, so say "ready"
// and let the read that follows wait, block or report would_block.
int transport_glue::pull_timeout(gnutls_transport_ptr_t /*self*/, unsigned int /*ms*/) { return 1; }

ssize_t transport_glue::on_pull(void* data, size_t size) {
  if (error_) {
    gnutls_transport_set_errno(session_, EIO);
    return -1;
  }
  if (eof_) return 0;
  if (size == 0) return 0;
  const result<std::size_t> r = io_->read_some(std::span(static_cast<std::byte*>(data), size));
  if (r.ok() && *r > 0) {
    note_first_bytes(static_cast<const std::uint8_t*>(data), *r);
    return static_cast<ssize_t>(*r);
  }
  if (r.ok()) {
    eof_ = true;
    return 0;
  }
  if (r.would_block()) {
    blocked_ = true;
    gnutls_transport_set_errno(session_, EAGAIN);
    return -1;
  }
  error_ = r.error();
  gnutls_transport_set_errno(session_, EIO);
  return -1;
}

ssize_t transport_glue::on_push(const void* data, size_t size) {
  if (held_write_error_ && hold_writes_) return static_cast<ssize_t>(size);
  if (error_ || held_write_error_) {
    gnutls_transport_set_errno(session_, EIO);
    return -1;
  }
  if (size == 0) return 0;
  const result<std::size_t> r = io_->write_some(std::span(static_cast<const std::byte*>(data), size));
  if (r.ok()) return static_cast<ssize_t>(*r);
  if (r.would_block()) {
    blocked_ = true;
    gnutls_transport_set_errno(session_, EAGAIN);
    return -1;
  }
  const std::error_code ec = r.error();
  if (hold_writes_) {
    held_write_error_ = ec;
    return static_cast<ssize_t>(size);
  }
  error_ = ec;
  gnutls_transport_set_errno(session_, EIO);
  return -1;
}

// Gathers the buffers into one write; a short write is fine, GnuTLS resends
// the rest on its next flush.
ssize_t transport_glue::on_vec_push(const giovec_t* iov, int iovcnt) {
  if (iovcnt <= 0) return 0;
  if (iovcnt == 1 || iov[0].iov_len >= gather_limit) return on_push(iov[0].iov_base, iov[0].iov_len);
  std::array<std::byte, gather_limit> gathered;
  std::size_t used = 0;
  for (int i = 0; i < iovcnt && used < gathered.size(); ++i) {
    const std::size_t take = std::min(iov[i].iov_len, gathered.size() - used);
    if (take > 0) std::memcpy(gathered.data() + used, iov[i].iov_base, take);
    used += take;
  }
  return on_push(gathered.data(), used);
}

}  // namespace uptls::detail::gtls
