// moq/discovery.hpp — watching the namespaces published under a prefix
// (SUBSCRIBE_NAMESPACE, draft 18 §10.18). Start a watch with
// Session::subscribe_namespace.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include "moq/error.hpp"
#include "moq/names.hpp"
#include "moq/callback.hpp"

namespace moq {

/// The callbacks of a namespace watch, given to Session::subscribe_namespace
/// (so none of its events comes before its callback exists). They run on the
/// watch's strand (a library thread), one at a time, in the order the peer
/// sent the events. `{on_added}`, `{on_added, on_removed}` or all three.
struct NamespaceHandlers {
  NamespaceHandlers() noexcept = default;
  /// Only on_added.
  template <class F, class = std::enable_if_t<
                         std::is_constructible<Callback<void(const Namespace&)>, F>::value &&
                         !std::is_same<std::decay_t<F>, NamespaceHandlers>::value>>
  NamespaceHandlers(F&& on_added)  // NOLINT: implicit, so a lambda is enough
      : on_added(std::forward<F>(on_added)) {}
  NamespaceHandlers(Callback<void(const Namespace&)> on_added,
                    Callback<void(const Namespace&)> on_removed,
                    Callback<void(const Status&)> on_closed = {}) noexcept
      : on_added(std::move(on_added)),
        on_removed(std::move(on_removed)),
        on_closed(std::move(on_closed)) {}

  /// Every namespace under the prefix (the full namespace, prefix included),
  /// also those that exist when the watch starts. Required (else
  /// Errc::invalid_argument).
  Callback<void(const Namespace&)> on_added;
  /// One of them went away. Optional.
  Callback<void(const Namespace&)> on_removed;
  /// The single terminal event, after the last on_added / on_removed. Draft
  /// 18 gives the peer no graceful way to end a namespace watch, so every end
  /// the library sees is an Error: closed when the session ended or the peer
  /// ended the request. Optional. Only for a watch that was accepted (a
  /// refused one answers with its Error instead); never called after you
  /// destroyed the watch (or its Pending before the answer was taken). All
  /// three callbacks are released after it.
  Callback<void(const Status&)> on_closed;
};

/// A live namespace watch, made by Session::subscribe_namespace: the peer
/// reports every namespace under the prefix as it appears (on_added) and goes
/// away (on_removed).
///
/// Ownership: move-only RAII. Destroying it cancels the watch on the wire;
/// when the destructor returns none of its callbacks is running or will run
/// (if it runs inside one of this watch's own callbacks: none after that
/// callback returns). It never waits on the network. A moved-from
/// NamespaceWatch is inert. May outlive its Session (it then ends with
/// Errc::closed).
///
/// Threads: any call from any thread. The callbacks run on a library thread,
/// one at a time, in the order the peer sent the events; a callback may call
/// any API, including destroying this watch.
class NamespaceWatch {
 public:
  NamespaceWatch(NamespaceWatch&&) noexcept;
  NamespaceWatch& operator=(NamespaceWatch&&) noexcept;
  NamespaceWatch(const NamespaceWatch&) = delete;
  NamespaceWatch& operator=(const NamespaceWatch&) = delete;
  ~NamespaceWatch();

  /// The prefix this watch reports on (a moved-from watch returns the
  /// placeholder namespace "moved-from").
  const Namespace& prefix() const noexcept;

  /// True once the terminal event has happened (and for a moved-from watch).
  bool closed() const noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit NamespaceWatch(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moq
