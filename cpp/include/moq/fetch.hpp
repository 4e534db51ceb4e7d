// moq/fetch.hpp — FETCH (draft 18 §10.12): asking a publisher, usually
// through a relay, for objects it has already published. Start one with
// Session::fetch (a standalone range) or Session::joining_fetch (the history
// just before a live Subscription).
//
// The publisher answers only from what it retains: a publisher made with this
// library answers for tracks created with TrackOptions::history (see
// moq/publish.hpp); moq-clock-ietf --publish keeps its recent minutes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "moq/abi.hpp"

namespace moq {

/// The objects a standalone FETCH asks for. Both ends are inclusive:
/// (start_group, start_object) is the first object wanted, (end_group,
/// end_object) the last; an empty end_object means "through the end of
/// end_group". The end must not precede the start (else
/// Errc::invalid_argument). Objects arrive in ascending group order, and in
/// ascending object order within a group.
struct FetchRange {
  uint64_t start_group = 0;
  uint64_t start_object = 0;
  uint64_t end_group = 0;
  /// Last object wanted in end_group; empty = the whole group.
  std::optional<uint64_t> end_object;

  /// Every object of groups start_group..end_group (inclusive).
  static FetchRange groups(uint64_t start_group, uint64_t end_group) noexcept {
    return {start_group, 0, end_group, std::nullopt};
  }
  /// Every object of one group.
  static FetchRange group(uint64_t group_id) noexcept { return groups(group_id, group_id); }
  /// From (start_group, start_object) to (end_group, end_object), both included.
  static FetchRange objects(uint64_t start_group, uint64_t start_object, uint64_t end_group,
                            uint64_t end_object) noexcept {
    return {start_group, start_object, end_group, end_object};
  }
};

/// A FETCH the publisher accepted, made by Session::fetch or
/// Session::joining_fetch. Its objects go to the ObjectHandlers given there:
/// on a library thread, one call at a time, in order; then exactly one
/// terminal event (ObjectHandlers::on_closed: ok when the whole response was
/// delivered; closed when the session ended or the publisher abandoned the
/// response; protocol for a malformed response).
///
/// Ownership: move-only RAII; it owns the callbacks. Destroying it cancels
/// the fetch if it is still running (the publisher is told to stop); when the
/// destructor returns none of its callbacks is running or will run (if it
/// runs inside one of this fetch's own callbacks: none after that callback
/// returns). It never waits on the network. A moved-from Fetch is inert. May
/// outlive its Session (an unfinished fetch then ends with Errc::closed).
///
/// Threads: any call from any thread; a callback may call any API, including
/// destroying this Fetch.
class Fetch {
 public:
  Fetch(Fetch&&) noexcept;
  Fetch& operator=(Fetch&&) noexcept;
  Fetch(const Fetch&) = delete;
  Fetch& operator=(const Fetch&) = delete;
  ~Fetch();

  /// Last group the response covers, inclusive (from FETCH_OK). The publisher
  /// may cover less than was asked: it sends what it retains, and says here
  /// where it stops. For a joining fetch: the group of the subscription's
  /// joining location. 0 for a moved-from Fetch.
  uint64_t end_group() const noexcept;
  /// Last object the response covers in end_group(), inclusive; empty = the
  /// whole group. For a joining fetch: the object of the subscription's
  /// joining location, so live objects at or before (end_group(),
  /// *end_object()) are duplicates of fetched ones and can be dropped.
  std::optional<uint64_t> end_object() const noexcept;
  /// The publisher says the response reaches the track's last object.
  bool end_of_track() const noexcept;

  /// True once the terminal event has happened (and for a moved-from Fetch).
  bool closed() const noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit Fetch(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moq
