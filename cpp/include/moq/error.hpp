// moq/error.hpp — error codes, Error, and the Result/Status every call returns.
//
// Nothing in moq throws. Every fallible call returns moq::Result<T> (a value or
// an Error) or moq::Status (= Result<void>). Check has_value() / operator bool
// before value(): value() on an error, or error() on a value, is a programming
// bug and terminates the process with a message (there is no exception to
// throw in builds without exceptions).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

namespace moq {

/// What went wrong, coarsely. Error::message() says the details.
enum class Errc {
  invalid_argument,   ///< bad input from the caller (name, size, moved-from handle...)
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
}  // namespace detail

/// A value of type T, or an Error. Modelled on std::expected, without throwing.
template <class T>
class Result {
  static_assert(!std::is_reference<T>::value, "Result<T&> is not supported");

 public:
  using value_type = T;

  Result(T value) noexcept(std::is_nothrow_move_constructible<T>::value)  // NOLINT: implicit
      : has_value_(true) {
    new (&storage_.value) T(std::move(value));
  }
  Result(Error error) noexcept : has_value_(false) {  // NOLINT: implicit
    new (&storage_.error) Error(std::move(error));
  }
  Result(Result&& other) noexcept(std::is_nothrow_move_constructible<T>::value)
      : has_value_(other.has_value_) {
    if (has_value_) {
      new (&storage_.value) T(std::move(other.storage_.value));
    } else {
      new (&storage_.error) Error(std::move(other.storage_.error));
    }
  }
  Result(const Result& other) : has_value_(other.has_value_) {
    if (has_value_) {
      new (&storage_.value) T(other.storage_.value);
    } else {
      new (&storage_.error) Error(other.storage_.error);
    }
  }
  Result& operator=(Result other) noexcept(std::is_nothrow_move_constructible<T>::value) {
    destroy();
    has_value_ = other.has_value_;
    if (has_value_) {
      new (&storage_.value) T(std::move(other.storage_.value));
    } else {
      new (&storage_.error) Error(std::move(other.storage_.error));
    }
    return *this;
  }
  ~Result() { destroy(); }

  bool has_value() const noexcept { return has_value_; }
  explicit operator bool() const noexcept { return has_value_; }

  T& value() & noexcept { check_value(); return storage_.value; }
  const T& value() const& noexcept { check_value(); return storage_.value; }
  T&& value() && noexcept { check_value(); return std::move(storage_.value); }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }
  T&& operator*() && noexcept { return std::move(*this).value(); }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }

  const Error& error() const noexcept {
    if (has_value_) detail::bad_result_access("Result::error() called on a value");
    return storage_.error;
  }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value_ ? storage_.value : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  T value_or(U&& fallback) && {
    return has_value_ ? std::move(storage_.value) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check_value() const noexcept {
    if (!has_value_) detail::bad_result_access("Result::value() called on an error");
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

/// Success, or an Error.
template <>
class Result<void> {
 public:
  using value_type = void;

  Result() noexcept : has_error_(false), error_(Errc::internal, std::string()) {}
  Result(Error error) noexcept : has_error_(true), error_(std::move(error)) {}  // NOLINT: implicit

  bool has_value() const noexcept { return !has_error_; }
  explicit operator bool() const noexcept { return !has_error_; }
  void value() const noexcept {
    if (has_error_) detail::bad_result_access("Status::value() called on an error");
  }
  const Error& error() const noexcept {
    if (!has_error_) detail::bad_result_access("Status::error() called on success");
    return error_;
  }

 private:
  bool has_error_;
  Error error_;
};

using Status = Result<void>;

}  // namespace moq
