// uptls::result<T>: a value or a std::error_code (C++20 has no std::expected).
#pragma once

#include <gsl/assert>
#include <system_error>
#include <utility>
#include <variant>

#include "uptls/errc.hpp"

namespace uptls {

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  result(std::error_code ec) : v_(ec) { Expects(ec); }  // NOLINT
  result(errc e) : v_(make_error_code(e)) {}  // NOLINT

  // True when a value is held.
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  // The value; calling these on an error is a broken contract.
  T& value() & { Expects(ok()); return std::get<0>(v_); }
  const T& value() const& { Expects(ok()); return std::get<0>(v_); }
  T&& value() && { Expects(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error, or an empty error_code when a value is held.
  std::error_code error() const noexcept {
    return ok() ? std::error_code{} : std::get<1>(v_);
  }

 private:
  std::variant<T, std::error_code> v_;
};

}  // namespace uptls
