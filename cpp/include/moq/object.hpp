// moq/object.hpp — MoQT objects: what a subscriber receives and the options a
// publisher writes them with.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "moq/bytes.hpp"
#include "moq/callback.hpp"
#include "moq/error.hpp"

namespace moq {

/// The MoQT priority used where none is given, by publishers (groups,
/// subgroups, datagrams) and subscribers (SubscribeOptions::priority) alike:
/// the middle of 0..255. Lower numbers are more important.
inline constexpr uint8_t default_priority = 128;

/// An object's status (draft 18 §10.2.1.1). Markers carry no payload.
enum class ObjectStatus {
  normal,
  end_of_group,  ///< no object of this group at or after this object id will exist
  end_of_track,  ///< no object at or after this location will exist in the track
};

/// An object extension header. MoQT gives even keys a number value (`number`)
/// and odd keys a byte-string value (`bytes`); the other field is unused.
struct Extension {
  uint64_t key = 0;
  uint64_t number = 0;
  std::string bytes;
};

/// One received object.
struct Object {
  uint64_t group_id = 0;
  uint64_t subgroup_id = 0;
  uint64_t object_id = 0;
  uint8_t priority = 0;  ///< publisher priority; lower is more important
  Bytes payload;         ///< shares the received buffer; keep it as long as you like
  bool datagram = false; ///< arrived as a QUIC datagram rather than on a subgroup stream
  ObjectStatus status = ObjectStatus::normal;  ///< markers have an empty payload
  std::vector<Extension> extensions;
};

/// How GroupWriter writes one object.
struct ObjectOptions {
  /// The object id; empty = the next one (previous + 1, the first is 0). Ids
  /// must increase within a subgroup; skipped ids are gaps.
  std::optional<uint64_t> object_id;
  /// Extension headers (even keys: number, odd keys: bytes).
  std::vector<Extension> extensions;
};

/// What receives a subscription's (or a fetch's, or an accepted PUBLISH's)
/// objects. It gets each object as an rvalue: take `const moq::Object&` to
/// look, or `moq::Object&&` to keep the payload and extensions without a copy
/// (`queue.push(std::move(object))`).
using ObjectCallback = Callback<void(Object&&)>;

/// The callbacks of a push Subscription or a Fetch, given when it is made
/// (Session::subscribe, fetch, joining_fetch and their _async forms), so
/// none of its events can come before its callback exists. Both run on the
/// handle's strand (a library thread), one call at a time.
///
/// A lambda (or any ObjectCallback) converts to ObjectHandlers with only
/// on_object set: `session.subscribe(ns, "t", [](const moq::Object& o) {...})`;
/// `{on_object, on_closed}` sets both.
struct ObjectHandlers {
  ObjectHandlers() noexcept = default;
  /// Only on_object.
  template <class F, class = std::enable_if_t<std::is_constructible<ObjectCallback, F>::value &&
                                              !std::is_same<std::decay_t<F>, ObjectHandlers>::value>>
  ObjectHandlers(F&& on_object)  // NOLINT: implicit, so a lambda is enough
      : on_object(std::forward<F>(on_object)) {}
  ObjectHandlers(ObjectCallback on_object, Callback<void(const Status&)> on_closed) noexcept
      : on_object(std::move(on_object)), on_closed(std::move(on_closed)) {}

  /// Every object, in arrival order (a fetch: ascending groups and objects).
  /// Required: an empty one is refused (Errc::invalid_argument).
  ObjectCallback on_object;
  /// The single terminal event, after the last object: Status ok when the
  /// publisher ended the track (a fetch: the whole response was delivered),
  /// an Error otherwise (closed: the session ended or the publisher
  /// abandoned it; lagging; protocol ...). Optional. Only for a request that
  /// was accepted (a refused one answers with its Error instead); never
  /// called after you destroyed the handle (or its Pending before the
  /// answer was taken).
  Callback<void(const Status&)> on_closed;
};

}  // namespace moq
