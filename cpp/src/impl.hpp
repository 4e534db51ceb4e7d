// Internal: the state behind the public handles, shared with the bridge.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The bridges' generated headers, one per concept (src/bridge/).
#include "moq-ffi/src/bridge/bytes.rs.h"
#include "moq-ffi/src/bridge/discovery.rs.h"
#include "moq-ffi/src/bridge/error.rs.h"
#include "moq-ffi/src/bridge/fetch.rs.h"
#include "moq-ffi/src/bridge/log.rs.h"
#include "moq-ffi/src/bridge/names.rs.h"
#include "moq-ffi/src/bridge/object.rs.h"
#include "moq-ffi/src/bridge/pending.rs.h"
#include "moq-ffi/src/bridge/publish.rs.h"
#include "moq-ffi/src/bridge/publish_track.rs.h"
#include "moq-ffi/src/bridge/runtime.rs.h"
#include "moq-ffi/src/bridge/session.rs.h"
#include "moq-ffi/src/bridge/subscribe.rs.h"
#include "boundary.hpp"
#include "moq/moq.hpp"

namespace moq {

/// What owns the buffer of a Bytes (bytes.cpp, subscribe.cpp derive from it).
struct Bytes::Storage {
  virtual ~Storage() = default;
};

namespace detail {

// When callbacks run and when they stop is decided on the Rust side: every
// handle's callbacks run on its strand (src/dispatch.rs), one at a time, on a
// callback thread of the library; destroying the handle's Rust box closes the
// strand (from a user thread it waits for a running callback; from a library
// thread it never waits). The cores below hold the user's callbacks and the
// state the setters share with the events; the events (bridge.hpp) are owned
// by the Rust sinks.

/// The user's callbacks of one handle and its terminal event. `Handlers` is
/// the public struct they were given in (SessionHandlers, ObjectHandlers,
/// NamespaceHandlers), set when the request is made, before any event can
/// come. They are used on the handle's strand only, and released (moved out
/// under the mutex, destroyed after it) exactly once: by the terminal event,
/// by a refused request, by a Pending destroyed before its answer was taken,
/// or with the core when the handle goes. The aliases: bridge.hpp.
template <class Handlers>
struct HandleCore {
  HandleCore(Handlers handlers, const char* what) noexcept
      : handlers(std::move(handlers)), what(what) {}

  std::mutex mutex;
  Handlers handlers;
  /// Names on_closed in the log if it throws.
  const char* what;
  /// The terminal event, once it happened.
  std::optional<Status> terminal;
  /// The request's answer was taken: the handle owns the callbacks from now
  /// on, and cancelling the Pending no longer releases them.
  bool handed_over = false;
  /// The callbacks were released: no event reaches them any more, and none
  /// is stored again.
  bool released = false;

  /// The answer was taken; a refused request (no event can come) releases
  /// the callbacks at once.
  void hand_over(bool refused) noexcept {
    Handlers released;  // destroyed after the lock
    std::lock_guard<std::mutex> lock(mutex);
    handed_over = true;
    if (refused) release_under_lock(released);
  }
  /// The Pending went before its answer was taken: no event can reach the
  /// callbacks any more, so they are released here (on the destroying thread).
  void cancel() noexcept {
    Handlers released;
    std::lock_guard<std::mutex> lock(mutex);
    if (!handed_over) release_under_lock(released);
  }
  /// Delivers the terminal event once: records it, releases every callback,
  /// and calls on_closed (outside the lock) before destroying them.
  void deliver_terminal(const Status& status) noexcept {
    Handlers released;
    {
      std::lock_guard<std::mutex> lock(mutex);
      terminal = status;
      release_under_lock(released);
    }
    if (released.on_closed) call_user(what, released.on_closed, status);
  }
  bool closed() noexcept {
    std::lock_guard<std::mutex> lock(mutex);
    return terminal.has_value();
  }
  /// Moves the callbacks into `out` (destroyed by the caller after the lock).
  void release_under_lock(Handlers& out) noexcept {
    out = std::move(handlers);
    released = true;
  }
};

/// An announcement's core is released when no request can come any more
/// (the announcement ended with its session, or was destroyed).
struct AnnouncementHandlers {
  /// Shared so a request can run it outside the lock while the setter
  /// replaces it (the replaced one goes with its last user).
  std::shared_ptr<const Callback<void(TrackRequest)>> on_track_requested;
};

struct PublishListenerCore {
  std::mutex mutex;
  PublishOfferHandler on_offer;
};

/// What a Pending answers through: turns the Rust answer into the handle,
/// capturing what the handle needs besides its box (its core).
template <class T>
using ConvertAnswer = std::function<Result<T>(rust::Box<ffi::PendingResult>)>;

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

// The public enums and their bridge twins (cxx shared enums), both ways.

inline ffi::FilterKind filter_to_ffi(SubscribeFilter::Type type) noexcept {
  switch (type) {
    case SubscribeFilter::Type::latest_object: return ffi::FilterKind::LatestObject;
    case SubscribeFilter::Type::next_group: return ffi::FilterKind::NextGroup;
    case SubscribeFilter::Type::absolute_start: return ffi::FilterKind::AbsoluteStart;
    case SubscribeFilter::Type::absolute_range: return ffi::FilterKind::AbsoluteRange;
  }
  return ffi::FilterKind::LatestObject;
}

inline ffi::GroupOrderKind group_order_to_ffi(GroupOrder order) noexcept {
  switch (order) {
    case GroupOrder::publisher: return ffi::GroupOrderKind::Publisher;
    case GroupOrder::ascending: return ffi::GroupOrderKind::Ascending;
    case GroupOrder::descending: return ffi::GroupOrderKind::Descending;
  }
  return ffi::GroupOrderKind::Publisher;
}

inline ffi::Overflow overflow_to_ffi(Overflow overflow) noexcept {
  switch (overflow) {
    case Overflow::drop_oldest_groups: return ffi::Overflow::DropOldestGroups;
    case Overflow::end_with_lag: return ffi::Overflow::EndWithLag;
    case Overflow::pause: return ffi::Overflow::Pause;
  }
  return ffi::Overflow::DropOldestGroups;
}

inline ObjectStatus object_status_from_ffi(ffi::ObjectStatusKind status) noexcept {
  if (status == ffi::ObjectStatusKind::EndOfGroup) return ObjectStatus::end_of_group;
  if (status == ffi::ObjectStatusKind::EndOfTrack) return ObjectStatus::end_of_track;
  return ObjectStatus::normal;
}

inline ffi::LogLevelKind level_to_ffi(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return ffi::LogLevelKind::Debug;
    case LogLevel::info: return ffi::LogLevelKind::Info;
    case LogLevel::warn: return ffi::LogLevelKind::Warn;
    case LogLevel::error: return ffi::LogLevelKind::Error;
  }
  return ffi::LogLevelKind::Error;
}

inline LogLevel level_from_ffi(ffi::LogLevelKind level) noexcept {
  if (level == ffi::LogLevelKind::Debug) return LogLevel::debug;
  if (level == ffi::LogLevelKind::Info) return LogLevel::info;
  if (level == ffi::LogLevelKind::Warn) return LogLevel::warn;
  return LogLevel::error;
}

inline SessionState state_from_ffi(ffi::SessionStateKind state) noexcept {
  if (state == ffi::SessionStateKind::Connected) return SessionState::connected;
  if (state == ffi::SessionStateKind::Reconnecting) return SessionState::reconnecting;
  return SessionState::closed;
}

/// Runs `call(status)`, a bridge function that reports failure through its
/// status out-parameter: its value, or the error the status carries.
template <class Call>
auto checked(Call&& call) noexcept -> Result<decltype(call(std::declval<ffi::Status&>()))> {
  ffi::Status status = new_status();
  auto value = std::forward<Call>(call)(status);
  if (status.code != ffi::Code::Ok) return to_error(status);
  return value;
}

}  // namespace detail

// The state behind each public handle (its private, forward-declared Impl).
// Members are destroyed in reverse order: Subscription, NamespaceWatch, Fetch
// and PublishListener declare their core (the user's callbacks) first, so the
// Rust half (and its strand) goes before the callbacks.

struct Session::Impl {
  rust::Box<ffi::SessionBox> box;
  std::shared_ptr<detail::SessionCore> core;
};

struct Announcement::Impl {
  rust::Box<ffi::AnnouncementBox> box;
  Namespace ns;
  std::shared_ptr<detail::AnnouncementCore> core;
};

struct TrackRequest::Impl {
  rust::Box<ffi::TrackRequestBox> box;
};

struct TrackWriter::Impl {
  rust::Box<ffi::TrackWriterBox> box;
};

struct GroupWriter::Impl {
  rust::Box<ffi::GroupWriterBox> box;
};

struct ObjectWriter::Impl {
  rust::Box<ffi::ObjectWriterBox> box;
};

struct DatagramWriter::Impl {
  rust::Box<ffi::DatagramWriterBox> box;
};

struct Subscription::Impl {
  std::shared_ptr<detail::SubscriptionCore> core;
  rust::Box<ffi::SubscriptionBox> box;
  bool push;
};

struct NamespaceWatch::Impl {
  std::shared_ptr<detail::NamespaceWatchCore> core;
  rust::Box<ffi::NamespaceWatchBox> box;
  Namespace prefix;
};

struct Fetch::Impl {
  std::shared_ptr<detail::SubscriptionCore> core;
  rust::Box<ffi::FetchBox> box;
  ffi::FetchEnd end;
};

struct PublishedTrack::Impl {
  rust::Box<ffi::PublishedTrackBox> box;
  Namespace ns;
  std::string name;
};

struct PublishListener::Impl {
  std::shared_ptr<detail::PublishListenerCore> core;
  rust::Box<ffi::PublishListenerBox> box;
};

template <class T>
struct Pending<T>::Impl {
  detail::ConvertAnswer<T> convert;
  /// Run when the Pending is destroyed on a user thread: releases the
  /// callbacks the request was given, which no answer can reach any more.
  std::function<void()> cancel;
  /// Last member, destroyed first: cancels the request.
  rust::Box<ffi::PendingBox> box;
};

/// The library's one way into the public handles and Bytes (each names it a
/// friend): makes them around their state and reaches the state of one.
struct LibraryAccess {
  /// A handle around a new Impl made of `members` (in declaration order).
  template <class Handle, class... Members>
  static Handle make(Members&&... members) noexcept {
    using Impl = typename Handle::Impl;
    return Handle(std::unique_ptr<Impl>(new Impl{std::forward<Members>(members)...}));
  }
  /// The state of `handle`; null once moved from.
  template <class Handle>
  static typename Handle::Impl* impl(const Handle& handle) noexcept {
    return handle.impl_.get();
  }

  using Storage = Bytes::Storage;
  static Bytes bytes(std::shared_ptr<const Storage> storage, const uint8_t* data,
                     std::size_t size) noexcept {
    return Bytes(std::move(storage), data, size);
  }
  static const Storage* storage(const Bytes& bytes) noexcept { return bytes.storage_.get(); }
  static long owners(const Bytes& bytes) noexcept { return bytes.storage_.use_count(); }
};

// The members every handle defines alike: construction from its state, move,
// and destruction (where its Impl is complete).
#define MOQ_DEFINE_HANDLE(Handle)                                                    \
  Handle::Handle(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}  \
  Handle::Handle(Handle&&) noexcept = default;                                       \
  Handle& Handle::operator=(Handle&&) noexcept = default;                            \
  Handle::~Handle() = default;

}  // namespace moq
