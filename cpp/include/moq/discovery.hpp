// moq/discovery.hpp — watching the namespaces published under a prefix
// (SUBSCRIBE_NAMESPACE, draft 18 §10.18). Start a watch with
// Session::subscribe_namespace.
#pragma once

#include <functional>
#include <memory>

#include "moq/error.hpp"
#include "moq/names.hpp"
#include "moq/callback.hpp"

namespace moq {

namespace detail {
struct NamespaceWatchImpl;
}

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

  /// Sets the callback for the single terminal event, called after the last
  /// on_added / on_removed. Draft 18 gives the peer no graceful way to end a
  /// namespace watch, so every end the library sees is an Error: closed when
  /// the session ended or the peer ended the request. If the watch has
  /// already ended, `callback` is called at once on this thread; otherwise on
  /// a library thread. Not called when you destroy the NamespaceWatch.
  /// Replaces an earlier callback. The watch's callbacks (on_added,
  /// on_removed, on_closed) are released after the terminal event.
  void on_closed(Callback<void(const Status&)> callback) noexcept;

  /// True once the terminal event has happened (and for a moved-from watch).
  bool closed() const noexcept;

 private:
  friend class Session;
  explicit NamespaceWatch(std::unique_ptr<detail::NamespaceWatchImpl> impl) noexcept;
  std::unique_ptr<detail::NamespaceWatchImpl> impl_;
};

}  // namespace moq
