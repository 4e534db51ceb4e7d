// Internal: the state behind the public handles, shared with the bridge.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "moq-ffi/src/bridge.rs.h"
#include "moq/moq.hpp"

namespace moq {
namespace detail {

/// Lets a handle's destructor wait until none of its callbacks is running and
/// none will start: the promise "when the destructor returns, no callback runs".
/// Callbacks of one handle may run at once on different threads (a session's
/// GOAWAY and its terminal event). A destructor running inside one of them
/// waits for the others, not for its own thread's (it would wait for itself);
/// later callbacks are refused.
class CallbackGate {
 public:
  /// Before a user callback; false once closed (skip the callback).
  bool enter() noexcept;
  /// After the user callback.
  void leave() noexcept;
  /// Refuses future callbacks and waits for those running on other threads.
  void close() noexcept;

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  bool closed_ = false;
  /// One entry per callback running now: the thread it runs on.
  std::vector<std::thread::id> running_;
};

struct SessionCore {
  CallbackGate gate;
  std::mutex mutex;
  std::function<void(SessionState, const Error*)> on_state;
  bool closed = false;
  std::optional<Error> close_error;
  std::function<void(std::string_view)> on_goaway;
  std::optional<std::string> goaway_uri;  // set once the peer's GOAWAY came
};

struct SubscriptionCore {
  /// Names the handle in the log if its on_closed callback throws.
  const char* what = "subscription on_closed callback";
  CallbackGate gate;
  std::mutex mutex;
  std::condition_variable changed;
  bool push = false;
  std::function<void(const Object&)> on_object;
  std::function<void(const Status&)> on_closed;
  std::deque<Object> queue;
  std::size_t max_queued = 0;
  uint64_t dropped = 0;
  std::atomic<uint64_t> objects{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> chunks{0};
  std::optional<Status> terminal;
};

struct SessionImpl {
  SessionImpl(rust::Box<ffi::SessionBox> box, std::shared_ptr<SessionCore> core) noexcept
      : box(std::move(box)), core(std::move(core)) {}
  ~SessionImpl() { core->gate.close(); }
  rust::Box<ffi::SessionBox> box;
  std::shared_ptr<SessionCore> core;
};

struct AnnouncementCore {
  CallbackGate gate;
  std::mutex mutex;
  std::function<void(TrackRequest)> on_track_requested;
  /// Set when no request can come any more (the announcement ended with its
  /// session, or was destroyed): the handler is released and not stored again.
  bool ended = false;
};

struct AnnouncementImpl {
  AnnouncementImpl(rust::Box<ffi::AnnouncementBox> box, Namespace ns,
                   std::shared_ptr<AnnouncementCore> core) noexcept
      : box(std::move(box)), ns(std::move(ns)), core(std::move(core)) {}
  // No request callback runs once this returns; then the Rust side (and its
  // handler) goes.
  ~AnnouncementImpl() { core->gate.close(); }
  rust::Box<ffi::AnnouncementBox> box;
  Namespace ns;
  std::shared_ptr<AnnouncementCore> core;
};

struct TrackRequestImpl {
  rust::Box<ffi::TrackRequestBox> box;
};

struct TrackWriterImpl {
  rust::Box<ffi::TrackWriterBox> box;
};

struct GroupWriterImpl {
  rust::Box<ffi::GroupWriterBox> box;
  uint64_t group_id;
};

struct ObjectWriterImpl {
  rust::Box<ffi::ObjectWriterBox> box;
};

struct DatagramWriterImpl {
  rust::Box<ffi::DatagramWriterBox> box;
};

struct SubscriptionImpl {
  SubscriptionImpl(std::shared_ptr<SubscriptionCore> core, rust::Box<ffi::SubscriptionBox> box) noexcept
      : core(std::move(core)), box(std::move(box)) {}
  // Close the gate first (wait for a running callback), then drop the Rust
  // subscription (members are destroyed after this body: box before core).
  ~SubscriptionImpl() { core->gate.close(); }
  std::shared_ptr<SubscriptionCore> core;
  rust::Box<ffi::SubscriptionBox> box;
};

struct NamespaceWatchCore {
  CallbackGate gate;
  std::mutex mutex;
  // Set at creation; used and released only by the watch's one Rust task.
  std::function<void(const Namespace&)> on_added;
  std::function<void(const Namespace&)> on_removed;
  std::function<void(const Status&)> on_closed;
  std::optional<Status> terminal;
};

struct NamespaceWatchImpl {
  NamespaceWatchImpl(std::shared_ptr<NamespaceWatchCore> core, rust::Box<ffi::NamespaceWatchBox> box,
                     Namespace prefix) noexcept
      : core(std::move(core)), box(std::move(box)), prefix(std::move(prefix)) {}
  // As SubscriptionImpl: close the gate, then cancel the Rust watch.
  ~NamespaceWatchImpl() { core->gate.close(); }
  std::shared_ptr<NamespaceWatchCore> core;
  rust::Box<ffi::NamespaceWatchBox> box;
  Namespace prefix;
};

struct PublishedTrackImpl {
  rust::Box<ffi::PublishedTrackBox> box;
  Namespace ns;
  std::string name;
};

struct PublishListenerCore {
  /// Guards the offer handler.
  CallbackGate gate;
  std::mutex mutex;
  /// Set by ~PublishListenerImpl: no track is accepted after it.
  bool closed = false;
  PublishOfferHandler on_offer;
  /// The accepted tracks still delivering (each has its own gate).
  std::vector<std::weak_ptr<SubscriptionCore>> tracks;
};

struct PublishListenerImpl {
  PublishListenerImpl(std::shared_ptr<PublishListenerCore> core,
                      rust::Box<ffi::PublishListenerBox> box) noexcept
      : core(std::move(core)), box(std::move(box)) {}
  // Refuses and waits out the offer handler and every accepted track's
  // callbacks, then drops the Rust listener (which aborts the deliveries).
  ~PublishListenerImpl();
  std::shared_ptr<PublishListenerCore> core;
  rust::Box<ffi::PublishListenerBox> box;
};

/// Registers the on_closed callback of a core with `mutex`, `on_closed` and
/// `terminal` (subscription, fetch, namespace watch). If the terminal event
/// has already happened, the callback still sees it, once, now, on this
/// thread. Defined in session.cpp.
void set_on_closed(std::mutex& mutex, std::function<void(const Status&)>& slot,
                   const std::optional<Status>& terminal,
                   std::function<void(const Status&)> callback, const char* what) noexcept;

/// The other half: delivers the terminal event once. Under `mutex` it records
/// `status` in `terminal`, takes the on_closed callback out of `slot` and runs
/// `release_under_lock` (which moves the handle's other callbacks out, to be
/// destroyed by the caller after this returns); then it calls on_closed
/// through `gate`, outside the lock. Defined in session.cpp.
void deliver_terminal(CallbackGate& gate, std::mutex& mutex, std::optional<Status>& terminal,
                      std::function<void(const Status&)>& slot, const Status& status,
                      const char* what, const std::function<void()>& release_under_lock) noexcept;

/// A fresh bridge status to pass as an out-parameter.
ffi::Status new_status() noexcept;
/// Converts a bridge status; `Code::Ok` is success.
Status to_status(const ffi::Status& status) noexcept;
Error to_error(const ffi::Status& status) noexcept;
/// The error every call on a moved-from handle returns.
Error moved_from(const char* what) noexcept;

rust::Slice<const uint8_t> as_slice(std::string_view text) noexcept;
/// The bytes of `text` as a Rust Vec, copied in one bridge call.
inline rust::Vec<uint8_t> to_rust_bytes(std::string_view text) noexcept {
  return ffi::bytes_to_vec(as_slice(text));
}
/// What handles' namespace accessors return once moved from.
const Namespace& moved_from_namespace() noexcept;

/// Object options / extensions across the bridge (extension bytes are copied:
/// they are small metadata).
ffi::ObjectParams to_ffi(const ObjectOptions& options) noexcept;
std::vector<Extension> from_ffi(const rust::Vec<ffi::ObjectExtension>& extensions) noexcept;

/// A namespace the engine reports (already checked there); nullopt, logged,
/// if it somehow is not a valid Namespace.
std::optional<Namespace> namespace_from(rust::Vec<rust::String> parts) noexcept;

}  // namespace detail
}  // namespace moq
