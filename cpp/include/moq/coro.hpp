// moq/coro.hpp — co_await a moq::Pending (C++20; the rest of moq needs only C++17).
#pragma once

#if !defined(__cpp_impl_coroutine) || __cpp_impl_coroutine < 201902L
#error "moq/coro.hpp needs C++20 coroutines (-std=c++20); the rest of moq needs only C++17"
#endif

#include <coroutine>
#include <optional>
#include <utility>

#include "moq/error.hpp"
#include "moq/pending.hpp"

namespace moq {

/// What `co_await pending` waits on: the answer of a Pending<T>, as
/// Result<T>. Written for any coroutine type (the library has none of its
/// own): it needs nothing from the promise.
///
/// Where the coroutine goes on: if the answer is already there, at once on
/// the awaiting thread; otherwise on a library callback thread (the request's
/// strand), so the code after the co_await follows the rules of a moq
/// callback (never block there; the non-blocking forms are fine).
/// The Pending must outlive the suspension: `co_await session.connect_async(url)`
/// keeps the temporary alive until the coroutine resumes. Destroying the
/// coroutine while it waits is not supported: destroy the Pending first (it
/// cancels the request and the coroutine is then never resumed).
template <class T>
class PendingAwaiter {
 public:
  explicit PendingAwaiter(Pending<T>& pending) noexcept : pending_(pending) {}

  bool await_ready() noexcept {
    answer_ = pending_.try_get();
    return answer_.has_value();
  }

  bool await_suspend(std::coroutine_handle<> coroutine) noexcept {
    Status set = pending_.then([this, coroutine](Result<T> answer) {
      answer_.emplace(std::move(answer));
      coroutine.resume();
    });
    if (set) return true;  // `this` may already be gone: touch nothing more
    answer_.emplace(set.error());
    return false;  // no callback will come: go on now, with the error
  }

  Result<T> await_resume() noexcept { return std::move(*answer_); }

 private:
  Pending<T>& pending_;
  std::optional<Result<T>> answer_;
};

template <class T>
PendingAwaiter<T> operator co_await(Pending<T>& pending) noexcept {
  return PendingAwaiter<T>(pending);
}

template <class T>
PendingAwaiter<T> operator co_await(Pending<T>&& pending) noexcept {
  return PendingAwaiter<T>(pending);
}

}  // namespace moq
