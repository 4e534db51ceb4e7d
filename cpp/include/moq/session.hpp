// moq/session.hpp — a MoQT session with a relay or peer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "moq/discovery.hpp"
#include "moq/error.hpp"
#include "moq/fetch.hpp"
#include "moq/names.hpp"
#include "moq/pending.hpp"
#include "moq/publish.hpp"
#include "moq/publish_track.hpp"
#include "moq/subscribe.hpp"
#include "moq/tls.hpp"
#include "moq/callback.hpp"

namespace moq {

/// What Session::state() reports: connected from connect() (or the answer of
/// connect_async); reconnecting while a ReconnectPolicy is connecting again
/// after the connection was lost; closed once the session has ended (its
/// terminal event, on_closed).
enum class SessionState { connected, reconnecting, closed };

/// Reconnecting after a lost connection (SessionConfig::reconnect). Off by
/// default: the session then ends with its connection.
///
/// On, the Session keeps its identity across connections. When the
/// connection is lost after connect succeeded, on_state_change reports
/// reconnecting (with the error that lost it); the session connects again to
/// the same URL with the same SessionConfig, waiting initial_delay before the
/// first attempt and doubling the wait after each failed one up to max_delay
/// (each wait drawn between half and all of it); on success it reports
/// connected and each handle restores itself on the new connection:
/// - an Announcement announces its namespace again; its TrackWriters keep
///   working throughout (what is written while no subscriber is reached is
///   not delivered; the engine keeps each open group until it ends);
/// - a Subscription (push or pull) subscribes again with its options, from
///   the group after the last one it received (nothing is delivered twice;
///   an AbsoluteRange keeps its end) and counts the gap in its stats
///   (SubscriptionStats::resumptions, gap_after_group, gap_before_group): no
///   terminal event. While the publisher is not back, it tries again as the
///   policy waits;
/// - a NamespaceWatch watches again; a namespace it reported as added is
///   not reported again (one removed during the outage is not reported);
/// - a PublishedTrack (publish_track) is offered again (PUBLISH); its
///   begin_group keeps working throughout, and the peer gets the groups
///   written from then on;
/// - the PUBLISH listener (on_publish) listens on the new connection.
/// Not restored (they end with Errc::closed, as without a policy): fetches
/// in flight, and tracks accepted from a PUBLISH (the peer offers them
/// again if it wants). Requests made while reconnecting wait for the new
/// connection, bounded by their timeout.
/// A GOAWAY from the peer moves the session (make-before-break): it connects
/// to the URI the GOAWAY names (empty: the same URL), makes that connection
/// the current one, then closes the old one, and the handles above restore
/// themselves there as after a loss; no state change is reported (the
/// session never lost its connection), on_goaway still is, and
/// SessionStats::reconnects counts the move. Later reconnects go to the new
/// URI. If the new connection cannot be made, the session stays until the
/// peer closes the old one, then reconnects as after a loss.
/// The terminal event (on_closed) comes only when the user closes the
/// session, or after max_attempts failed attempts in a row, with the last
/// attempt's error (for a relay that refuses the session: that refusal).
struct ReconnectPolicy {
  bool enabled = false;
  /// Wait before the first attempt. Above zero, at most max_delay.
  std::chrono::milliseconds initial_delay{250};
  /// Longest wait between attempts; at most a day.
  std::chrono::milliseconds max_delay{10000};
  /// Failed attempts in a row after which the session ends; 0: never.
  uint32_t max_attempts = 0;
};

/// QUIC counters of a session's connection, and what this side refused.
struct SessionStats {
  std::chrono::microseconds rtt{0};  ///< smoothed round-trip time
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t packets_sent = 0;
  uint64_t packets_received = 0;
  uint64_t packets_lost = 0;
  uint64_t bytes_lost = 0;
  /// Incoming objects refused (their stream stopped, each logged): above
  /// SessionConfig::max_object_size, or an extension block above 1 MiB.
  uint64_t objects_refused = 0;
  /// Incoming data streams this side stopped: those refused objects, and
  /// the streams of groups a subscription dropped to stay within its
  /// ReceiveBudget (so their rest is not received for nothing).
  uint64_t streams_stopped = 0;
  /// Payload bytes written for the subscribers this session serves and not
  /// yet handed to QUIC (see TrackOptions::max_backlog_bytes).
  uint64_t backlog_bytes = 0;
  /// Connections the ReconnectPolicy made after the first. The QUIC
  /// counters above are the current connection's (zero while reconnecting).
  uint64_t reconnects = 0;
};

/// One authorization token for the MoQT SETUP (draft 18 §10.3.1.4), sent as
/// an AUTHORIZATION TOKEN option with alias type USE_VALUE.
struct AuthToken {
  /// Token type ("MOQT Auth Token Type" registry). kCatTokenType (0x1) is a
  /// Common Access Token (ES256-signed CWT), what moq-relay-ietf verifies.
  uint64_t type = 0;
  /// The opaque token bytes (for CAT: the encoded CWT). Must not be empty.
  std::string value;

  static constexpr uint64_t kCatTokenType = 0x1;
  /// At most this many tokens per session (relays refuse more).
  static constexpr std::size_t kMaxTokens = 4;
  /// At most this many bytes in all token values together (SETUP size limit).
  static constexpr std::size_t kMaxTotalBytes = 60000;
};

struct SessionConfig {
  TlsConfig tls;
  /// Bound on Session::connect (QUIC + TLS + WebTransport + MoQT SETUP).
  /// A host name that resolves to several addresses has them tried in turn,
  /// each with an equal share of this bound, until one answers.
  std::chrono::milliseconds connect_timeout{10000};
  /// Bound on calls that wait for the peer's answer (announce, subscribe).
  std::chrono::milliseconds request_timeout{10000};
  /// Local address to bind, e.g. "127.0.0.1:0". Empty: any local address of
  /// the peer's address family.
  std::string bind;
  /// Largest object payload (bytes) GroupWriter::write accepts, and the
  /// largest an incoming object may declare: a larger one is refused before
  /// it is buffered (its subgroup stream is stopped, the rest of that group
  /// is lost, SessionStats::objects_refused counts it); the session goes on.
  std::size_t max_object_size = 64 * 1024 * 1024;
  /// The most payload and extension bytes one received subgroup may carry
  /// in all. The engine keeps every object of a subgroup until it ends (the
  /// delivered ones too), so a peer that never ended a group would grow this
  /// process without limit: beyond this the subgroup's stream is stopped,
  /// the objects before it are delivered, and SessionStats::objects_refused
  /// counts it. The send-side twin is TrackOptions::max_group_bytes. Must be
  /// positive (invalid_argument).
  uint64_t max_group_bytes = 64ull * 1024 * 1024;
  /// A session whose peer has sent nothing for this long is closed (QUIC
  /// idle timeout; the peer's, if shorter, wins): every handle of it then
  /// gets its terminal event (Errc::closed). It also bounds how long
  /// connect waits on a silent peer, whatever connect_timeout says. Above
  /// zero and at most a day, else invalid_argument.
  std::chrono::milliseconds idle_timeout{10000};
  /// A keep-alive is sent after this long without anything to send, so a
  /// quiet session stays open; zero sends none. Must be below idle_timeout
  /// (invalid_argument).
  std::chrono::milliseconds keep_alive_interval{4000};
  /// Subgroup streams (one per group in flight, per track) the peer may have
  /// open towards this session at once: QUIC's limit on incoming
  /// unidirectional streams. A subscriber receiving more groups at once
  /// than this gets the next one when an earlier one ends (QUIC flow
  /// control holds the relay back; nothing is lost). The QUIC stack keeps
  /// receive state for every allowed stream for the session's life, and its
  /// reassembly capacity only grows (a few hundred bytes each for small
  /// objects read promptly, up to tens of KiB for large ones), so this, not
  /// the traffic, bounds a long-lived session's memory: raise it for many
  /// tracks at once, lower it for a small footprint. (The peer's control
  /// streams come on top.) 1 to 65,536, else invalid_argument.
  uint32_t max_incoming_subgroups = 256;
  /// Authorization tokens presented in SETUP, in order. Checked before
  /// connecting: at most AuthToken::kMaxTokens, no empty value, no exact
  /// duplicate, at most AuthToken::kMaxTotalBytes in all (else
  /// Errc::invalid_argument). A relay that refuses them (or requires one and
  /// gets none) closes the session as UNAUTHORIZED: connect, or the session's
  /// terminal event if the close arrives after SETUP, reports
  /// Errc::connect_failed with a message naming authorization.
  std::vector<AuthToken> auth_tokens;
  /// Reconnecting after a lost connection; off by default. Checked by
  /// connect (invalid_argument).
  ReconnectPolicy reconnect;
};

/// The session's callbacks, given to Session::connect (so none of its
/// events can come before its callback exists). All three are optional and
/// run on the session's strand (a library thread), one at a time, in order:
/// on_state_change and on_goaway before on_closed, never after it; all are
/// released after the terminal event. The _async requests may be made from
/// them (the blocking ones return Errc::would_block there).
struct SessionHandlers {
  /// The session's single terminal event, as every handle's on_closed:
  /// success after a local close(), or the Error that ended the session (the
  /// peer closed it, the connection was lost and not regained, ...). Not
  /// called when you destroy the Session.
  Callback<void(const Status&)> on_closed;
  /// The peer's GOAWAY (MoQT §9.4), at most once: the peer is going away and
  /// asks this client to connect to `new_uri` (empty: the same URL again),
  /// move its subscriptions there, and close this session. The session keeps
  /// working until then, or until the peer closes it. With
  /// SessionConfig::reconnect on, the session moves itself (see
  /// ReconnectPolicy); without it, moving is yours: call connect_async here.
  Callback<void(std::string_view new_uri)> on_goaway;
  /// Changes of connection under a ReconnectPolicy: (reconnecting, the error
  /// that lost the connection), then (connected, success) once a new
  /// connection is up. Never sees closed: on_closed alone reports the end.
  Callback<void(SessionState state, const Status& cause)> on_state_change;
};

/// One MoQT session (draft 18) with a relay or peer, over WebTransport
/// (`https://host:port/path`) or raw QUIC (`moqt://host:port/path`; port
/// defaults to 443).
///
/// Ownership: move-only RAII. Destroying a connected Session closes it
/// gracefully (never waits on the network). A moved-from Session is inert:
/// its calls return Errc::invalid_argument. Handles made from a session
/// (Announcement, Subscription, ...) may outlive it; they then report
/// Errc::closed.
///
/// Threads: every call may come from any thread. connect, announce and
/// subscribe block until the peer answers (bounded by the timeouts in
/// SessionConfig); made from a moq callback they return Errc::would_block.
/// Every call that waits for the peer has a non-blocking form (the same name
/// with _async): it returns a Pending at once and may be called anywhere,
/// callbacks included.
class Session {
 public:
  /// Connects and completes MoQT SETUP. Blocks up to config.connect_timeout.
  /// `handlers` receive the session's events from then on (a session that
  /// fails to connect reports its Error here, not to on_closed).
  /// Errors: invalid_url, invalid_argument, tls, connect_failed, timeout,
  /// would_block.
  static Result<Session> connect(std::string_view url, const SessionConfig& config = {},
                                 SessionHandlers handlers = {}) noexcept;

  /// connect without blocking: the Pending answers with the Session or with
  /// connect's errors (would_block aside). See moq/pending.hpp. Destroying
  /// the Pending before its answer is taken destroys `handlers` unused.
  static Pending<Session> connect_async(std::string_view url, const SessionConfig& config = {},
                                        SessionHandlers handlers = {}) noexcept;

  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();

  /// connected until the session ends, then closed. A moved-from Session is closed.
  SessionState state() const noexcept;

  /// Closes the session: the peer sees a graceful close with `code` and
  /// `reason` (UTF-8, at most 1024 bytes). Never blocks. Errors: closed if
  /// already closed, invalid_argument for a bad reason or code > 2^32-1.
  Status close(uint64_t code = 0, std::string_view reason = {}) noexcept;

  /// QUIC statistics of the session's connection. Never blocks; works on a
  /// closed session too (final counters). Errors: invalid_argument (moved-from).
  Result<SessionStats> stats() const noexcept;

  /// Blocks until every subscriber this session serves was sent all the
  /// payload written for it and the peer acknowledged every finished group,
  /// or `timeout` passes: call it before close() when what was written last
  /// must arrive (closing discards what QUIC has not delivered). Errors: timeout (with
  /// the bytes left), closed, would_block (called from a moq callback),
  /// invalid_argument (negative timeout, moved-from).
  Status flush(std::chrono::milliseconds timeout) noexcept;

  /// TRACK_STATUS is not available: the engine (moq-transport 0.17) sends the
  /// request but never delivers the reply. Always returns Errc::unsupported
  /// (or invalid_argument / closed for bad input or a closed session) rather
  /// than waiting for an answer that cannot come. To learn a track's largest
  /// location, subscribe with SubscribeFilter::latest_object().
  Status track_status(const Namespace& ns, std::string_view track) noexcept;

  /// Announces `ns` (PUBLISH_NAMESPACE) and waits for the peer's OK.
  /// `on_track_requested` (optional) serves SUBSCRIBEs for tracks of `ns`
  /// that do not exist; see Announcement::on_track_requested.
  /// Errors: closed, timeout, would_block, duplicate, protocol.
  Result<Announcement> announce(const Namespace& ns,
                                Callback<void(TrackRequest)> on_track_requested = {}) noexcept;

  /// announce without blocking: the Pending answers with the Announcement or
  /// with announce's errors (would_block aside). `on_track_requested` is in
  /// place from the moment `ns` is announced, so it may run before the answer
  /// is taken. Destroying the Pending before that withdraws `ns` and destroys
  /// the handler.
  Pending<Announcement> announce_async(const Namespace& ns,
                                       Callback<void(TrackRequest)> on_track_requested = {}) noexcept;

  /// Subscribes to `track` in `ns` and waits for the publisher's answer.
  /// Push mode: `handlers.on_object` (a lambda alone will do) is called for
  /// every object, on a library thread, one call at a time, in arrival order
  /// (objects of one group in order); it may take the object (see
  /// ObjectCallback). `handlers.on_closed` reports the end (see
  /// ObjectHandlers).
  /// Errors: not_found (nobody publishes the track), duplicate (this session
  /// already subscribes to it), invalid_argument, closed, timeout, would_block.
  Result<Subscription> subscribe(const Namespace& ns, std::string_view track,
                                 ObjectHandlers handlers,
                                 SubscribeOptions options = {}) noexcept;

  /// Pull mode: objects queue inside the Subscription; take them with
  /// Subscription::try_next or Subscription::next.
  Result<Subscription> subscribe(const Namespace& ns, std::string_view track,
                                 SubscribeOptions options = {}) noexcept;

  /// subscribe without blocking (push mode): the Pending answers with the
  /// Subscription or with subscribe's errors (would_block aside). Objects
  /// (and the end) may reach the handlers before the Pending's answer is
  /// taken. Destroying the Pending before that unsubscribes, and destroys
  /// the handlers.
  Pending<Subscription> subscribe_async(const Namespace& ns, std::string_view track,
                                        ObjectHandlers handlers,
                                        SubscribeOptions options = {}) noexcept;

  /// subscribe without blocking, pull mode.
  Pending<Subscription> subscribe_async(const Namespace& ns, std::string_view track,
                                        SubscribeOptions options = {}) noexcept;

  /// Watches the namespaces under `prefix` (SUBSCRIBE_NAMESPACE, see
  /// moq/discovery.hpp) and waits for the peer's answer. The handlers (an
  /// on_added lambda alone will do) get every namespace under the prefix,
  /// also those that exist when the watch starts; see NamespaceHandlers. The
  /// returned NamespaceWatch owns them; destroy it to stop.
  /// Errors: invalid_argument (empty on_added, moved-from), duplicate (this
  /// session already watches a prefix that overlaps this one: one is a prefix
  /// of the other), unsupported / not_found / closed (the peer refused),
  /// closed (session ended), timeout, would_block (called from a moq callback).
  Result<NamespaceWatch> subscribe_namespace(const Namespace& prefix,
                                             NamespaceHandlers handlers) noexcept;

  /// subscribe_namespace without blocking: the Pending answers with the
  /// NamespaceWatch or with subscribe_namespace's errors (would_block aside).
  /// on_added may run before the answer is taken. Destroying the Pending
  /// before that ends the watch and destroys the handlers.
  Pending<NamespaceWatch> subscribe_namespace_async(const Namespace& prefix,
                                                    NamespaceHandlers handlers) noexcept;

  /// Offers the track `name` in `ns` to the peer with PUBLISH (no announce()
  /// needed) and waits for its answer. See moq/publish_track.hpp.
  /// Errors: invalid_argument (empty, non-UTF-8 or too long name; moved-from),
  /// duplicate (this session already publishes the track, or the peer already
  /// has a publisher for it), unsupported (the peer does not support
  /// PUBLISH), closed (the peer refused it, or the session ended), timeout,
  /// would_block (called from a moq callback).
  Result<PublishedTrack> publish_track(const Namespace& ns, std::string_view name) noexcept;

  /// publish_track without blocking: the Pending answers with the
  /// PublishedTrack or with publish_track's errors (would_block aside).
  Pending<PublishedTrack> publish_track_async(const Namespace& ns, std::string_view name) noexcept;

  /// Installs the handler for tracks the peer offers with PUBLISH (see
  /// moq/publish_track.hpp): `on_offer` accepts or rejects each one. Never
  /// blocks. One listener per session. The returned PublishListener owns the
  /// handler and every accepted track's callbacks; destroy it to stop.
  /// Note: moq-relay-ietf 0.8 never sends PUBLISH to a client of this
  /// library (only in answer to SUBSCRIBE_TRACKS, which this library cannot
  /// send), so through that relay the handler is never called; a direct peer
  /// that sends PUBLISH does reach it.
  /// Errors: invalid_argument (empty on_offer, moved-from), duplicate (this
  /// session already has a live PublishListener), closed (session ended).
  Result<PublishListener> on_publish(PublishOfferHandler on_offer) noexcept;

  /// Standalone FETCH of `range` of `track` in `ns` (see moq/fetch.hpp):
  /// blocks until the publisher answers (FETCH_OK or an error, bounded by
  /// SessionConfig::request_timeout). Then `handlers.on_object` (a lambda
  /// alone will do) is called for every object of the response, on a
  /// library thread, one call at a time, in order (ascending groups,
  /// ascending objects), and `handlers.on_closed` once at the end (ok = the
  /// response was complete). The publisher may answer with less than asked
  /// (what it retains): Fetch::end_group / end_object say where the response
  /// ends. The returned Fetch owns the handlers; destroy it to cancel.
  /// Errors: invalid_argument (empty callback or track name, a range whose
  /// end precedes its start, bad namespace, moved-from), not_found (nobody
  /// publishes the track, it keeps no history, or none of the range is
  /// retained: evicted or not published yet), unsupported (the publisher
  /// does not answer FETCH), closed (session ended), timeout, would_block
  /// (called from a moq callback).
  Result<Fetch> fetch(const Namespace& ns, std::string_view track, FetchRange range,
                      ObjectHandlers handlers) noexcept;

  /// fetch without blocking: the Pending answers with the Fetch or with
  /// fetch's errors (would_block aside). Objects may reach the handlers
  /// before the answer is taken. Destroying the Pending before that cancels
  /// the fetch and destroys the handlers.
  Pending<Fetch> fetch_async(const Namespace& ns, std::string_view track, FetchRange range,
                             ObjectHandlers handlers) noexcept;

  /// Joining FETCH (draft 18 §10.12.2): the history just before what the
  /// live `subscription` (of this session) delivers: the `groups_before`
  /// groups before the group of its joining location, plus that group from
  /// its first object up to and including the joining location (0 = only
  /// the joining group). The joining location is the largest object the
  /// publisher (the relay) had when it accepted the SUBSCRIBE; the returned
  /// Fetch reports it as end_group() / end_object(), so live objects at or
  /// before it can be dropped as duplicates. Keep the subscription alive
  /// until the fetch has ended. Blocking, delivery, ownership: as fetch().
  /// Note (moq-relay-ietf 0.8): a SUBSCRIBE the relay accepted while it was
  /// not yet forwarding the track has no joining location and cannot be
  /// joined (not_found): subscribe again once objects flow.
  /// Errors: invalid_argument (empty callback, moved-from session or
  /// subscription, a subscription of another session), not_found (no
  /// joining location, groups_before reaches before group 0, history not
  /// retained), closed (the subscription or session ended), unsupported,
  /// timeout, would_block (called from a moq callback).
  Result<Fetch> joining_fetch(const Subscription& subscription, uint64_t groups_before,
                              ObjectHandlers handlers) noexcept;

  /// joining_fetch without blocking, as fetch_async.
  Pending<Fetch> joining_fetch_async(const Subscription& subscription, uint64_t groups_before,
                                     ObjectHandlers handlers) noexcept;

 private:
  struct Impl;                  // the library's state behind the handle
  friend struct LibraryAccess;  // how the library makes handles and reaches their state
  explicit Session(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// Defined in the library for these answers only.
extern template class Pending<Session>;
extern template class Pending<Announcement>;
extern template class Pending<Subscription>;
extern template class Pending<NamespaceWatch>;
extern template class Pending<PublishedTrack>;
extern template class Pending<Fetch>;

}  // namespace moq
