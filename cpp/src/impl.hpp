// Internal: the state behind the public handles, shared with the bridge.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moq-ffi/src/bridge.rs.h"
#include "moq/moq.hpp"

namespace moq {

/// What owns the buffer of a Bytes (bytes.cpp, subscribe.cpp derive from it).
struct Bytes::Storage {
  virtual ~Storage() = default;
};

namespace detail {

/// The library's access to a Bytes' storage.
struct BytesAccess {
  using Storage = Bytes::Storage;
  static Bytes make(std::shared_ptr<const Storage> storage, const uint8_t* data,
                    std::size_t size) noexcept {
    return Bytes(std::move(storage), data, size);
  }
  static const Storage* storage(const Bytes& bytes) noexcept { return bytes.storage_.get(); }
  static long owners(const Bytes& bytes) noexcept { return bytes.storage_.use_count(); }
};

// When callbacks run and when they stop is decided on the Rust side: every
// handle's callbacks run on its strand (src/dispatch.rs), one at a time, on a
// callback thread of the library; destroying the handle's Rust box closes the
// strand (from a user thread it waits for a running callback; from a library
// thread it never waits). The cores below hold the user's callbacks and the
// state the setters share with the events; the events (bridge.hpp) are owned
// by the Rust sinks.

struct SessionCore {
  std::mutex mutex;
  Callback<void(const Status&)> on_closed;
  /// The terminal event, once it happened (success: a local close()).
  std::optional<Status> terminal;
  /// Moved out to be called: a GOAWAY comes at most once.
  Callback<void(std::string_view)> on_goaway;
  std::optional<std::string> goaway_uri;  // set once the peer's GOAWAY came
  /// Moved out while it runs (on the session's strand, one call at a time).
  Callback<void(SessionState, const Status&)> on_state_change;
};

struct SubscriptionCore {
  /// Names the handle in the log if its on_closed callback throws.
  const char* what = "subscription on_closed callback";
  std::mutex mutex;
  ObjectCallback on_object;
  /// Made by a request (subscribe, fetch): set once its Pending's answer was
  /// taken, after which cancelling the Pending no longer releases on_object.
  bool handed_over = false;

  /// The answer was taken: the handle owns the callbacks from now on; a
  /// refused request (no object can come) releases them at once.
  void hand_over(bool refused) noexcept {
    ObjectCallback released;  // destroyed after the lock
    std::lock_guard<std::mutex> lock(mutex);
    handed_over = true;
    if (refused) released = std::move(on_object);
  }
  /// The Pending went before its answer was taken: no object can reach the
  /// callback any more, so it is released here (on the destroying thread).
  void cancel() noexcept {
    ObjectCallback released;
    std::lock_guard<std::mutex> lock(mutex);
    if (!handed_over) released = std::move(on_object);
  }
  Callback<void(const Status&)> on_closed;
  std::optional<Status> terminal;
};

struct SessionImpl {
  SessionImpl(rust::Box<ffi::SessionBox> box, std::shared_ptr<SessionCore> core) noexcept
      : box(std::move(box)), core(std::move(core)) {}
  rust::Box<ffi::SessionBox> box;
  std::shared_ptr<SessionCore> core;
};

struct AnnouncementCore {
  std::mutex mutex;
  /// Shared so a request can run it outside the lock while a setter
  /// replaces it (the replaced one goes with its last user).
  std::shared_ptr<const Callback<void(TrackRequest)>> on_track_requested;
  /// Set when no request can come any more (the announcement ended with its
  /// session, or was destroyed): the handler is released and not stored again.
  bool ended = false;
};

struct AnnouncementImpl {
  AnnouncementImpl(rust::Box<ffi::AnnouncementBox> box, Namespace ns,
                   std::shared_ptr<AnnouncementCore> core) noexcept
      : box(std::move(box)), ns(std::move(ns)), core(std::move(core)) {}
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
  SubscriptionImpl(std::shared_ptr<SubscriptionCore> core, rust::Box<ffi::SubscriptionBox> box,
                   bool push) noexcept
      : core(std::move(core)), box(std::move(box)), push(push) {}
  // Members go in reverse order: the Rust subscription (and its strand)
  // first, then the core with the callbacks.
  std::shared_ptr<SubscriptionCore> core;
  rust::Box<ffi::SubscriptionBox> box;
  bool push;
};

struct NamespaceWatchCore {
  std::mutex mutex;
  // Set at creation; used and released only by the watch's one Rust task.
  Callback<void(const Namespace&)> on_added;
  Callback<void(const Namespace&)> on_removed;
  Callback<void(const Status&)> on_closed;
  std::optional<Status> terminal;
  /// As SubscriptionCore's: the watch request's answer was taken.
  bool handed_over = false;

  void hand_over(bool refused) noexcept {
    Callback<void(const Namespace&)> added, removed;  // destroyed after the lock
    std::lock_guard<std::mutex> lock(mutex);
    handed_over = true;
    if (refused) {
      added = std::move(on_added);
      removed = std::move(on_removed);
    }
  }
  void cancel() noexcept {
    Callback<void(const Namespace&)> added, removed;
    std::lock_guard<std::mutex> lock(mutex);
    if (handed_over) return;
    added = std::move(on_added);
    removed = std::move(on_removed);
  }
};

struct NamespaceWatchImpl {
  NamespaceWatchImpl(std::shared_ptr<NamespaceWatchCore> core, rust::Box<ffi::NamespaceWatchBox> box,
                     Namespace prefix) noexcept
      : core(std::move(core)), box(std::move(box)), prefix(std::move(prefix)) {}
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
  std::mutex mutex;
  PublishOfferHandler on_offer;
};

struct PublishListenerImpl {
  PublishListenerImpl(std::shared_ptr<PublishListenerCore> core,
                      rust::Box<ffi::PublishListenerBox> box) noexcept
      : core(std::move(core)), box(std::move(box)) {}
  std::shared_ptr<PublishListenerCore> core;
  rust::Box<ffi::PublishListenerBox> box;
};

/// What a Pending<T> holds (moq/pending.hpp).
template <class T>
struct PendingImpl {
  using Convert = std::function<Result<T>(rust::Box<ffi::PendingResult>)>;
  PendingImpl(rust::Box<ffi::PendingBox> box, Convert convert,
              std::function<void()> cancel = nullptr) noexcept
      : convert(std::move(convert)), cancel(std::move(cancel)), box(std::move(box)) {}
  /// Turns the Rust answer into the handle; captures what the handle needs
  /// besides its box (its core). Copied into the completion of then().
  Convert convert;
  /// Run when the Pending is destroyed on a user thread: releases the
  /// callbacks the request was given, which no answer can reach any more.
  std::function<void()> cancel;
  /// Last member, destroyed first: cancels the request.
  rust::Box<ffi::PendingBox> box;
};

/// Registers the on_closed callback of a core with `mutex`, `on_closed` and
/// `terminal` (subscription, fetch, namespace watch). If the terminal event
/// has already happened, the callback still sees it, once, now, on this
/// thread. Defined in session.cpp.
void set_on_closed(std::mutex& mutex, Callback<void(const Status&)>& slot,
                   const std::optional<Status>& terminal,
                   Callback<void(const Status&)> callback, const char* what) noexcept;

/// The other half: delivers the terminal event once. Under `mutex` it records
/// `status` in `terminal`, takes the on_closed callback out of `slot` and runs
/// `release_under_lock` (which moves the handle's other callbacks out, to be
/// destroyed by the caller after this returns); then it calls on_closed,
/// outside the lock. Defined in session.cpp.
void deliver_terminal(std::mutex& mutex, std::optional<Status>& terminal,
                      Callback<void(const Status&)>& slot, const Status& status,
                      const char* what, const std::function<void()>& release_under_lock) noexcept;

/// A received object from its bridge form (the payload is not copied).
Object object_from(const ffi::ObjectHeader& header, rust::Box<ffi::PayloadBox> payload) noexcept;

/// A fresh bridge status to pass as an out-parameter.
ffi::Status new_status() noexcept;
/// Converts a bridge status; `Code::Ok` is success.
Status to_status(const ffi::Status& status) noexcept;
Error to_error(const ffi::Status& status) noexcept;
/// The error a blocking call made on a library thread returns; names the
/// non-blocking form to use instead. Defined in session.cpp.
Error would_block(const char* what, const char* async_form) noexcept;
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
std::optional<Namespace> namespace_from(const rust::Vec<rust::String>& parts) noexcept;

}  // namespace detail
}  // namespace moq
