#include <utility>

#include "boundary.hpp"
#include "impl.hpp"

namespace moq {
namespace detail {
const ffi::PayloadBox* received_payload(const Bytes& bytes) noexcept;
}

MOQ_DEFINE_HANDLE(Announcement)

const Namespace& Announcement::ns() const noexcept {
  return impl_ ? impl_->ns : detail::moved_from_namespace();
}

namespace detail {

ffi::ObjectParams to_ffi(const ObjectOptions& options) noexcept {
  ffi::ObjectParams params{options.object_id.has_value(), options.object_id.value_or(0), {}};
  params.extensions.reserve(options.extensions.size());
  for (const auto& ext : options.extensions) {
    params.extensions.push_back(
        ffi::ObjectExtension{ext.key, ext.number, to_rust_bytes(ext.bytes)});
  }
  return params;
}

std::vector<Extension> from_ffi(const rust::Vec<ffi::ObjectExtension>& extensions) noexcept {
  std::vector<Extension> out;
  out.reserve(extensions.size());
  for (const auto& ext : extensions) {
    out.push_back(Extension{ext.key, ext.number,
                            std::string(reinterpret_cast<const char*>(ext.bytes.data()), ext.bytes.size())});
  }
  return out;
}

}  // namespace detail

namespace detail {
/// TrackOptions::history in the bridge's flat form ({0, 0} = no history).
// The options in the bridge's form; the history limits are checked here
// (0 groups means "no history" there), the rest by Rust.
Result<ffi::TrackParams> track_params(const TrackOptions& options) noexcept {
  ffi::TrackParams params{0, 0, options.max_group_bytes, options.max_backlog_bytes};
  if (!options.history) return params;
  if (options.history->max_groups == 0 || options.history->max_bytes == 0) {
    return Error(Errc::invalid_argument,
                 "TrackOptions::history limits must be positive (omit history to keep none)");
  }
  params.history_max_groups = options.history->max_groups;
  params.history_max_bytes = options.history->max_bytes;
  return params;
}
}  // namespace detail

Result<TrackWriter> Announcement::create_track(std::string_view name) noexcept {
  return create_track(name, TrackOptions{});
}

Result<TrackWriter> Announcement::create_track(std::string_view name,
                                               const TrackOptions& options) noexcept {
  if (!impl_) return detail::moved_from("Announcement::create_track");
  auto params = detail::track_params(options);
  if (!params) return params.error();
  auto box = detail::checked([&](ffi::Status& status) {
    return ffi::announcement_create_track(*impl_->box, detail::as_slice(name), *params, status);
  });
  if (!box) return box.error();
  return LibraryAccess::make<TrackWriter>(std::move(box).value());
}

void Announcement::on_track_requested(Callback<void(TrackRequest)> handler) noexcept {
  if (!impl_) return;
  // The events are registered with Rust when the announcement is made; this
  // only swaps the handler. Without one, each request is refused (not_found)
  // at once. The handler it replaces (or, once the announcement has ended,
  // this one) is destroyed here, outside the lock.
  std::shared_ptr<const Callback<void(TrackRequest)>> installed;
  if (handler) installed = std::make_shared<const Callback<void(TrackRequest)>>(std::move(handler));
  std::shared_ptr<const Callback<void(TrackRequest)>> released;  // destroyed after the lock
  std::lock_guard<std::mutex> lock(impl_->core->mutex);
  if (impl_->core->released) {
    released = std::move(installed);
  } else {
    released = std::move(impl_->core->handlers.on_track_requested);
    impl_->core->handlers.on_track_requested = std::move(installed);
  }
}

namespace ffi {
TrackRequestEvents::~TrackRequestEvents() {
  const auto call = handoff_.enter();  // the body runs before the members go
  detail::AnnouncementHandlers released;  // destroyed after the lock
  std::lock_guard<std::mutex> lock(core_->mutex);
  core_->release_under_lock(released);
}

void TrackRequestEvents::on_track_requested(rust::Box<TrackRequestBox> request) const noexcept {
  const auto call = handoff_.enter();
  auto wrapped = LibraryAccess::make<TrackRequest>(std::move(request));
  std::shared_ptr<const Callback<void(TrackRequest)>> handler;
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    handler = core_->handlers.on_track_requested;
  }
  // On the announcement's strand: never after ~Announcement returned.
  if (handler) detail::call_user(*handler, std::move(wrapped));
  // Not handed over: `wrapped` is destroyed here, which refuses the request.
}
}  // namespace ffi

MOQ_DEFINE_HANDLE(TrackRequest)

std::string_view TrackRequest::name() const noexcept {
  if (!impl_) return {};
  rust::Str name = ffi::track_request_name(*impl_->box);
  return std::string_view(name.data(), name.size());
}

Result<TrackWriter> TrackRequest::accept(const TrackOptions& options) noexcept {
  if (!impl_) return detail::moved_from("TrackRequest::accept");
  auto params = detail::track_params(options);
  if (!params) return params.error();
  auto box = detail::checked([&](ffi::Status& status) {
    return ffi::track_request_accept(*impl_->box, *params, status);
  });
  if (!box) return box.error();
  return LibraryAccess::make<TrackWriter>(std::move(box).value());
}

Result<DatagramWriter> Announcement::create_datagram_track(std::string_view name) noexcept {
  if (!impl_) return detail::moved_from("Announcement::create_datagram_track");
  auto box = detail::checked([&](ffi::Status& status) {
    return ffi::announcement_create_datagram_track(*impl_->box, detail::as_slice(name), status);
  });
  if (!box) return box.error();
  return LibraryAccess::make<DatagramWriter>(std::move(box).value());
}

MOQ_DEFINE_HANDLE(DatagramWriter)

Status DatagramWriter::write(uint64_t group_id, uint64_t object_id, Bytes payload,
                             uint8_t priority) noexcept {
  if (!impl_) return detail::moved_from("DatagramWriter::write");
  return detail::to_status(ffi::datagram_write(*impl_->box, group_id, object_id, priority,
                                               std::make_unique<ffi::PayloadOwner>(std::move(payload))));
}

std::size_t DatagramWriter::max_payload() const noexcept {
  return impl_ ? ffi::datagram_max_payload(*impl_->box) : 0;
}

MOQ_DEFINE_HANDLE(TrackWriter)

Result<GroupWriter> TrackWriter::begin_group(uint8_t priority) noexcept {
  if (!impl_) return detail::moved_from("TrackWriter::begin_group");
  auto box = detail::checked([&](ffi::Status& status) {
    return ffi::track_begin_group(*impl_->box, priority, status);
  });
  if (!box) return box.error();
  return LibraryAccess::make<GroupWriter>(std::move(box).value());
}

TrackStats TrackWriter::stats() const noexcept {
  if (!impl_) return {};
  ffi::TrackCounters c = ffi::track_stats(*impl_->box);
  return TrackStats{c.groups, c.objects, c.bytes, c.backlog_bytes, c.dropped_groups};
}

Status TrackWriter::flush(std::chrono::milliseconds timeout) noexcept {
  if (!impl_) return detail::moved_from("TrackWriter::flush");
  if (timeout.count() < 0) {
    return Error(Errc::invalid_argument, "TrackWriter::flush: the timeout must not be negative");
  }
  return detail::to_status(ffi::track_flush(*impl_->box, static_cast<uint64_t>(timeout.count())));
}

Result<GroupWriter> TrackWriter::begin_subgroup(uint64_t group_id, uint64_t subgroup_id,
                                                uint8_t priority) noexcept {
  if (!impl_) return detail::moved_from("TrackWriter::begin_subgroup");
  auto box = detail::checked([&](ffi::Status& status) {
    return ffi::track_begin_subgroup(*impl_->box, group_id, subgroup_id, priority, status);
  });
  if (!box) return box.error();
  return LibraryAccess::make<GroupWriter>(std::move(box).value());
}

MOQ_DEFINE_HANDLE(GroupWriter)

Status GroupWriter::write(Bytes payload) noexcept {
  if (!impl_) return detail::moved_from("GroupWriter::write");
  if (const ffi::PayloadBox* received = detail::received_payload(payload)) {
    // Republishing a received payload: hand Rust its own buffer back, the
    // part this Bytes views (all of it, or a slice).
    const uint8_t* base = ffi::payload_data(*received).data();
    const auto offset = payload.empty() ? std::size_t{0} : static_cast<std::size_t>(payload.data() - base);
    return detail::to_status(
        ffi::group_write_received(*impl_->box, *received, offset, payload.size()));
  }
  return detail::to_status(
      ffi::group_write_shared(*impl_->box, std::make_unique<ffi::PayloadOwner>(std::move(payload))));
}

Status GroupWriter::write(Bytes payload, const ObjectOptions& options) noexcept {
  if (!impl_) return detail::moved_from("GroupWriter::write");
  return detail::to_status(ffi::group_write_object(
      *impl_->box, detail::to_ffi(options), std::make_unique<ffi::PayloadOwner>(std::move(payload))));
}

Result<ObjectWriter> GroupWriter::begin_object(std::size_t size, const ObjectOptions& options) noexcept {
  if (!impl_) return detail::moved_from("GroupWriter::begin_object");
  auto box = detail::checked([&](ffi::Status& status) {
    return ffi::group_begin_object(*impl_->box, detail::to_ffi(options), size, status);
  });
  if (!box) return box.error();
  return LibraryAccess::make<ObjectWriter>(std::move(box).value());
}

Status GroupWriter::end_group(std::optional<uint64_t> object_id) noexcept {
  if (!impl_) return detail::moved_from("GroupWriter::end_group");
  return detail::to_status(
      ffi::group_write_marker(*impl_->box, ffi::ObjectStatusKind::EndOfGroup, object_id.has_value(),
                              object_id.value_or(0)));
}

Status GroupWriter::end_track(std::optional<uint64_t> object_id) noexcept {
  if (!impl_) return detail::moved_from("GroupWriter::end_track");
  return detail::to_status(
      ffi::group_write_marker(*impl_->box, ffi::ObjectStatusKind::EndOfTrack, object_id.has_value(),
                              object_id.value_or(0)));
}

MOQ_DEFINE_HANDLE(ObjectWriter)

Status ObjectWriter::write(Bytes chunk) noexcept {
  if (!impl_) return detail::moved_from("ObjectWriter::write");
  return detail::to_status(
      ffi::object_write(*impl_->box, std::make_unique<ffi::PayloadOwner>(std::move(chunk))));
}

Status GroupWriter::finish() noexcept {
  if (!impl_) return detail::moved_from("GroupWriter::finish");
  return detail::to_status(ffi::group_finish(*impl_->box));
}

uint64_t GroupWriter::group_id() const noexcept { return impl_ ? ffi::group_id(*impl_->box) : 0; }

}  // namespace moq
