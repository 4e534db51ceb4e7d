// moq/subscribe.hpp — receiving a track.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "moq/error.hpp"
#include "moq/object.hpp"

namespace moq {

/// Which objects a subscription starts with (and, for a range, ends with).
struct SubscribeFilter {
  enum class Type {
    latest_object,   ///< from the latest object the publisher has (default)
    next_group,      ///< from the start of the next group
    absolute_start,  ///< from start_group/start_object on
    absolute_range,  ///< from start_group/start_object through the end of end_group
  };
  Type type = Type::latest_object;
  uint64_t start_group = 0;
  uint64_t start_object = 0;
  uint64_t end_group = 0;

  static SubscribeFilter latest_object() noexcept { return {}; }
  static SubscribeFilter next_group() noexcept { return {Type::next_group, 0, 0, 0}; }
  static SubscribeFilter absolute_start(uint64_t group, uint64_t object = 0) noexcept {
    return {Type::absolute_start, group, object, 0};
  }
  static SubscribeFilter absolute_range(uint64_t start_group, uint64_t start_object,
                                        uint64_t end_group) noexcept {
    return {Type::absolute_range, start_group, start_object, end_group};
  }
};

/// What a Subscription has received so far. `objects + dropped_objects` is
/// every object that arrived.
struct SubscriptionStats {
  uint64_t objects = 0;  ///< objects delivered, or queued for you (not those dropped)
  uint64_t bytes = 0;    ///< their payload bytes
  /// Pieces the payloads arrived in: QUIC stream reads the library joined into
  /// objects (a datagram is one). Large objects arrive in many.
  uint64_t chunks = 0;
  /// Groups dropped (whole, or their remaining objects) to stay within the
  /// ReceiveBudget, and the objects dropped with them.
  uint64_t dropped_groups = 0;
  uint64_t dropped_objects = 0;
  /// Subgroup streams that ended before their end, losing the rest of their
  /// group: reset by the publisher or the relay, or refused here for an
  /// object above SessionConfig::max_object_size (see
  /// SessionStats::objects_refused).
  uint64_t streams_reset = 0;
  /// Groups given up to keep GroupOrder::ascending: not ended within
  /// SubscribeOptions::reorder_window, or arrived after a later group.
  uint64_t skipped_groups = 0;
  /// Times the subscription was made again on a new connection of its
  /// session (ReconnectPolicy): each is a gap in what was received.
  uint64_t resumptions = 0;
  /// The last gap: the largest group received before it (none: nothing
  /// was) and the first group received after it (none: nothing yet). The
  /// groups strictly between them may be missing; no group before the gap
  /// is delivered after it.
  std::optional<uint64_t> gap_after_group;
  std::optional<uint64_t> gap_before_group;
};

/// What a subscription does when its ReceiveBudget is full.
enum class Overflow {
  /// Drop whole groups, oldest first, until the new object fits (and the
  /// rest of a dropped group when it arrives): the newest data wins, and a
  /// group is never delivered with a hole. The default, for live media.
  drop_oldest_groups,
  /// End the subscription with Errc::lagging (after what is queued).
  end_with_lag,
  /// Stop reading from the network until there is room: the whole
  /// session's incoming data waits (its other subscriptions too), and QUIC
  /// flow control holds the relay back. Nothing is dropped here; the relay
  /// may skip groups, or end a subscriber that lags too far.
  pause,
};

/// What may wait between the network and you: objects received and not yet
/// delivered (push mode: your callback is behind) or not yet taken (pull
/// mode). A single object larger than `max_bytes` never fits.
/// Groups still arriving are bounded by `max_arriving_bytes`.
struct ReceiveBudget {
  /// Bytes waiting at most: payloads, and extensions as they take memory
  /// decoded (each about 32 bytes plus its value).
  std::size_t max_bytes = 64 * 1024 * 1024;
  std::size_t max_objects = 65536;
  Overflow overflow = Overflow::drop_oldest_groups;
  /// Bytes the track's groups still arriving may hold in all, never less
  /// than one group of SessionConfig::max_group_bytes. The engine keeps a
  /// subgroup's bytes until its stream ends, and a relay sends many groups
  /// at once (each on its stream, in turn) when this process falls behind
  /// or a publisher bursts. Past it, under drop_oldest_groups the oldest
  /// groups in progress are dropped (counted in dropped_groups, their object
  /// in progress in dropped_objects); under end_with_lag the subscription
  /// ends with Errc::lagging; pause drops nothing and relies on QUIC flow
  /// control. A subscriber that keeps up with a bursting publisher needs
  /// the burst's size here.
  std::size_t max_arriving_bytes = 256 * 1024 * 1024;
};

/// Order in which a publisher with several groups at hand sends them.
/// ascending also orders delivery here: each group arrives on its own QUIC
/// stream, so objects of the next group can arrive before the previous group
/// has ended; with ascending they wait (SubscribeOptions::reorder_window) and
/// groups reach you in ascending order, never interleaved. A group that has
/// not ended within the window is skipped (the rest of it dropped, its
/// streams stopped, counted in SubscriptionStats::skipped_groups), as is a
/// group that arrives after a later one was delivered.
enum class GroupOrder { publisher, ascending, descending };

/// SUBSCRIBE parameters (draft 18 §10.2) and local delivery settings.
struct SubscribeOptions {
  SubscribeFilter filter;
  GroupOrder group_order = GroupOrder::publisher;
  /// false: the publisher does not forward objects.
  bool forward = true;
  /// Subscriber priority; lower is more important (see default_priority).
  uint8_t priority = default_priority;
  /// Objects not delivered within this time may be dropped. 0 = no limit.
  std::chrono::milliseconds delivery_timeout{0};
  /// Lets the relay hold the SUBSCRIBE this long for a publisher that has not
  /// appeared yet, instead of answering not_found at once; subscribe() then
  /// blocks until the publisher appears (at most this plus request_timeout).
  /// 0 = answer at once.
  std::chrono::milliseconds rendezvous_timeout{0};
  /// Bounds what waits for your callback (push) or for try_next/next (pull),
  /// and says what happens beyond: see ReceiveBudget. Drops are counted in
  /// SubscriptionStats. Both limits must be positive.
  ReceiveBudget budget;
  /// With GroupOrder::ascending: how long objects of later groups wait for
  /// the group being delivered to end before it is skipped (also when they
  /// pass budget.max_bytes). Not negative.
  std::chrono::milliseconds reorder_window{1000};
};

/// A subscription to one track. Its callbacks run on a callback thread of the
/// library, one at a time, in order (objects of one group in order), never on
/// the threads that drive QUIC: a slow callback delays only this
/// subscription.
///
/// Destroying it unsubscribes. From one of your threads: when the destructor
/// returns, no callback of it is running or will run, and its callbacks have
/// been destroyed (on your thread). From a moq callback (this subscription's
/// or any other handle's): no callback of it starts afterwards; one running
/// elsewhere finishes, then the callbacks are destroyed on that thread; the
/// destructor never waits for another callback (so two handles may destroy
/// each other from their callbacks). Move-only; a moved-from Subscription is
/// inert. Any call from any thread.
class Subscription {
 public:
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  ~Subscription();

  /// Pull mode: the next queued object, or nullopt if none is queued now.
  /// Never blocks. Always nullopt in push mode.
  std::optional<Object> try_next() noexcept;

  /// Pull mode: waits up to `timeout` for the next object
  /// (`milliseconds::max()`: without end). Once the queue is empty and the
  /// subscription has ended: end_of_track if the publisher ended the track
  /// normally, closed if it ended otherwise (the message says how), lagging
  /// if it fell behind. Other errors: timeout, would_block (called from a moq
  /// callback thread), invalid_argument (push mode or moved-from).
  Result<Object> next(std::chrono::milliseconds timeout) noexcept;

  /// True once the terminal event has happened (ObjectHandlers::on_closed in
  /// push mode; in pull mode next() reports it once the queue is empty).
  bool closed() const noexcept;
  /// Objects, bytes and drops so far (zeros for a moved-from handle).
  SubscriptionStats stats() const noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit Subscription(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moq
