// Waiting on a file descriptor, bounded by a deadline: the one place uptls blocks.
#pragma once

#include <system_error>

#include "uptls/result.hpp"
#include "uptls/transport.hpp"

namespace uptls::detail {

// The uptls code for a socket errno (connection_reset, connection_refused, ...).
std::error_code from_errno(int e) noexcept;
// poll() for events until the deadline (EINTR restarts): poll's result.
int poll_until(int fd, short events, clock::time_point deadline) noexcept;
// Waits until fd is ready for w: ok, errc::timeout at the deadline, or the error.
result<> wait_fd(int fd, wait_for w, clock::time_point deadline) noexcept;

}  // namespace uptls::detail
