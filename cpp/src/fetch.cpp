// FETCH, standalone and joining: moq/fetch.hpp. Delivery reuses the
// subscription machinery (SubscriptionCore, SubscriptionEvents, and on the
// Rust side the same strand): the same ordering and single terminal event.
#include "boundary.hpp"
#include "impl.hpp"

namespace moq {
namespace detail {

namespace {

std::shared_ptr<SubscriptionCore> fetch_core(ObjectHandlers handlers) {
  return std::make_shared<SubscriptionCore>(std::move(handlers), "fetch on_closed callback");
}

}  // namespace
}  // namespace detail

namespace detail {

/// The Pending of a fetch request whose callbacks are in `core`.
struct FetchRequest {
  std::shared_ptr<SubscriptionCore> core;

  [[nodiscard]] ConvertAnswer<Fetch> convert() const {
    return [core = core](rust::Box<ffi::PendingResult> result) -> Result<Fetch> {
      auto box = checked([&](ffi::Status& status) {
        return ffi::pending_result_fetch(std::move(result), status);
      });
      core->hand_over(!box);
      if (!box) return box.error();
      const ffi::FetchEnd end = ffi::fetch_end(**box);
      return LibraryAccess::make<Fetch>(core, std::move(box).value(), end);
    };
  }
  [[nodiscard]] Pending<Fetch> pending(rust::Box<ffi::PendingBox> box) const {
    return LibraryAccess::make<Pending<Fetch>>(convert(), [core = core] { core->cancel(); },
                                               std::move(box));
  }
};

}  // namespace detail

Result<Fetch> Session::fetch(const Namespace& ns, std::string_view track, FetchRange range,
                             ObjectHandlers handlers) noexcept {
  if (ffi::on_runtime_thread()) return detail::would_block("Session::fetch", "fetch_async");
  return fetch_async(ns, track, range, std::move(handlers)).wait(std::chrono::milliseconds::max());
}

Pending<Fetch> Session::fetch_async(const Namespace& ns, std::string_view track, FetchRange range,
                                    ObjectHandlers handlers) noexcept {
  const bool has_on_object = static_cast<bool>(handlers.on_object);
  const detail::FetchRequest request{detail::fetch_core(std::move(handlers))};
  if (!impl_) {
    return request.pending(ffi::pending_invalid(detail::moved_from("Session::fetch").message()));
  }
  if (!has_on_object) {
    return request.pending(ffi::pending_invalid(
        "Session::fetch: the object callback is empty; pass one to receive the fetched "
        "objects"));
  }
  const ffi::FetchParams params{range.start_group, range.start_object, range.end_group,
                                range.end_object.has_value(), range.end_object.value_or(0)};
  return request.pending(
      ffi::session_fetch_async(*impl_->box, ns.parts(), detail::as_slice(track), params,
                               std::make_unique<ffi::SubscriptionEvents>(request.core)));
}

Result<Fetch> Session::joining_fetch(const Subscription& subscription, uint64_t groups_before,
                                     ObjectHandlers handlers) noexcept {
  if (ffi::on_runtime_thread()) {
    return detail::would_block("Session::joining_fetch", "joining_fetch_async");
  }
  return joining_fetch_async(subscription, groups_before, std::move(handlers))
      .wait(std::chrono::milliseconds::max());
}

Pending<Fetch> Session::joining_fetch_async(const Subscription& subscription,
                                            uint64_t groups_before,
                                            ObjectHandlers handlers) noexcept {
  const bool has_on_object = static_cast<bool>(handlers.on_object);
  const detail::FetchRequest request{detail::fetch_core(std::move(handlers))};
  const char* refused = nullptr;
  if (LibraryAccess::impl(subscription) == nullptr) {
    refused =
        "Session::joining_fetch: the subscription is moved-from; pass a live subscription of "
        "this session";
  } else if (!has_on_object) {
    refused =
        "Session::joining_fetch: the object callback is empty; pass one to receive the fetched "
        "objects";
  }
  if (!impl_) {
    return request.pending(
        ffi::pending_invalid(detail::moved_from("Session::joining_fetch").message()));
  }
  if (refused != nullptr) return request.pending(ffi::pending_invalid(refused));
  return request.pending(ffi::session_joining_fetch_async(
      *impl_->box, *LibraryAccess::impl(subscription)->box, groups_before,
      std::make_unique<ffi::SubscriptionEvents>(request.core)));
}

MOQ_DEFINE_HANDLE(Fetch)

uint64_t Fetch::end_group() const noexcept { return impl_ ? impl_->end.end_group : 0; }

std::optional<uint64_t> Fetch::end_object() const noexcept {
  if (!impl_ || !impl_->end.has_end_object) return std::nullopt;
  return impl_->end.end_object;
}

bool Fetch::end_of_track() const noexcept { return impl_ && impl_->end.end_of_track; }

bool Fetch::closed() const noexcept { return !impl_ || impl_->core->closed(); }

}  // namespace moq
