// The C++ types and functions the cxx bridges (src/bridge/) name. Included by
// the generated bridge code; shared bridge structs are only forward-declared.
#pragma once

#include <cstdint>
#include <memory>

#include "moq/bytes.hpp"
#include "moq/callback.hpp"
#include "rust/cxx.h"
#include "tsan.hpp"

namespace moq {
struct SessionHandlers;
struct ObjectHandlers;
struct NamespaceHandlers;

namespace detail {
/// A handle's callbacks and terminal event (impl.hpp).
template <class Handlers>
struct HandleCore;
struct AnnouncementHandlers;
using SessionCore = HandleCore<SessionHandlers>;
/// A push subscription's, a fetch's, or a track accepted from a PUBLISH.
using SubscriptionCore = HandleCore<ObjectHandlers>;
using NamespaceWatchCore = HandleCore<NamespaceHandlers>;
using AnnouncementCore = HandleCore<AnnouncementHandlers>;
struct PublishListenerCore;
}  // namespace detail

namespace ffi {
struct Status;
struct ObjectHeader;
struct PayloadBox;
enum class SessionStateKind : ::std::uint8_t;

/// Receives a session's terminal event from Rust (any runtime thread).
class SessionEvents {
 public:
  explicit SessionEvents(std::shared_ptr<detail::SessionCore> core) noexcept
      : core_(std::move(core)) {}
  void on_closed(const Status& status) const noexcept;
  void on_goaway(rust::Str new_uri) const noexcept;
  void on_state_change(SessionStateKind kind, const Status& status) const noexcept;

 private:
  std::shared_ptr<detail::SessionCore> core_;
  detail::RustHandoff handoff_;  // last: see tsan.hpp
};

/// Receives a subscription's objects and terminal event from its one Rust task.
class SubscriptionEvents {
 public:
  explicit SubscriptionEvents(std::shared_ptr<detail::SubscriptionCore> core) noexcept
      : core_(std::move(core)) {}
  ~SubscriptionEvents();
  void on_object(const ObjectHeader& header, rust::Box<PayloadBox> payload) const noexcept;
  void on_closed(const Status& status) const noexcept;

 private:
  std::shared_ptr<detail::SubscriptionCore> core_;
  detail::RustHandoff handoff_;  // last: see tsan.hpp
};

/// Receives a namespace watch's events and terminal event from its one Rust task.
class NamespaceEvents {
 public:
  explicit NamespaceEvents(std::shared_ptr<detail::NamespaceWatchCore> core) noexcept
      : core_(std::move(core)) {}
  ~NamespaceEvents();
  void on_added(rust::Vec<rust::String> ns) const noexcept;
  void on_removed(rust::Vec<rust::String> ns) const noexcept;
  void on_closed(const Status& status) const noexcept;

 private:
  std::shared_ptr<detail::NamespaceWatchCore> core_;
  detail::RustHandoff handoff_;  // last: see tsan.hpp
};

/// Answers the peer's PUBLISHes from the PublishListener's one Rust task: a
/// non-null result accepts the track and receives its objects.
class PublishEvents {
 public:
  explicit PublishEvents(std::shared_ptr<detail::PublishListenerCore> core) noexcept
      : core_(std::move(core)) {}
  ~PublishEvents();
  [[nodiscard]] std::unique_ptr<SubscriptionEvents> on_publish(rust::Vec<rust::String> ns,
                                                               rust::Str track) const noexcept;

 private:
  std::shared_ptr<detail::PublishListenerCore> core_;
  detail::RustHandoff handoff_;  // last: see tsan.hpp
};

struct TrackRequestBox;

/// Receives an announcement's requests for tracks that do not exist.
class TrackRequestEvents {
 public:
  explicit TrackRequestEvents(std::shared_ptr<detail::AnnouncementCore> core) noexcept
      : core_(std::move(core)) {}
  /// Rust drops the events when no request can come any more: releases the handler.
  ~TrackRequestEvents();
  void on_track_requested(rust::Box<TrackRequestBox> request) const noexcept;

 private:
  std::shared_ptr<detail::AnnouncementCore> core_;
  detail::RustHandoff handoff_;  // last: see tsan.hpp
};

struct PendingResult;

/// Receives a request's answer from Rust, on the request's strand.
class PendingReady {
 public:
  using Deliver = moq::Callback<void(rust::Box<PendingResult>)>;
  explicit PendingReady(Deliver deliver) noexcept : deliver_(std::move(deliver)) {}
  ~PendingReady();
  void on_ready(rust::Box<PendingResult> result) const noexcept;

 private:
  Deliver deliver_;
  detail::RustHandoff handoff_;  // last: see tsan.hpp
};

/// Keeps a moq::Bytes alive while Rust sends it.
class PayloadOwner {
 public:
  explicit PayloadOwner(Bytes bytes) noexcept : bytes_(std::move(bytes)) {}
  [[nodiscard]] rust::Slice<const uint8_t> data() const noexcept;

 private:
  Bytes bytes_;
  detail::RustHandoff handoff_;  // last: see tsan.hpp
};

enum class LogLevelKind : ::std::uint8_t;
void log_message(LogLevelKind level, rust::Str message) noexcept;

}  // namespace ffi
}  // namespace moq
