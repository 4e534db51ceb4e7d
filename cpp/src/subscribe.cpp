#include "boundary.hpp"
#include "impl.hpp"

namespace moq {
namespace {

/// Bytes over a payload the network delivered (a Rust `Bytes`): no copy.
struct ReceivedStorage final : LibraryAccess::Storage {
  explicit ReceivedStorage(rust::Box<ffi::PayloadBox> box) noexcept : payload(std::move(box)) {}
  rust::Box<ffi::PayloadBox> payload;
};

}  // namespace

namespace detail {
/// The Rust payload behind `bytes`, if it was received (lets GroupWriter
/// republish it without a copy).
const ffi::PayloadBox* received_payload(const Bytes& bytes) noexcept {
  const auto* storage = dynamic_cast<const ReceivedStorage*>(LibraryAccess::storage(bytes));
  return storage != nullptr ? &*storage->payload : nullptr;
}
}  // namespace detail

namespace detail {

Object object_from(const ffi::ObjectHeader& header, rust::Box<ffi::PayloadBox> payload) noexcept {
  rust::Slice<const uint8_t> data = ffi::payload_data(*payload);
  auto storage = std::make_shared<ReceivedStorage>(std::move(payload));
  Object object;
  object.group_id = header.group_id;
  object.subgroup_id = header.subgroup_id;
  object.object_id = header.object_id;
  object.priority = header.priority;
  object.payload = LibraryAccess::bytes(std::move(storage), data.data(), data.size());
  object.datagram = header.datagram;
  object.status = object_status_from_ffi(header.status);
  if (!header.extensions.empty()) object.extensions = from_ffi(header.extensions);
  return object;
}

}  // namespace detail

namespace ffi {

SubscriptionEvents::~SubscriptionEvents() = default;

// Called on the subscription's strand only: one call at a time, never after
// the Subscription's destructor returned (Rust closes the strand).
void SubscriptionEvents::on_object(const ObjectHeader& header,
                                   rust::Box<PayloadBox> payload) const noexcept {
  const auto call = handoff_.enter();
  Object object = detail::object_from(header, std::move(payload));
  // on_object is only released by the terminal event, on this same strand,
  // or before any object can come (a refused or cancelled request).
  if (core_->handlers.on_object) detail::call_user(core_->handlers.on_object, std::move(object));
}

void SubscriptionEvents::on_closed(const Status& status) const noexcept {
  const auto call = handoff_.enter();
  core_->deliver_terminal(detail::to_status(status));  // then releases the callbacks
}

}  // namespace ffi

namespace {

/// SUBSCRIBE on `session` (null once the Session was moved from): push mode
/// with the handlers' on_object, or pull mode. Every subscribe form ends here.
Pending<Subscription> start_subscribe(const ffi::SessionBox* session, const Namespace& ns,
                                      std::string_view track, ObjectHandlers handlers,
                                      const SubscribeOptions& options, bool push) noexcept {
  auto core = std::make_shared<detail::SubscriptionCore>(std::move(handlers),
                                                         "subscription on_closed callback");
  auto convert = [core, push](rust::Box<ffi::PendingResult> result) -> Result<Subscription> {
    auto box = detail::checked([&](ffi::Status& status) {
      return ffi::pending_result_subscription(std::move(result), status);
    });
    core->hand_over(!box);
    if (!box) return box.error();
    return LibraryAccess::make<Subscription>(core, std::move(box).value(), push);
  };
  auto cancel = [core] { core->cancel(); };
  auto pending = [&](rust::Box<ffi::PendingBox> box) {
    return LibraryAccess::make<Pending<Subscription>>(std::move(convert), std::move(cancel),
                                                      std::move(box));
  };
  if (session == nullptr) {
    return pending(ffi::pending_invalid(detail::moved_from("Session::subscribe_async").message()));
  }
  if (push && !core->handlers.on_object) {
    return pending(ffi::pending_invalid(
        "Session::subscribe: the object callback is empty; pass one, or use the pull-mode "
        "overload without a callback"));
  }
  if (options.delivery_timeout.count() < 0 || options.rendezvous_timeout.count() < 0 ||
      options.reorder_window.count() < 0) {
    return pending(ffi::pending_invalid("SubscribeOptions timeouts must not be negative"));
  }
  const ffi::SubscribeParams params{
      detail::filter_to_ffi(options.filter.type),
      options.filter.start_group,
      options.filter.start_object,
      options.filter.end_group,
      detail::group_order_to_ffi(options.group_order),
      options.forward,
      options.priority,
      static_cast<uint64_t>(options.delivery_timeout.count()),
      static_cast<uint64_t>(options.rendezvous_timeout.count()),
      !push,
      static_cast<uint64_t>(options.budget.max_bytes),
      static_cast<uint64_t>(options.budget.max_objects),
      detail::overflow_to_ffi(options.budget.overflow),
      static_cast<uint64_t>(options.budget.max_arriving_bytes),
      static_cast<uint64_t>(options.reorder_window.count()),
  };
  return pending(ffi::session_subscribe_async(*session, ns.parts(), detail::as_slice(track),
                                              params, std::make_unique<ffi::SubscriptionEvents>(core)));
}

// Non-const, as the subscribe forms that call it: a request changes the session.
const ffi::SessionBox* session_box(Session& session) noexcept {
  const auto* impl = LibraryAccess::impl(session);
  return impl != nullptr ? &*impl->box : nullptr;
}

}  // namespace

Result<Subscription> Session::subscribe(const Namespace& ns, std::string_view track,
                                        ObjectHandlers handlers,
                                        SubscribeOptions options) noexcept {
  if (ffi::on_runtime_thread()) return detail::would_block("Session::subscribe", "subscribe_async");
  return start_subscribe(session_box(*this), ns, track, std::move(handlers), options, true)
      .wait(std::chrono::milliseconds::max());
}

Result<Subscription> Session::subscribe(const Namespace& ns, std::string_view track,
                                        SubscribeOptions options) noexcept {
  if (ffi::on_runtime_thread()) return detail::would_block("Session::subscribe", "subscribe_async");
  return start_subscribe(session_box(*this), ns, track, ObjectHandlers(), options, false)
      .wait(std::chrono::milliseconds::max());
}

Pending<Subscription> Session::subscribe_async(const Namespace& ns, std::string_view track,
                                               ObjectHandlers handlers,
                                               SubscribeOptions options) noexcept {
  return start_subscribe(session_box(*this), ns, track, std::move(handlers), options, true);
}

Pending<Subscription> Session::subscribe_async(const Namespace& ns, std::string_view track,
                                               SubscribeOptions options) noexcept {
  return start_subscribe(session_box(*this), ns, track, ObjectHandlers(), options, false);
}

MOQ_DEFINE_HANDLE(Subscription)

std::optional<Object> Subscription::try_next() noexcept {
  if (!impl_ || impl_->push) return std::nullopt;
  ffi::ObjectHeader header{};
  ffi::Status status = detail::new_status();
  rust::Box<ffi::PayloadBox> payload =
      ffi::subscription_next(*impl_->box, true, 0, false, header, status);
  if (status.code != ffi::Code::Ok) return std::nullopt;
  return detail::object_from(header, std::move(payload));
}

Result<Object> Subscription::next(std::chrono::milliseconds timeout) noexcept {
  if (!impl_) return detail::moved_from("Subscription::next");
  if (impl_->push) {
    return Error(Errc::invalid_argument,
                 "Subscription::next is for pull mode; this subscription delivers to a callback");
  }
  // milliseconds::max() (or anything that large) waits without end.
  const bool forever = timeout.count() >= std::chrono::milliseconds::max().count() / 2;
  const uint64_t wait_ms = timeout.count() <= 0 ? 0 : static_cast<uint64_t>(timeout.count());
  ffi::ObjectHeader header{};
  auto payload = detail::checked([&](ffi::Status& status) {
    return ffi::subscription_next(*impl_->box, false, wait_ms, forever, header, status);
  });
  if (!payload) return payload.error();
  return detail::object_from(header, std::move(payload).value());
}

bool Subscription::closed() const noexcept { return !impl_ || impl_->core->closed(); }

SubscriptionStats Subscription::stats() const noexcept {
  if (!impl_) return {};
  const ffi::SubscriptionCounters c = ffi::subscription_stats(*impl_->box);
  SubscriptionStats stats;
  stats.objects = c.objects;
  stats.bytes = c.bytes;
  stats.chunks = c.chunks;
  stats.dropped_groups = c.dropped_groups;
  stats.dropped_objects = c.dropped_objects;
  stats.streams_reset = c.streams_reset;
  stats.skipped_groups = c.skipped_groups;
  stats.resumptions = c.resumptions;
  if (c.gap_after_group != UINT64_MAX) stats.gap_after_group = c.gap_after_group;
  if (c.gap_before_group != UINT64_MAX) stats.gap_before_group = c.gap_before_group;
  return stats;
}

}  // namespace moq
