// GnuTLS's push/pull callbacks over a uptls::transport.
//
// "Would block" reaches GnuTLS as EAGAIN (gnutls_transport_set_errno), so the
// engine sees GNUTLS_E_AGAIN and reports want_read/want_write. A transport
// error is kept here with its own error_code and reaches GnuTLS only as EIO:
// the engine returns the saved code, never one decoded from errno.
#pragma once

#include <gnutls/gnutls.h>

#include <array>
#include <cstdint>
#include <system_error>

#include "uptls/transport.hpp"

namespace uptls::detail::gtls {

class transport_glue {
 public:
  explicit transport_glue(transport& io) : io_(&io) {}
  transport_glue(const transport_glue&) = delete;
  transport_glue& operator=(const transport_glue&) = delete;

  // Installs the callbacks on `session`; the glue must outlive the session.
  void attach(gnutls_session_t session) noexcept;
  // All I/O goes through io from now on.
  void rebind(transport& io) noexcept { io_ = &io; }

  // The first transport error on a read (timeout, reset, ...), or on a write
  // outside the handshake; empty if none.
  std::error_code error() const noexcept { return error_; }
  // The first write that failed while writes were held back (see hold_write_errors).
  std::error_code held_write_error() const noexcept { return held_write_error_; }

  // During the handshake a peer that refuses us sends its alert and leaves;
  // GnuTLS may still be writing (a TLS 1.3 server sends its tickets right
  // after its Finished) and would stop at the reset without reading the
  // alert. While held, a failed write is noted, reported to GnuTLS as done,
  // and every later write is dropped, so GnuTLS goes on to read the alert.
  // The engine fails the handshake with the held error if nothing better comes.
  void hold_write_errors(bool on) noexcept { hold_writes_ = on; }
  // Whether the transport reported end of stream.
  bool eof() const noexcept { return eof_; }
  // Whether the first bytes the peer sent cannot start a TLS record (a
  // plaintext reply, or the wrong port); false until two bytes arrived.
  bool peer_not_tls() const noexcept;

  // GnuTLS also answers GNUTLS_E_AGAIN after it handled a post-handshake
  // message (a TLS 1.3 ticket) without touching a blocked transport. The engine
  // clears this before each call and retries unless the transport did block.
  void clear_blocked() noexcept { blocked_ = false; }
  bool blocked() const noexcept { return blocked_; }

 private:
  static ssize_t pull(gnutls_transport_ptr_t self, void* data, size_t size);
  static ssize_t push(gnutls_transport_ptr_t self, const void* data, size_t size);
  static ssize_t vec_push(gnutls_transport_ptr_t self, const giovec_t* iov, int iovcnt);
  static int pull_timeout(gnutls_transport_ptr_t self, unsigned int ms);

  ssize_t on_pull(void* data, size_t size);
  ssize_t on_push(const void* data, size_t size);
  ssize_t on_vec_push(const giovec_t* iov, int iovcnt);
  void note_first_bytes(const std::uint8_t* p, std::size_t n) noexcept;

  transport* io_;
  gnutls_session_t session_ = nullptr;
  std::error_code error_;
  std::error_code held_write_error_;
  bool hold_writes_ = false;
  bool eof_ = false;
  bool blocked_ = false;
  std::array<std::uint8_t, 2> first_{};
  std::size_t first_len_ = 0;
};

}  // namespace uptls::detail::gtls
