// moq/callback.hpp — the move-only callables moq stores (std::move_only_function
// for C++17).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "moq/abi.hpp"

namespace moq {

template <class Signature>
class Callback;

/// A callback moq keeps: made from any callable (a lambda, a function
/// pointer, a std::function), which may be move-only (a lambda owning a
/// std::unique_ptr, a decoder, ...). moq never copies it: it is moved in when
/// the handle is made or the setter called, and destroyed when the handle's
/// documentation says (at the latest when the handle goes).
///
/// Empty when default-constructed, made from nullptr, or from an empty
/// std::function or null function pointer; the calls that take one say
/// whether an empty callback is allowed.
template <class R, class... Args>
class Callback<R(Args...)> {
 public:
  Callback() noexcept = default;
  Callback(std::nullptr_t) noexcept {}  // NOLINT: implicit, as std::function

  /// Takes `f` (moved or copied in once).
  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same<D, Callback>::value &&
                                     !std::is_same<D, std::nullptr_t>::value &&
                                     std::is_invocable_r<R, D&, Args...>::value>>
  Callback(F&& f)  // NOLINT: implicit, as std::function
      : callable_(is_empty(f) ? nullptr : std::make_unique<Holder<D>>(std::forward<F>(f))) {}

  Callback(Callback&&) noexcept = default;
  Callback& operator=(Callback&&) noexcept = default;
  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;
  ~Callback() = default;

  explicit operator bool() const noexcept { return callable_ != nullptr; }

  /// Calls it. Must not be empty (check with operator bool).
  R operator()(Args... args) const { return callable_->call(std::forward<Args>(args)...); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual R call(Args&&... args) = 0;
  };
  template <class D>
  struct Holder final : Base {
    template <class F>
    explicit Holder(F&& f) : callable(std::forward<F>(f)) {}
    R call(Args&&... args) override {
      if constexpr (std::is_void<R>::value) {
        std::invoke(callable, std::forward<Args>(args)...);
      } else {
        return std::invoke(callable, std::forward<Args>(args)...);
      }
    }
    D callable;
  };

  template <class D>
  static bool is_empty(const D& f) noexcept {
    if constexpr (std::is_pointer<D>::value || std::is_member_pointer<D>::value) {
      return f == nullptr;
    } else {
      return is_empty_function(&f);
    }
  }
  template <class Sig>
  static bool is_empty_function(const std::function<Sig>* f) noexcept {
    return !*f;
  }
  static bool is_empty_function(const void*) noexcept { return false; }

  std::unique_ptr<Base> callable_;
};

}  // namespace moq
