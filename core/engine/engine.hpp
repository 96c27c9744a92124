// The backend-author interface (not installed, never seen by users): what a
// backend implements for one connection and for one compiled configuration.
//
// The engine does all its I/O through the transport it was handed and nothing
// else. "Would block" is a status (result::would_block(), wants()), never an
// error, so one engine serves blocking sockets, event loops and buffer-driven
// streams alike. Fatal errors are sticky: after one, every call returns it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
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

// The peer's leaf certificate as received (its DER bytes, copied once after the
// handshake), read into certificate_info only when a user first asks:
// parsing costs more than a whole resumed handshake, and most sessions never ask.
// Each backend parses with its own library; the rules for the text (RFC 2253
// names, serial and fingerprint in upper-case hex) are the helpers below.
class certificate_source {
 public:
  explicit certificate_source(std::string der) : der_(std::move(der)) {}
  virtual ~certificate_source() = default;
  certificate_source(const certificate_source&) = delete;
  certificate_source& operator=(const certificate_source&) = delete;

  std::string_view der() const noexcept { return der_; }
  // Parsed on the first call, from any thread; the same object afterwards.
  const certificate_info& facts() const {
    std::call_once(once_, [this] { facts_ = parse(der_); });
    return facts_;
  }

 protected:
  // What the backend's library reads in der (a parse failure leaves fields empty).
  virtual certificate_info parse(std::string_view der) const = 0;

 private:
  std::string der_;
  mutable std::once_flag once_;
  mutable certificate_info facts_;
};

// How a backend attaches the peer's certificate to the facts it reports (the
// member is private: users only read it).
struct session_access {
  static void set_peer_certificate(session_info& s, std::shared_ptr<const certificate_source> source) noexcept {
    s.peer_ = std::move(source);
  }
};

// Completes what a backend reported about a handshake, so that every backend
// derives the same facts the same way: the suite from its IANA number (or, when
// the backend knows no number, its IANA name), the key exchange from the suite
// (TLS 1.2) or from the group (TLS 1.3), forward secrecy from the key exchange.
// Before the call the backend sets version, group, resumed and the rest; suite_id
// may be 0 and suite_name empty when the library cannot say.
void settle_facts(session_info& s, std::uint16_t suite_id, std::string_view suite_name);

// Certificate text shared by the backends: upper-case hex of bytes; a serial
// number's content bytes without leading zero bytes, as `openssl x509 -serial`
// prints it; a UTC calendar time.
std::string hex_upper(std::span<const unsigned char> bytes);
std::string serial_text(std::span<const unsigned char> content);
std::chrono::system_clock::time_point utc_time(int year, int month, int day, int hour, int minute, int second);

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
