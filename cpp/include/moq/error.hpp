// moq/error.hpp — error codes, Error, and the Result/Status every call returns.
//
// Nothing in moq throws. Every fallible call returns moq::Result<T> (a value or
// an Error) or moq::Status (= Result<void>). Check has_value() / operator bool
// before value(): value() on an error, or error() on a value, is a programming
// bug and terminates the process with a message (there is no exception to
// throw in builds without exceptions).
#pragma once

#include <functional>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

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
  internal,           ///< a bug in moq; the message says where
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
  Errc code_;
  std::string message_;
};

namespace detail {
[[noreturn]] void bad_result_access(const char* what) noexcept;

template <class T>
using remove_cvref_t = std::remove_cv_t<std::remove_reference_t<T>>;

template <class T>
struct is_result : std::false_type {};

// The storage of Result<T> and its copy and move. Result defaults its own
// special members, so it has a copy constructor only where T has one.
template <class T>
class ResultStorage {
 protected:
  explicit ResultStorage(T&& value) noexcept(std::is_nothrow_move_constructible<T>::value)
      : has_value_(true) {
    new (&storage_.value) T(std::move(value));
  }
  explicit ResultStorage(Error&& error) noexcept : has_value_(false) {
    new (&storage_.error) Error(std::move(error));
  }
  ResultStorage(const ResultStorage& other) : has_value_(other.has_value_) { copy_from(other); }
  ResultStorage(ResultStorage&& other) noexcept(std::is_nothrow_move_constructible<T>::value)
      : has_value_(other.has_value_) {
    move_from(std::move(other));
  }
  ResultStorage& operator=(const ResultStorage& other) {
    if (this != &other) {
      destroy();
      has_value_ = other.has_value_;
      copy_from(other);
    }
    return *this;
  }
  ResultStorage& operator=(ResultStorage&& other) noexcept(
      std::is_nothrow_move_constructible<T>::value) {
    if (this != &other) {
      destroy();
      has_value_ = other.has_value_;
      move_from(std::move(other));
    }
    return *this;
  }
  ~ResultStorage() { destroy(); }

  void copy_from(const ResultStorage& other) {
    if (has_value_) {
      new (&storage_.value) T(other.storage_.value);
    } else {
      new (&storage_.error) Error(other.storage_.error);
    }
  }
  void move_from(ResultStorage&& other) noexcept(std::is_nothrow_move_constructible<T>::value) {
    if (has_value_) {
      new (&storage_.value) T(std::move(other.storage_.value));
    } else {
      new (&storage_.error) Error(std::move(other.storage_.error));
    }
  }
  void destroy() noexcept {
    if (has_value_) {
      storage_.value.~T();
    } else {
      storage_.error.~Error();
    }
  }

  union Storage {
    Storage() {}
    ~Storage() {}
    T value;
    Error error;
  } storage_;
  bool has_value_;
};

struct Copyable {};
struct MoveOnly {
  MoveOnly() = default;
  MoveOnly(const MoveOnly&) = delete;
  MoveOnly(MoveOnly&&) = default;
  MoveOnly& operator=(const MoveOnly&) = delete;
  MoveOnly& operator=(MoveOnly&&) = default;
};
template <class T>
using CopyGate = std::conditional_t<std::is_copy_constructible<T>::value, Copyable, MoveOnly>;
}  // namespace detail

/// A value of type T, or an Error: std::expected<T, Error> without exceptions.
/// Copyable only when T is (a Result<Session> is not). [[nodiscard]]: an
/// ignored Result is an ignored error.
template <class T>
class [[nodiscard]] Result : private detail::ResultStorage<T>, private detail::CopyGate<T> {
  static_assert(!std::is_reference<T>::value, "Result<T&> is not supported");
  static_assert(!std::is_same<detail::remove_cvref_t<T>, Error>::value,
                "Result<Error> is ambiguous: use Status");
  using Storage = detail::ResultStorage<T>;

 public:
  using value_type = T;

  Result(T value) noexcept(std::is_nothrow_move_constructible<T>::value)  // NOLINT: implicit
      : Storage(std::move(value)) {}
  Result(Error error) noexcept : Storage(std::move(error)) {}  // NOLINT: implicit
  Result(const Result&) = default;
  Result(Result&&) = default;
  Result& operator=(const Result&) = default;
  Result& operator=(Result&&) = default;
  ~Result() = default;

  bool has_value() const noexcept { return this->has_value_; }
  explicit operator bool() const noexcept { return this->has_value_; }

  T& value() & noexcept { check_value(); return this->storage_.value; }
  const T& value() const& noexcept { check_value(); return this->storage_.value; }
  T&& value() && noexcept { check_value(); return std::move(this->storage_.value); }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }
  T&& operator*() && noexcept { return std::move(*this).value(); }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }

  const Error& error() const noexcept {
    if (this->has_value_) detail::bad_result_access("Result::error() called on a value");
    return this->storage_.error;
  }

  /// The value, or `fallback` converted to T.
  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? this->storage_.value : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  T value_or(U&& fallback) && {
    return has_value() ? std::move(this->storage_.value)
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
    using R = detail::remove_cvref_t<std::invoke_result_t<F, const T&>>;
    static_assert(detail::is_result<R>::value, "and_then: f must return a moq::Result");
    if (has_value()) return std::invoke(std::forward<F>(f), this->storage_.value);
    return R(error());
  }
  template <class F>
  auto and_then(F&& f) && {
    using R = detail::remove_cvref_t<std::invoke_result_t<F, T&&>>;
    static_assert(detail::is_result<R>::value, "and_then: f must return a moq::Result");
    if (has_value()) return std::invoke(std::forward<F>(f), std::move(this->storage_.value));
    return R(error());
  }

  /// Result<U> of `f(value)` (U may be void) if this holds a value; else the error.
  template <class F>
  auto transform(F&& f) const& {
    using U = detail::remove_cvref_t<std::invoke_result_t<F, const T&>>;
    if (!has_value()) return Result<U>(error());
    if constexpr (std::is_void<U>::value) {
      std::invoke(std::forward<F>(f), this->storage_.value);
      return Result<U>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f), this->storage_.value));
    }
  }
  template <class F>
  auto transform(F&& f) && {
    using U = detail::remove_cvref_t<std::invoke_result_t<F, T&&>>;
    if (!has_value()) return Result<U>(error());
    if constexpr (std::is_void<U>::value) {
      std::invoke(std::forward<F>(f), std::move(this->storage_.value));
      return Result<U>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f), std::move(this->storage_.value)));
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
  void check_value() const noexcept {
    if (!this->has_value_) detail::bad_result_access("Result::value() called on an error");
  }
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
    if (error_) detail::bad_result_access("Status::value() called on an error");
  }
  const Error& error() const noexcept {
    if (!error_) detail::bad_result_access("Status::error() called on success");
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
    using R = detail::remove_cvref_t<std::invoke_result_t<F>>;
    static_assert(detail::is_result<R>::value, "and_then: f must return a moq::Result");
    if (has_value()) return std::invoke(std::forward<F>(f));
    return R(*error_);
  }

  /// Result<U> of `f()` (U may be void) on success; else the error.
  template <class F>
  auto transform(F&& f) const {
    using U = detail::remove_cvref_t<std::invoke_result_t<F>>;
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

namespace detail {
template <class T>
struct is_result<Result<T>> : std::true_type {};
}  // namespace detail

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
