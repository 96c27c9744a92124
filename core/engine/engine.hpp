// The backend-author interface (not installed, never seen by users): what a
// backend implements for one connection and for one compiled configuration.
//
// The engine does all its I/O through the transport it was handed and nothing
// else. "Would block" is a status (result::would_block(), wants()), never an
// error, so one engine serves blocking sockets, event loops and buffer-driven
// streams alike. Fatal errors are sticky: after one, every call returns it.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "uptls/backend.hpp"
#include "uptls/config.hpp"
#include "uptls/result.hpp"
#include "uptls/session.hpp"
#include "uptls/transport.hpp"

namespace uptls::detail {

class engine {
 public:
  virtual ~engine() = default;

  // Runs the handshake: ok once it is complete.
  virtual result<> handshake() = 0;
  // Decrypted bytes into buf (not empty): the count, 0 after the peer's
  // close_notify, errc::truncated when the transport ends without it.
  virtual result<std::size_t> read(std::span<std::byte> buf) = 0;
  // Encrypts and sends (buf not empty): the count taken (may be short). After a
  // would-block the same bytes must be offered again (they may be partly in a
  // record already built).
  virtual result<std::size_t> write(std::span<const std::byte> buf) = 0;
  // Sends close_notify (does not wait for the peer's).
  virtual result<> close() = 0;
  // Decrypted bytes held inside the engine, readable without touching the transport.
  virtual std::size_t pending() const = 0;
  // The negotiated facts; valid after a successful handshake. Called at most once
  // per connection (the stream keeps them): building them may cost.
  virtual session_info session() const = 0;
  // Detail of the last failure.
  virtual const failure_info& failure() const = 0;
  // From now on, do all I/O through io instead (which must outlive the engine):
  // the stream takes its handshake watcher out of the path this way.
  virtual void rebind(transport& io) noexcept = 0;
};

// What every backend's context is underneath the public uptls::context.
class context_impl : public context {
 public:
  // A new engine for one connection over io (which must outlive the engine).
  virtual result<std::unique_ptr<engine>> make_engine(transport& io, const peer_options& peer) const = 0;
};

// The checks every backend makes first so that all refuse the same settings the
// same way: errc::unsupported (a capability is missing) or errc::invalid_config.
// *why (when given) gets the field at fault and the reason.
std::error_code check_config(const tls_config& cfg, role side, const capabilities& caps, std::string* why = nullptr);

// Sets *why (when given) to text and returns e: how backends refuse a setting.
std::error_code refuse(errc e, std::string* why, std::string_view text);

// True when s is an IPv4 or IPv6 address literal (no SNI for those, RFC 6066).
bool is_ip_literal(std::string_view s) noexcept;

}  // namespace uptls::detail
