// moq/publish_track.hpp — publisher-initiated subscriptions (PUBLISH, draft 18
// §10.10): offering one track to the peer without announcing a namespace
// (Session::publish_track), and accepting the tracks the peer offers
// (Session::on_publish).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "moq/error.hpp"
#include "moq/names.hpp"
#include "moq/publish.hpp"
#include "moq/subscribe.hpp"
#include "moq/callback.hpp"

namespace moq {

/// One track offered to the peer with PUBLISH and accepted by it, made by
/// Session::publish_track. Write groups with begin_group(); they are sent
/// like a TrackWriter's. A relay (moq-relay-ietf) serves other sessions'
/// SUBSCRIBEs to the track from it. Under a reconnect policy
/// (SessionConfig::reconnect) it is offered again on each new connection.
///
/// Ownership: move-only RAII. Destroying it ends the track: the peer gets
/// PUBLISH_DONE after the objects already written, and a relay passes that on
/// to subscribers as a normal end (Status ok). Never waits on the network. A
/// moved-from PublishedTrack is inert (calls return Errc::invalid_argument).
/// Any call from any thread.
class PublishedTrack {
 public:
  PublishedTrack(PublishedTrack&&) noexcept;
  PublishedTrack& operator=(PublishedTrack&&) noexcept;
  PublishedTrack(const PublishedTrack&) = delete;
  PublishedTrack& operator=(const PublishedTrack&) = delete;
  ~PublishedTrack();

  /// The track's namespace (a moved-from handle returns the placeholder
  /// namespace "moved-from").
  const Namespace& ns() const noexcept;
  /// The track's name (empty for a moved-from handle).
  std::string_view name() const noexcept;

  /// Starts the next group as one subgroup stream; its id is the previous
  /// group's + 1 (the first is 0). `priority`: MoQT publisher priority, lower
  /// is more important. Never blocks. Errors: closed (the session ended, or
  /// the peer stopped receiving the track), invalid_argument (moved-from).
  Result<GroupWriter> begin_group(uint8_t priority = default_priority) noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit PublishedTrack(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// How to receive one track the peer offered with PUBLISH: return it from
/// the PublishOfferHandler to accept the track. on_object gets every object
/// exactly as a push Subscription's does (different accepted tracks'
/// callbacks may run at the same time on different threads); it is required:
/// an AcceptedTrack without it is a rejection (logged). on_closed (optional)
/// gets the track's single terminal event: ok when the publisher ended the
/// track normally (PUBLISH_DONE), an Error otherwise (Errc::closed when the
/// session ended or the publisher's request was lost); not called when the
/// PublishListener is destroyed first.
using AcceptedTrack = ObjectHandlers;

/// Decides about one PUBLISH from the peer: `ns` and `track` name the offered
/// track. Return an AcceptedTrack to accept it (the peer gets REQUEST_OK),
/// std::nullopt to reject it (REQUEST_ERROR). Runs on a library thread, one
/// offer at a time, in arrival order; it should return quickly (blocking
/// calls such as Session::subscribe return Errc::would_block there). An
/// exception escaping it is caught, logged, and rejects the track.
using PublishOfferHandler =
    Callback<std::optional<AcceptedTrack>(const Namespace& ns, std::string_view track)>;

/// The session's listener for PUBLISH requests from the peer, made by
/// Session::on_publish. One per session.
///
/// Which peers send PUBLISH: moq-relay-ietf 0.8 never sends it to a client of
/// this library (it does only in answer to SUBSCRIBE_TRACKS, which this
/// library cannot send), so behind that relay the handler is never called. A
/// peer that offers tracks with PUBLISH directly does reach it.
///
/// Ownership: move-only RAII. Destroying it stops accepting PUBLISHes (later
/// ones wait unanswered in the session until a new listener is installed)
/// and stops the delivery of every track it accepted: when the destructor
/// returns, neither the offer handler nor any accepted track's callback is
/// running or will run (if it runs inside one of them: none after that
/// callback returns), and the accepted tracks get no on_closed. It never
/// waits on the network. Delivery stops locally only: moq-transport has no
/// way to unsubscribe from an accepted PUBLISH, so the peer keeps sending
/// until it ends the track or the session closes. A moved-from
/// PublishListener is inert. Any call from any thread.
class PublishListener {
 public:
  PublishListener(PublishListener&&) noexcept;
  PublishListener& operator=(PublishListener&&) noexcept;
  PublishListener(const PublishListener&) = delete;
  PublishListener& operator=(const PublishListener&) = delete;
  ~PublishListener();

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit PublishListener(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moq
