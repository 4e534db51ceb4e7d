// moq/pending.hpp — a request to the peer in flight (the non-blocking forms).
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "moq/error.hpp"
#include "moq/callback.hpp"

namespace moq {

/// A request to the peer in flight, as the non-blocking forms return it at
/// once: Session::connect_async (Pending<Session>), announce_async
/// (Pending<Announcement>), subscribe_async (Pending<Subscription>),
/// subscribe_namespace_async (Pending<NamespaceWatch>), publish_track_async
/// (Pending<PublishedTrack>), fetch_async and joining_fetch_async
/// (Pending<Fetch>).
/// The request runs inside the library, bounded by its timeout in
/// SessionConfig, so it always ends: with the handle, or with the Error the
/// blocking form would have returned.
///
/// Take the answer once, one way:
/// - then(callback): the callback gets it on a library callback thread (the
///   request's own strand; never on the calling thread, never on a thread
///   that drives QUIC), as soon as it comes, or at once if it is there;
/// - wait(timeout) / try_get(): from a thread of your own, or polling.
///
/// Legal from inside any moq callback (on_added, on_goaway, on_closed, ...):
/// starting a request and setting its callback never block.
///
/// Ownership: move-only RAII. Destroying a Pending whose answer was not taken
/// cancels the request (a handle it had made is closed, as if destroyed);
/// its callback then never runs. From a thread of yours: when the destructor
/// returns, the callback is not running and will not run, and the callbacks
/// the request was given (a subscription's on_object) have been destroyed;
/// from a library thread it never waits. A moved-from Pending is inert: its
/// calls return Errc::invalid_argument. Destroying a Pending after its answer
/// was taken changes nothing.
///
/// Threads: any call from any thread.
///
/// In C++20, `co_await` a Pending with <moq/coro.hpp>.
template <class T>
class [[nodiscard]] Pending {
 public:
  Pending(Pending&&) noexcept;
  Pending& operator=(Pending&&) noexcept;
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  ~Pending();

  /// True once the answer came and no one has taken it yet.
  bool ready() const noexcept;

  /// Waits up to `timeout` for the answer and takes it
  /// (`std::chrono::milliseconds::max()`: without end). Errors: the
  /// request's own; timeout (no answer yet: the request goes on, wait
  /// again); would_block (a nonzero wait on a moq callback thread: use
  /// then()); invalid_argument (answer already taken, or it goes to the
  /// callback of then(); negative timeout; moved-from).
  Result<T> wait(std::chrono::milliseconds timeout) noexcept;

  /// The answer if it has come (taking it), else nullopt. Never blocks.
  std::optional<Result<T>> try_get() noexcept;

  /// Hands the answer to `on_done`, once, on a library callback thread (the
  /// request's strand), as soon as it comes; if it has already come, soon
  /// after this returns (never inside this call). `on_done` may do anything,
  /// including destroying this Pending. Set it at most once.
  /// Errors: invalid_argument (empty callback, one already set, answer
  /// already taken, moved-from).
  Status then(Callback<void(Result<T>)> on_done) noexcept;

 private:
  struct Impl;                  // the library's state behind the request
  friend struct LibraryAccess;  // how the library makes Pendings and reaches their state
  explicit Pending(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moq
