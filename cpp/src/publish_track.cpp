// Single-track PUBLISH, sent and received: moq/publish_track.hpp.
#include "boundary.hpp"
#include "impl.hpp"

namespace moq {

namespace ffi {

// Rust drops the events when no PUBLISH can come any more (the session ended,
// or the listener is being destroyed): the offer handler is released here,
// outside the lock.
PublishEvents::~PublishEvents() {
  const auto call = handoff_.enter();  // the body runs before the members go
  PublishOfferHandler released;
  std::lock_guard<std::mutex> lock(core_->mutex);
  released = std::move(core_->on_offer);
  core_->on_offer = nullptr;
}

// On the listener's strand, one offer at a time, never after ~PublishListener
// returned. An accepted track's callbacks then run on a strand of its own.
// NOLINTNEXTLINE(performance-unnecessary-value-param): cxx's signature
std::unique_ptr<SubscriptionEvents> PublishEvents::on_publish(rust::Vec<rust::String> ns,
                                                              rust::Str track) const noexcept {
  const auto call = handoff_.enter();
  auto& core = *core_;
  std::optional<Namespace> offered = detail::namespace_from(ns);
  if (!offered || !core.on_offer) return nullptr;
  std::optional<AcceptedTrack> answer =
      detail::call_user(core.on_offer, *offered, std::string_view(track.data(), track.size()));
  if (!answer) return nullptr;
  if (!answer->on_object) {
    detail::log(LogLevel::warn, "the PUBLISH offer handler accepted \"" + offered->to_string() + "/" +
                                    std::string(track) +
                                    "\" without an on_object callback; the track is rejected");
    return nullptr;
  }
  auto accepted = std::make_shared<detail::SubscriptionCore>(
      std::move(*answer), "accepted PUBLISH track on_closed callback");
  accepted->handed_over = true;  // no Pending: the track is the listener's at once
  return std::make_unique<SubscriptionEvents>(std::move(accepted));
}

}  // namespace ffi

Result<PublishedTrack> Session::publish_track(const Namespace& ns, std::string_view name) noexcept {
  if (ffi::on_runtime_thread()) {
    return detail::would_block("Session::publish_track", "publish_track_async");
  }
  return publish_track_async(ns, name).wait(std::chrono::milliseconds::max());
}

Pending<PublishedTrack> Session::publish_track_async(const Namespace& ns,
                                                     std::string_view name) noexcept {
  auto convert = [ns, name = std::string(name)](
                     rust::Box<ffi::PendingResult> result) -> Result<PublishedTrack> {
    auto box = detail::checked([&](ffi::Status& status) {
      return ffi::pending_result_published_track(std::move(result), status);
    });
    if (!box) return box.error();
    return LibraryAccess::make<PublishedTrack>(std::move(box).value(), ns, name);
  };
  rust::Box<ffi::PendingBox> box =
      impl_ ? ffi::session_publish_track_async(*impl_->box, ns.parts(), detail::as_slice(name))
            : ffi::pending_invalid(detail::moved_from("Session::publish_track").message());
  return LibraryAccess::make<Pending<PublishedTrack>>(std::move(convert), nullptr, std::move(box));
}

Result<PublishListener> Session::on_publish(PublishOfferHandler on_offer) noexcept {
  if (!impl_) return detail::moved_from("Session::on_publish");
  if (!on_offer) {
    return Error(Errc::invalid_argument,
                 "Session::on_publish: the offer handler is empty; pass one that returns an "
                 "AcceptedTrack (accept) or std::nullopt (reject)");
  }
  auto core = std::make_shared<detail::PublishListenerCore>();
  core->on_offer = std::move(on_offer);
  auto box = detail::checked([&](ffi::Status& status) {
    return ffi::session_on_publish(*impl_->box, std::make_unique<ffi::PublishEvents>(core), status);
  });
  if (!box) return box.error();
  return LibraryAccess::make<PublishListener>(std::move(core), std::move(box).value());
}

MOQ_DEFINE_HANDLE(PublishedTrack)

const Namespace& PublishedTrack::ns() const noexcept {
  return impl_ ? impl_->ns : detail::moved_from_namespace();
}

std::string_view PublishedTrack::name() const noexcept {
  return impl_ ? std::string_view(impl_->name) : std::string_view();
}

Result<GroupWriter> PublishedTrack::begin_group(uint8_t priority) noexcept {
  if (!impl_) return detail::moved_from("PublishedTrack::begin_group");
  auto box = detail::checked([&](ffi::Status& status) {
    return ffi::published_track_begin_group(*impl_->box, priority, status);
  });
  if (!box) return box.error();
  return LibraryAccess::make<GroupWriter>(std::move(box).value());
}

MOQ_DEFINE_HANDLE(PublishListener)

}  // namespace moq
