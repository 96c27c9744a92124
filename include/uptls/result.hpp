/// @file
/// uptls::result<T>: the one shape of every call that can fail or would block.
///
/// A call ends in one of three ways:
///  - ok: it did its work (and holds a value, for result<T>);
///  - would block: it made what progress it could and waits for the transport to be
///    readable or writable (wants()); call it again when it is. This is never an
///    error, and never a timeout;
///  - failed: error() says why (an uptls::errc, or a code of another category).
///
/// result<> (result<void>) is the shape of calls without a value. See
/// docs/architecture.md "I/O model: resumable all the way down".
#pragma once

#include <string>
#include <system_error>
#include <utility>
#include <variant>

#include "uptls/errc.hpp"

/// The uptls library: an upgradeable stream (stream), the backends that run its
/// TLS (backends()), the fallback ladder (connect_with_fallback()), the event
/// server (event_server) and the protocol dialogues (uptls::smtp, ...).
namespace uptls {

/// What a call that would block waits for.
enum class wait_for : unsigned char {
  none,   ///< nothing: the call did not block
  read,   ///< the transport to become readable (buffer-driven: more bytes fed in)
  write,  ///< the transport to become writable (buffer-driven: output taken out)
};

/// The text form: "none", "read", "write".
std::string_view to_string(wait_for w) noexcept;

namespace detail {
// A broken contract (a value taken from a result that has none): terminates.
// Internal: not part of the API.
[[noreturn]] void contract_violated(const char* what) noexcept;
}  // namespace detail

template <class T = void>
class result;

/// The outcome of a call without a value: ok, would block, or an error.
///
/// Test it with ok() (or as a bool), would_block() and failed(); compare it with
/// an errc (`r == errc::timeout`) or an error_code (an empty one matches ok).
template <>
class [[nodiscard]] result<void> {
 public:
  /// ok.
  result() noexcept = default;
  /// An error; an empty error_code means ok (so a function returning error_code fits).
  result(std::error_code ec) noexcept : error_(ec) {}  // NOLINT: implicit by design
  /// An error in the uptls category.
  result(errc e) noexcept : error_(make_error_code(e)) {}  // NOLINT: implicit by design

  /// Would block until the transport is ready for w (read or write).
  static result blocked(wait_for w) noexcept {
    result r;
    r.wait_ = w;
    return r;
  }

  /// The call did its work.
  bool ok() const noexcept { return !error_ && wait_ == wait_for::none; }
  /// The same as ok().
  explicit operator bool() const noexcept { return ok(); }
  /// The call waits for the transport; call it again once wants() is ready.
  bool would_block() const noexcept { return wait_ != wait_for::none; }
  /// What a blocked call waits for; wait_for::none otherwise.
  wait_for wants() const noexcept { return wait_; }
  /// Why the call failed; empty when it is ok or would block.
  std::error_code error() const noexcept { return error_; }
  /// The call failed (neither ok nor blocked).
  bool failed() const noexcept { return static_cast<bool>(error_); }

  /// True when both ended the same way (and with the same error).
  friend bool operator==(const result& a, const result& b) noexcept {
    return a.error_ == b.error_ && a.wait_ == b.wait_;
  }
  /// Compares with an error_code: an empty one matches ok, another one the same failure.
  friend bool operator==(const result& r, const std::error_code& ec) noexcept {
    return r.wait_ == wait_for::none && r.error_ == ec;
  }
  /// True when r failed with e.
  friend bool operator==(const result& r, errc e) noexcept { return r == make_error_code(e); }

 private:
  std::error_code error_;
  wait_for wait_ = wait_for::none;
};

/// The outcome of a call with a value: the value, would block, or an error.
///
/// value(), `*` and `->` give the value; using them on a result that holds none
/// is a broken contract and terminates the program, so test ok() first.
template <class T>
class [[nodiscard]] result {
 public:
  /// ok, with its value.
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  /// An error (ec must not be empty: an empty code has no value to go with it).
  result(std::error_code ec) : v_(std::in_place_index<1>, ec) {  // NOLINT: implicit by design
    if (!ec) detail::contract_violated("result<T> built from an empty error_code");
  }
  /// An error in the uptls category.
  result(errc e) : v_(std::in_place_index<1>, make_error_code(e)) {}  // NOLINT: implicit by design
  /// The blocked or failed outcome of another call, passed on (`return r.status();`).
  /// An ok status has no value to go with it: a broken contract.
  result(result<void> status) : v_(std::in_place_index<1>, status) {  // NOLINT: implicit by design
    if (status.ok()) detail::contract_violated("result<T> built from an ok result<void> without a value");
  }
  /// Would block until the transport is ready for w (read or write).
  static result blocked(wait_for w) { return result(result<void>::blocked(w)); }

  /// The call did its work and holds its value.
  bool ok() const noexcept { return v_.index() == 0; }
  /// The same as ok().
  explicit operator bool() const noexcept { return ok(); }
  /// The call waits for the transport; call it again once wants() is ready.
  bool would_block() const noexcept { return !ok() && std::get<1>(v_).would_block(); }
  /// What a blocked call waits for; wait_for::none otherwise.
  wait_for wants() const noexcept { return ok() ? wait_for::none : std::get<1>(v_).wants(); }
  /// Why the call failed; empty when it is ok or would block.
  std::error_code error() const noexcept { return ok() ? std::error_code{} : std::get<1>(v_).error(); }
  /// The call failed (neither ok nor blocked).
  bool failed() const noexcept { return !ok() && std::get<1>(v_).failed(); }
  /// How the call ended without its value: ok when it holds one.
  result<void> status() const noexcept { return ok() ? result<void>{} : std::get<1>(v_); }

  /// The value; taking it from a result that holds none is a broken contract.
  T& value() & { return ok() ? std::get<0>(v_) : missing(); }
  /// The value; taking it from a result that holds none is a broken contract.
  const T& value() const& { return ok() ? std::get<0>(v_) : missing(); }
  /// The value, moved out; taking it from a result that holds none is a broken contract.
  T&& value() && { return ok() ? std::get<0>(std::move(v_)) : std::move(missing()); }
  /// value().
  T& operator*() & { return value(); }
  /// value().
  const T& operator*() const& { return value(); }
  /// &value().
  T* operator->() { return &value(); }
  /// &value().
  const T* operator->() const { return &value(); }

  /// An empty error_code matches a held value, another one the same failure.
  friend bool operator==(const result& r, const std::error_code& ec) noexcept { return r.status() == ec; }
  /// True when r failed with e.
  friend bool operator==(const result& r, errc e) noexcept { return r == make_error_code(e); }

 private:
  [[noreturn]] static T& missing() { detail::contract_violated("value() of a result without a value"); }
  std::variant<T, result<void>> v_;
};

/// "ok", "would block (read)", or "error uptls:cert_expired: peer certificate has expired".
std::string to_string(const result<void>& r);
/// The text form of r.status(), as for result<void>.
template <class T>
std::string to_string(const result<T>& r) {
  return to_string(r.status());
}

}  // namespace uptls
