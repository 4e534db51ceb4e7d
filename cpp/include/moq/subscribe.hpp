// moq/subscribe.hpp — receiving a track.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "moq/bytes.hpp"
#include "moq/error.hpp"

namespace moq {

/// One received object.
struct Object {
  uint64_t group_id = 0;
  uint64_t subgroup_id = 0;
  uint64_t object_id = 0;
  uint8_t priority = 0;  ///< publisher priority; lower is more important
  Bytes payload;         ///< shares the received buffer; keep it as long as you like
};

struct SubscribeOptions {
  /// Pull mode only: the most objects queued before the oldest are dropped
  /// (counted by Subscription::dropped()). 0 = no limit.
  std::size_t max_queued_objects = 0;
};

namespace detail {
struct SubscriptionImpl;
}

/// A subscription to one track. Destroying it unsubscribes; when the
/// destructor returns no callback of it is running or will run (if it runs
/// inside this subscription's own callback: none after that callback returns).
/// Move-only; a moved-from Subscription is inert. Any call from any thread.
class Subscription {
 public:
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  ~Subscription();

  /// Pull mode: the next queued object, or nullopt if none is queued now.
  /// Never blocks. Always nullopt in push mode.
  std::optional<Object> try_next() noexcept;

  /// Pull mode: waits up to `timeout` for the next object. Errors: timeout,
  /// closed (the subscription ended and the queue is empty), would_block (called
  /// from a moq callback thread), invalid_argument (push mode or moved-from).
  Result<Object> next(std::chrono::milliseconds timeout) noexcept;

  /// Sets the callback for the single terminal event: Status ok when the
  /// publisher ended the track normally, an Error otherwise (session lost,
  /// subscription ended by the publisher...). If the subscription has already
  /// ended, it is called at once on this thread; otherwise on a library thread,
  /// after the last object. Not called when you destroy the Subscription.
  void on_closed(std::function<void(const Status&)> callback) noexcept;

  /// True once the terminal event has happened.
  bool closed() const noexcept;
  /// Pull mode: objects dropped because the queue was full.
  uint64_t dropped() const noexcept;

 private:
  friend class Session;
  explicit Subscription(std::unique_ptr<detail::SubscriptionImpl> impl) noexcept;
  std::unique_ptr<detail::SubscriptionImpl> impl_;
};

}  // namespace moq
