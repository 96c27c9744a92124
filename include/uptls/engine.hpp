// The interface a backend implements for one connection (DESIGN.md "engine").
//
// The engine does all its I/O through the transport it was handed and nothing
// else. On a non-blocking transport "would block" is a status (want_read /
// want_write): call again when the transport is ready. Fatal errors are sticky:
// after one, every call returns the same error.
#pragma once

#include <cstddef>
#include <span>
#include <system_error>

#include "uptls/session.hpp"

namespace uptls {

enum class tls_status {
  ok,          // done (handshake finished, bytes moved, close_notify sent)
  want_read,   // the transport would block on a read
  want_write,  // the transport would block on a write
  closed,      // read: the peer sent close_notify (clean end of stream)
  error,       // see op_result::error; sticky
};

struct op_result {
  tls_status status = tls_status::ok;
  std::size_t bytes = 0;
  std::error_code error{};
};

class engine {
 public:
  virtual ~engine() = default;

  // Runs the handshake; ok once it is complete.
  virtual op_result handshake() = 0;
  // Reads decrypted bytes (buf not empty). ok with bytes > 0; closed after the
  // peer's close_notify; error errc::truncated when the transport ends without it.
  virtual op_result read(std::span<std::byte> buf) = 0;
  // Encrypts and sends bytes (buf not empty); ok with the count taken (may be short).
  virtual op_result write(std::span<const std::byte> buf) = 0;
  // Sends close_notify (does not wait for the peer's).
  virtual op_result close() = 0;
  // Decrypted bytes held inside the engine, readable without touching the transport.
  virtual std::size_t pending() const = 0;
  // Valid after a successful handshake.
  virtual session_info session() const = 0;
  // Detail of the last failure.
  virtual const failure_info& failure() const = 0;
};

}  // namespace uptls
