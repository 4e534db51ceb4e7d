// moq/error.hpp — error codes, Error, and the Result/Status every call returns.
//
// Nothing in moq throws. Every fallible call returns moq::Result<T> (a value or
// an Error) or moq::Status (= Result<void>). Check has_value() / operator bool
// before value(): value() on an error, or error() on a value, is a programming
// bug and terminates the process with a message (there is no exception to
// throw in builds without exceptions).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "moq/abi.hpp"

namespace moq {

/// What went wrong, coarsely. Error::message() says the details.
enum class Errc {
  invalid_argument = 1,  ///< bad input from the caller (name, size, moved-from handle...)
                         ///< (values start at 1: see make_error_code)
  invalid_url,        ///< URL empty, malformed, or not https:// / moqt://
  tls,                ///< certificate not trusted, pin mismatch, TLS handshake failure
  connect_failed,     ///< could not reach or set up a session with the peer
  timeout,            ///< the peer did not answer within the configured timeout
  not_connected,      ///< the session is not connected yet
  closed,             ///< the session, track, group or subscription has ended
  not_found,          ///< no publisher offers the requested track
  duplicate,          ///< already exists (track name, subscription on this session)
  unsupported,        ///< the engine or protocol does not support this
  payload_too_large,  ///< payload above SessionConfig::max_object_size
  protocol,           ///< the peer violated the protocol
  cancelled,          ///< the request was cancelled
  would_block,        ///< a blocking call was made from a moq callback thread
  internal,           ///< a bug in moq, or an internal error the peer reported (message says)
  lagging,            ///< a subscriber fell too far behind (its receive budget filled up)
  end_of_track,       ///< pull mode: the publisher ended the track normally; all was taken
};

/// A short stable name for a code, e.g. "not_found".
const char* to_string(Errc code) noexcept;

/// An error: a code to branch on and a message for people.
class Error {
 public:
  Error(Errc code, std::string message) noexcept : code_(code), message_(std::move(message)) {}

  Errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

 private:
  template <class T>
  friend class Result;
  /// value() on an error or error() on a value: prints `what` and aborts.
  [[noreturn]] static void bad_access(const char* what) noexcept;

  Errc code_;
  std::string message_;
};

template <class T>
class Result;

/// True for moq::Result<T> and moq::Status (what and_then's function must return).
template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<Result<T>> : std::true_type {};
template <class T>
inline constexpr bool is_result_v = is_result<T>::value;

/// A value of type T, or an Error: std::expected<T, Error> without exceptions.
/// Copyable only when T is (a Result<Session> is not). [[nodiscard]]: an
/// ignored Result is an ignored error.
template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_reference<T>::value, "Result<T&> is not supported");
  static_assert(!std::is_same<std::decay_t<T>, Error>::value,
                "Result<Error> is ambiguous: use Status");

 public:
  using value_type = T;

  Result(T value) noexcept(std::is_nothrow_move_constructible<T>::value)  // NOLINT: implicit
      : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) noexcept  // NOLINT: implicit
      : state_(std::in_place_index<1>, std::move(error)) {}
  // Copy and move are std::variant's: a copy constructor only where T has one.

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & noexcept { return *checked_value(*this); }
  const T& value() const& noexcept { return *checked_value(*this); }
  T&& value() && noexcept { return std::move(*checked_value(*this)); }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }
  T&& operator*() && noexcept { return std::move(*this).value(); }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }

  const Error& error() const noexcept {
    const Error* error = std::get_if<1>(&state_);
    if (error == nullptr) Error::bad_access("Result::error() called on a value");
    return *error;
  }

  /// The value, or `fallback` converted to T.
  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  T value_or(U&& fallback) && {
    return has_value() ? std::move(**this)
                       : static_cast<T>(std::forward<U>(fallback));
  }

  /// The error, or `fallback` if this holds a value.
  template <class E>
  Error error_or(E&& fallback) const {
    return has_value() ? static_cast<Error>(std::forward<E>(fallback)) : error();
  }

  /// `f(value)` (which returns a Result) if this holds a value; else the error.
  template <class F>
  auto and_then(F&& f) const& {
    using R = std::decay_t<std::invoke_result_t<F, const T&>>;
    static_assert(is_result_v<R>, "and_then: f must return a moq::Result");
    if (has_value()) return std::invoke(std::forward<F>(f), **this);
    return R(error());
  }
  template <class F>
  auto and_then(F&& f) && {
    using R = std::decay_t<std::invoke_result_t<F, T&&>>;
    static_assert(is_result_v<R>, "and_then: f must return a moq::Result");
    if (has_value()) return std::invoke(std::forward<F>(f), std::move(**this));
    return R(error());
  }

  /// Result<U> of `f(value)` (U may be void) if this holds a value; else the error.
  template <class F>
  auto transform(F&& f) const& {
    using U = std::decay_t<std::invoke_result_t<F, const T&>>;
    if (!has_value()) return Result<U>(error());
    if constexpr (std::is_void<U>::value) {
      std::invoke(std::forward<F>(f), **this);
      return Result<U>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f), **this));
    }
  }
  template <class F>
  auto transform(F&& f) && {
    using U = std::decay_t<std::invoke_result_t<F, T&&>>;
    if (!has_value()) return Result<U>(error());
    if constexpr (std::is_void<U>::value) {
      std::invoke(std::forward<F>(f), std::move(**this));
      return Result<U>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f), std::move(**this)));
    }
  }

  /// This if it holds a value; else `f(error)`, which returns a Result<T>.
  template <class F>
  Result or_else(F&& f) const& {
    if (has_value()) return *this;
    return std::invoke(std::forward<F>(f), error());
  }
  template <class F>
  Result or_else(F&& f) && {
    if (has_value()) return std::move(*this);
    return std::invoke(std::forward<F>(f), error());
  }

 private:
  /// The value of `self` (a Result or a const one), or the abort value() promises.
  template <class Self>
  static auto* checked_value(Self& self) noexcept {
    auto* value = std::get_if<0>(&self.state_);
    if (value == nullptr) Error::bad_access("Result::value() called on an error");
    return value;
  }

  std::variant<T, Error> state_;
};

/// Success, or an Error (which a success does not carry). [[nodiscard]].
template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;

  Result() noexcept = default;
  Result(Error error) noexcept : error_(std::move(error)) {}  // NOLINT: implicit

  bool has_value() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const noexcept {
    if (error_) Error::bad_access("Status::value() called on an error");
  }
  const Error& error() const noexcept {
    if (!error_) Error::bad_access("Status::error() called on success");
    return *error_;
  }

  /// The error, or `fallback` on success.
  template <class E>
  Error error_or(E&& fallback) const {
    return error_ ? *error_ : static_cast<Error>(std::forward<E>(fallback));
  }

  /// `f()` (which returns a Result) on success; else the error.
  template <class F>
  auto and_then(F&& f) const {
    using R = std::decay_t<std::invoke_result_t<F>>;
    static_assert(is_result_v<R>, "and_then: f must return a moq::Result");
    if (has_value()) return std::invoke(std::forward<F>(f));
    return R(*error_);
  }

  /// Result<U> of `f()` (U may be void) on success; else the error.
  template <class F>
  auto transform(F&& f) const {
    using U = std::decay_t<std::invoke_result_t<F>>;
    if (!has_value()) return Result<U>(*error_);
    if constexpr (std::is_void<U>::value) {
      std::invoke(std::forward<F>(f));
      return Result<U>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f)));
    }
  }

  /// This on success; else `f(error)`, which returns a Status.
  template <class F>
  Result or_else(F&& f) const {
    if (has_value()) return *this;
    return std::invoke(std::forward<F>(f), *error_);
  }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;


/// The std::error_code category of moq's codes; its name() is "moq" and its
/// message(code) is to_string(Errc(code)). Errc values start at 1, so no moq
/// code is the 0 that means success to std::error_code.
const std::error_category& error_category() noexcept;

/// Lets an Errc be used as (and compared with) a std::error_code.
inline std::error_code make_error_code(Errc code) noexcept {
  return std::error_code(static_cast<int>(code), error_category());
}

}  // namespace moq

namespace std {
template <>
struct is_error_code_enum<moq::Errc> : true_type {};
}  // namespace std
