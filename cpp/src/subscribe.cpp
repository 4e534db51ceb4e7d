#include "boundary.hpp"
#include "impl.hpp"

namespace moq {
namespace {

/// Bytes over a payload the network delivered (a Rust `Bytes`): no copy.
struct ReceivedStorage final : Bytes::Storage {
  explicit ReceivedStorage(rust::Box<ffi::PayloadBox> box) noexcept : payload(std::move(box)) {}
  rust::Box<ffi::PayloadBox> payload;
};

}  // namespace

namespace detail {
/// The Rust payload behind `bytes`, if it was received (lets GroupWriter
/// republish it without a copy).
const ffi::PayloadBox* received_payload(const Bytes& bytes) noexcept {
  auto* storage = dynamic_cast<const ReceivedStorage*>(bytes.storage().get());
  return storage ? &*storage->payload : nullptr;
}
}  // namespace detail

namespace ffi {

SubscriptionEvents::~SubscriptionEvents() = default;

void SubscriptionEvents::on_object(const ObjectHeader& header,
                                   rust::Box<PayloadBox> payload) const noexcept {
  rust::Slice<const uint8_t> data = payload_data(*payload);
  auto storage = std::make_shared<ReceivedStorage>(std::move(payload));
  Object object;
  object.group_id = header.group_id;
  object.subgroup_id = header.subgroup_id;
  object.object_id = header.object_id;
  object.priority = header.priority;
  object.payload = Bytes(std::move(storage), data.data(), data.size());
  object.datagram = header.datagram;
  object.status = header.status == 1   ? ObjectStatus::end_of_group
                  : header.status == 2 ? ObjectStatus::end_of_track
                                       : ObjectStatus::normal;
  if (!header.extensions.empty()) object.extensions = detail::from_ffi(header.extensions);
  auto& core = *core_;
  // One writer (this subscription's task): a plain store, no locked add.
  core.objects.store(core.objects.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  core.bytes.store(core.bytes.load(std::memory_order_relaxed) + object.payload.size(),
                   std::memory_order_relaxed);
  core.chunks.store(core.chunks.load(std::memory_order_relaxed) + header.chunks,
                    std::memory_order_relaxed);
  if (core.push) {
    // Only this subscription's Rust task calls here, so on_object is never
    // reassigned concurrently; it is released only after the terminal event.
    if (core.gate.enter()) {
      detail::call_user(core.on_object, object);
      core.gate.leave();
    }
    return;
  }
  std::lock_guard<std::mutex> lock(core.mutex);
  if (core.max_queued != 0 && core.queue.size() >= core.max_queued) {
    core.queue.pop_front();
    ++core.dropped;
  }
  core.queue.push_back(std::move(object));
  core.changed.notify_all();
}

void SubscriptionEvents::on_closed(const Status& status) const noexcept {
  auto& core = *core_;
  std::function<void(const Object&)> on_object;
  detail::deliver_terminal(core.gate, core.mutex, core.terminal, core.on_closed,
                           detail::to_status(status), core.what, [&] {
                             on_object = std::move(core.on_object);
                             core.on_object = nullptr;
                             core.changed.notify_all();
                           });
  // The user's callbacks are released here, after the terminal event.
}

}  // namespace ffi

Result<Subscription> Session::subscribe_impl(const Namespace& ns, std::string_view track,
                                             std::function<void(const Object&)> on_object,
                                             const SubscribeOptions& options) noexcept {
  auto core = std::make_shared<detail::SubscriptionCore>();
  core->push = static_cast<bool>(on_object);
  core->on_object = std::move(on_object);
  core->max_queued = options.max_queued_objects;
  if (options.delivery_timeout.count() < 0 || options.rendezvous_timeout.count() < 0) {
    return Error(Errc::invalid_argument, "SubscribeOptions timeouts must not be negative");
  }
  const ffi::SubscribeParams params{
      static_cast<uint8_t>(options.filter.type),
      options.filter.start_group,
      options.filter.start_object,
      options.filter.end_group,
      static_cast<uint8_t>(options.group_order),
      options.forward,
      options.priority,
      static_cast<uint64_t>(options.delivery_timeout.count()),
      static_cast<uint64_t>(options.rendezvous_timeout.count()),
  };
  ffi::Status status = detail::new_status();
  rust::Box<ffi::SubscriptionBox> box =
      ffi::session_subscribe(*impl_->box, ns.parts(), detail::as_slice(track), params,
                             std::make_unique<ffi::SubscriptionEvents>(core), status);
  if (status.code != ffi::Code::Ok) return detail::to_error(status);
  return Subscription(std::make_unique<detail::SubscriptionImpl>(std::move(core), std::move(box)));
}

Result<Subscription> Session::subscribe(const Namespace& ns, std::string_view track,
                                        std::function<void(const Object&)> on_object,
                                        SubscribeOptions options) noexcept {
  if (!impl_) return detail::moved_from("Session::subscribe");
  if (!on_object) {
    return Error(Errc::invalid_argument,
                 "Session::subscribe: the object callback is empty; pass one, or use the pull-mode "
                 "overload without a callback");
  }
  return subscribe_impl(ns, track, std::move(on_object), options);
}

Result<Subscription> Session::subscribe(const Namespace& ns, std::string_view track,
                                        SubscribeOptions options) noexcept {
  if (!impl_) return detail::moved_from("Session::subscribe");
  return subscribe_impl(ns, track, nullptr, options);
}

Subscription::Subscription(std::unique_ptr<detail::SubscriptionImpl> impl) noexcept
    : impl_(std::move(impl)) {}
Subscription::Subscription(Subscription&&) noexcept = default;
Subscription& Subscription::operator=(Subscription&&) noexcept = default;
Subscription::~Subscription() = default;

std::optional<Object> Subscription::try_next() noexcept {
  if (!impl_) return std::nullopt;
  auto& core = *impl_->core;
  std::lock_guard<std::mutex> lock(core.mutex);
  if (core.queue.empty()) return std::nullopt;
  Object object = std::move(core.queue.front());
  core.queue.pop_front();
  return object;
}

Result<Object> Subscription::next(std::chrono::milliseconds timeout) noexcept {
  if (!impl_) return detail::moved_from("Subscription::next");
  auto& core = *impl_->core;
  if (core.push) {
    return Error(Errc::invalid_argument,
                 "Subscription::next is for pull mode; this subscription delivers to a callback");
  }
  if (ffi::on_runtime_thread()) {
    return Error(Errc::would_block,
                 "Subscription::next waits and cannot be called from a moq callback thread; use "
                 "try_next there");
  }
  std::unique_lock<std::mutex> lock(core.mutex);
  bool ready = core.changed.wait_for(lock, timeout, [&] { return !core.queue.empty() || core.terminal; });
  if (!core.queue.empty()) {
    Object object = std::move(core.queue.front());
    core.queue.pop_front();
    return object;
  }
  if (ready && core.terminal) {
    if (core.terminal->has_value()) {
      return Error(Errc::closed, "the subscription has ended: the publisher ended the track");
    }
    return Error(Errc::closed, "the subscription has ended: " + core.terminal->error().message());
  }
  return Error(Errc::timeout, "no object arrived within " + std::to_string(timeout.count()) + " ms");
}

void Subscription::on_closed(std::function<void(const Status&)> callback) noexcept {
  if (!impl_) return;
  auto& core = *impl_->core;
  detail::set_on_closed(core.mutex, core.on_closed, core.terminal, std::move(callback),
                        "subscription on_closed callback");
}

bool Subscription::closed() const noexcept {
  if (!impl_) return true;
  std::lock_guard<std::mutex> lock(impl_->core->mutex);
  return impl_->core->terminal.has_value();
}

SubscriptionStats Subscription::stats() const noexcept {
  if (!impl_) return {};
  auto& core = *impl_->core;
  SubscriptionStats stats;
  stats.objects = core.objects.load(std::memory_order_relaxed);
  stats.bytes = core.bytes.load(std::memory_order_relaxed);
  stats.chunks = core.chunks.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(core.mutex);
  stats.dropped = core.dropped;
  return stats;
}

uint64_t Subscription::dropped() const noexcept {
  if (!impl_) return 0;
  std::lock_guard<std::mutex> lock(impl_->core->mutex);
  return impl_->core->dropped;
}

}  // namespace moq
