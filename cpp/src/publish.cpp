#include "impl.hpp"

namespace moq {
namespace detail {
const ffi::PayloadBox* received_payload(const Bytes& bytes) noexcept;
}

Announcement::Announcement(std::unique_ptr<detail::AnnouncementImpl> impl) noexcept
    : impl_(std::move(impl)) {}
Announcement::Announcement(Announcement&&) noexcept = default;
Announcement& Announcement::operator=(Announcement&&) noexcept = default;
Announcement::~Announcement() = default;

const Namespace& Announcement::ns() const noexcept {
  static const Namespace none = Namespace::parse("moved-from").value();
  return impl_ ? impl_->ns : none;
}

Result<TrackWriter> Announcement::create_track(std::string_view name) noexcept {
  if (!impl_) return detail::moved_from("Announcement::create_track");
  ffi::Status status = detail::new_status();
  rust::Box<ffi::TrackWriterBox> box =
      ffi::announcement_create_track(*impl_->box, detail::as_slice(name), status);
  if (status.code != ffi::Code::Ok) return detail::to_error(status);
  return TrackWriter(std::make_unique<detail::TrackWriterImpl>(detail::TrackWriterImpl{std::move(box)}));
}

Result<DatagramWriter> Announcement::create_datagram_track(std::string_view name) noexcept {
  if (!impl_) return detail::moved_from("Announcement::create_datagram_track");
  ffi::Status status = detail::new_status();
  rust::Box<ffi::DatagramWriterBox> box =
      ffi::announcement_create_datagram_track(*impl_->box, detail::as_slice(name), status);
  if (status.code != ffi::Code::Ok) return detail::to_error(status);
  return DatagramWriter(
      std::make_unique<detail::DatagramWriterImpl>(detail::DatagramWriterImpl{std::move(box)}));
}

DatagramWriter::DatagramWriter(std::unique_ptr<detail::DatagramWriterImpl> impl) noexcept
    : impl_(std::move(impl)) {}
DatagramWriter::DatagramWriter(DatagramWriter&&) noexcept = default;
DatagramWriter& DatagramWriter::operator=(DatagramWriter&&) noexcept = default;
DatagramWriter::~DatagramWriter() = default;

Status DatagramWriter::write(uint64_t group_id, uint64_t object_id, Bytes payload,
                             uint8_t priority) noexcept {
  if (!impl_) return detail::moved_from("DatagramWriter::write");
  return detail::to_status(ffi::datagram_write(*impl_->box, group_id, object_id, priority,
                                               std::make_unique<ffi::PayloadOwner>(std::move(payload))));
}

std::size_t DatagramWriter::max_payload() const noexcept {
  return impl_ ? ffi::datagram_max_payload(*impl_->box) : 0;
}

TrackWriter::TrackWriter(std::unique_ptr<detail::TrackWriterImpl> impl) noexcept
    : impl_(std::move(impl)) {}
TrackWriter::TrackWriter(TrackWriter&&) noexcept = default;
TrackWriter& TrackWriter::operator=(TrackWriter&&) noexcept = default;
TrackWriter::~TrackWriter() = default;

Result<GroupWriter> TrackWriter::begin_group(uint8_t priority) noexcept {
  if (!impl_) return detail::moved_from("TrackWriter::begin_group");
  ffi::Status status = detail::new_status();
  rust::Box<ffi::GroupWriterBox> box = ffi::track_begin_group(*impl_->box, priority, status);
  if (status.code != ffi::Code::Ok) return detail::to_error(status);
  uint64_t id = ffi::group_id(*box);
  return GroupWriter(std::make_unique<detail::GroupWriterImpl>(detail::GroupWriterImpl{std::move(box), id}));
}

GroupWriter::GroupWriter(std::unique_ptr<detail::GroupWriterImpl> impl) noexcept
    : impl_(std::move(impl)) {}
GroupWriter::GroupWriter(GroupWriter&&) noexcept = default;
GroupWriter& GroupWriter::operator=(GroupWriter&&) noexcept = default;
GroupWriter::~GroupWriter() = default;

Status GroupWriter::write(Bytes payload) noexcept {
  if (!impl_) return detail::moved_from("GroupWriter::write");
  if (const ffi::PayloadBox* received = detail::received_payload(payload)) {
    // Republishing a received payload: hand Rust its own buffer back.
    return detail::to_status(ffi::group_write_received(*impl_->box, *received));
  }
  return detail::to_status(
      ffi::group_write_shared(*impl_->box, std::make_unique<ffi::PayloadOwner>(std::move(payload))));
}

Status GroupWriter::finish() noexcept {
  if (!impl_) return detail::moved_from("GroupWriter::finish");
  return detail::to_status(ffi::group_finish(*impl_->box));
}

uint64_t GroupWriter::group_id() const noexcept { return impl_ ? impl_->group_id : 0; }

}  // namespace moq
