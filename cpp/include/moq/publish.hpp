// moq/publish.hpp — announcing a namespace and writing tracks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "moq/bytes.hpp"
#include "moq/error.hpp"
#include "moq/names.hpp"
#include "moq/object.hpp"
#include "moq/callback.hpp"

namespace moq {

class TrackWriter;
class GroupWriter;
class ObjectWriter;
class DatagramWriter;
class TrackRequest;

/// Bounds of a track's retained history; whole groups are evicted, oldest
/// first, until both hold. A group larger than max_bytes is not retained.
struct HistoryLimits {
  std::size_t max_groups = 8;
  std::size_t max_bytes = 32 * 1024 * 1024;
};

/// What a TrackWriter has published so far, and how far its subscribers
/// are behind.
struct TrackStats {
  uint64_t groups = 0;   ///< groups / subgroups begun
  uint64_t objects = 0;  ///< objects written (end markers not counted)
  uint64_t bytes = 0;    ///< payload bytes of those objects
  /// Payload bytes written and not yet handed to QUIC for the subscriber
  /// furthest behind (0 without subscribers). What the library holds for
  /// the track is about this much.
  uint64_t backlog_bytes = 0;
  /// Groups (subgroups) subscribers lost because they fell more than
  /// TrackOptions::max_backlog_bytes behind, summed over the subscribers.
  uint64_t dropped_groups = 0;
};

/// How a track is published.
struct TrackOptions {
  /// Keep the newest groups so FETCH (standalone and joining) for this track
  /// is answered from them. Empty: FETCH for the track gets not_found.
  std::optional<HistoryLimits> history;
  /// The most payload bytes one group (one subgroup) may carry; must be
  /// positive (else invalid_argument). The engine keeps every object of an
  /// open group until the group ends, for subscribers that join late, so a
  /// group that never ends would hold everything written to it: a write
  /// that would pass this fails with payload_too_large. Finish groups (one
  /// per keyframe interval, for example) rather than raising the limit.
  uint64_t max_group_bytes = 64ull * 1024 * 1024;
  /// How far one subscriber may fall behind: payload bytes written and not
  /// yet handed to QUIC for it (a slow or congested path). Past it, that
  /// subscriber loses its oldest groups, newest kept: their streams are
  /// reset (TOO_FAR_BEHIND), and TrackStats::dropped_groups
  /// counts them; other subscribers are not affected. Writes never block
  /// and never fail for it. A subscriber more than 512 groups behind loses
  /// the oldest likewise, whatever their size. A burst written faster than
  /// the path carries counts too: raise this for bulk transfers that must
  /// arrive whole. Must be positive (else invalid_argument).
  uint64_t max_backlog_bytes = 64ull * 1024 * 1024;
};

/// A namespace this session publishes (an accepted PUBLISH_NAMESPACE).
/// Destroying it withdraws the namespace. Move-only; a moved-from
/// Announcement is inert (calls return Errc::invalid_argument).
/// Any call from any thread.
class Announcement {
 public:
  Announcement(Announcement&&) noexcept;
  Announcement& operator=(Announcement&&) noexcept;
  ~Announcement();

  const Namespace& ns() const noexcept;

  /// Creates a track in this namespace; subscribers can subscribe to it as
  /// soon as this returns. Errors: invalid_argument (empty or non-UTF-8 name,
  /// too long), duplicate (a live TrackWriter has that name), closed.
  Result<TrackWriter> create_track(std::string_view name) noexcept;
  /// create_track with options (e.g. history for FETCH). Also
  /// invalid_argument for history limits or max_group_bytes of 0.
  Result<TrackWriter> create_track(std::string_view name, const TrackOptions& options) noexcept;

  /// Creates a track whose objects travel as QUIC datagrams: each object in
  /// one datagram, unreliable and unordered. Same errors as create_track,
  /// and unsupported when the peer takes no datagrams on this connection.
  Result<DatagramWriter> create_datagram_track(std::string_view name) noexcept;

  /// Tracks on demand: `handler` is called with each SUBSCRIBE for a track of
  /// this namespace that does not exist; it accepts the request (creating the
  /// track, which then serves that subscriber) or lets it go (the subscriber
  /// gets not_found). It runs on a library thread, one request at a time, and
  /// may keep the TrackRequest to answer later, within the session's
  /// request_timeout. An empty handler removes it: unknown tracks get
  /// not_found at once. When the Announcement's destructor returns, the
  /// handler is not running and will not run.
  void on_track_requested(Callback<void(TrackRequest)> handler) noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit Announcement(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// One track. Destroying it ends the track: its subscribers get their
/// terminal event as a normal end (Status ok), and later subscribers get
/// not_found. Move-only; moved-from is inert. Any call from any thread.
class TrackWriter {
 public:
  TrackWriter(TrackWriter&&) noexcept;
  TrackWriter& operator=(TrackWriter&&) noexcept;
  ~TrackWriter();

  /// Starts the next group; its id is the previous group's + 1 (the first is
  /// 0). `priority`: MoQT publisher priority, lower is more important.
  /// Errors: closed (session gone, or the track was ended with an
  /// end-of-track marker).
  Result<GroupWriter> begin_group(uint8_t priority = default_priority) noexcept;

  /// Opens subgroup `subgroup_id` of group `group_id` explicitly (its own
  /// QUIC stream), with MoQT publisher priority `priority`. Several
  /// subgroups, of one or several groups, may be open at once. The returned
  /// GroupWriter writes that subgroup. Errors: closed (session gone, or the
  /// track was ended with an end-of-track marker), or the engine's refusal to open that subgroup (e.g. one
  /// already opened), with its reason in the message.
  Result<GroupWriter> begin_subgroup(uint64_t group_id, uint64_t subgroup_id,
                                     uint8_t priority = default_priority) noexcept;

  /// Counters of what this track has published. Never fails; zeros for a
  /// moved-from TrackWriter.
  TrackStats stats() const noexcept;

  /// Blocks until every subscriber of the track was sent all the payload
  /// written to it and the peer (the relay) acknowledged every finished
  /// group, or `timeout` passes. Returns at once without subscribers. Call
  /// it before destroying the track or closing the session when the last
  /// objects must arrive: closing discards what QUIC has not delivered, and
  /// destructors do not wait. Errors: timeout (the
  /// message says how many bytes are left), closed, would_block (called from
  /// a moq callback), invalid_argument (negative timeout, moved-from).
  Status flush(std::chrono::milliseconds timeout) noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit TrackWriter(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// One group of a track, sent as one QUIC stream; objects get ids 0, 1, 2...
/// finish() (or destruction) ends the stream. Move-only; moved-from is inert.
/// Any call from any thread; calls on one GroupWriter are serialized.
class GroupWriter {
 public:
  GroupWriter(GroupWriter&&) noexcept;
  GroupWriter& operator=(GroupWriter&&) noexcept;
  ~GroupWriter();

  /// Appends one object. Never blocks and never copies `payload` (the
  /// library keeps a reference until it is sent). Errors: payload_too_large
  /// (above SessionConfig::max_object_size, or the group would pass
  /// TrackOptions::max_group_bytes; the group stays open, finish it), closed
  /// (group finished or session gone).
  Status write(Bytes payload) noexcept;
  /// Appends one object with an explicit id and/or extension headers.
  /// Also invalid_argument: an id not above the last one written, an
  /// extension whose value kind does not match its key's parity, a value
  /// above 65,535 bytes, or extensions above 1 MiB in all (what receivers of
  /// this library accept).
  Status write(Bytes payload, const ObjectOptions& options) noexcept;
  /// Starts an object of exactly `size` bytes to be written in chunks with
  /// ObjectWriter::write. Same errors as write.
  Result<ObjectWriter> begin_object(std::size_t size, const ObjectOptions& options = {}) noexcept;
  /// Writes an end-of-group marker (no payload) with the next object id, or
  /// `object_id`, and finishes the group: later writes and finish() fail with
  /// closed. Errors: closed (group finished or session gone),
  /// invalid_argument (an id not above the last one written).
  Status end_group(std::optional<uint64_t> object_id = std::nullopt) noexcept;
  /// Writes an end-of-track marker (no payload) with the next object id, or
  /// `object_id`, and finishes the group; the track it came from then refuses
  /// new groups (begin_group/begin_subgroup fail with closed). Same errors as
  /// end_group.
  Status end_track(std::optional<uint64_t> object_id = std::nullopt) noexcept;
  /// Ends the group. Later writes fail with Errc::closed.
  Status finish() noexcept;
  uint64_t group_id() const noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit GroupWriter(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// A subscriber's request for a track that does not exist (see
/// Announcement::on_track_requested). Destroying it without accept() refuses
/// it: the subscriber gets not_found. Move-only. Any thread.
class TrackRequest {
 public:
  TrackRequest(TrackRequest&&) noexcept;
  TrackRequest& operator=(TrackRequest&&) noexcept;
  ~TrackRequest();

  /// The requested track name (empty for a moved-from request).
  std::string_view name() const noexcept;
  /// Creates the track and serves the requesting subscriber from it.
  /// Errors: invalid_argument (already accepted, moved-from, history limits
  /// or max_group_bytes of 0), duplicate (a writer with that name appeared meanwhile), closed.
  Result<TrackWriter> accept(const TrackOptions& options = {}) noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit TrackRequest(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// One object written in chunks (GroupWriter::begin_object). The chunks must
/// add up to the size given; an object destroyed short is reset on the wire.
/// Move-only; moved-from is inert. Any call from any thread.
class ObjectWriter {
 public:
  ObjectWriter(ObjectWriter&&) noexcept;
  ObjectWriter& operator=(ObjectWriter&&) noexcept;
  ~ObjectWriter();

  /// Appends a chunk, without copying it. Errors: invalid_argument (the chunk
  /// overruns the object's size), closed.
  Status write(Bytes chunk) noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit ObjectWriter(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// A track sent as QUIC datagrams. Destroying it ends the track.
/// Move-only; moved-from is inert. Any call from any thread.
class DatagramWriter {
 public:
  DatagramWriter(DatagramWriter&&) noexcept;
  DatagramWriter& operator=(DatagramWriter&&) noexcept;
  ~DatagramWriter();

  /// Sends one object as one datagram. Never blocks, never copies `payload`.
  /// Datagrams may be lost, and if several are written faster than they are
  /// sent only the latest is kept. You choose the ids (e.g. one group per
  /// object). Errors: payload_too_large (above max_payload(); the message
  /// says the limit), closed (session gone).
  Status write(uint64_t group_id, uint64_t object_id, Bytes payload,
               uint8_t priority = default_priority) noexcept;
  /// The largest payload one datagram carries on this connection (bytes).
  std::size_t max_payload() const noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit DatagramWriter(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moq
