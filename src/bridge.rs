//! The one cxx bridge. It only converts between C++ and the engine modules and
//! dispatches; every entry catches panics and reports them as `Code::Internal`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cxx::{CxxString, CxxVector, UniquePtr};

use crate::discovery::{NamespaceHandler, NamespaceWatch};
use crate::error::{Code, Error, Result};
use crate::fetch::{Fetch, FetchRange};
use crate::history::HistoryLimits;
use crate::inbox::{Overflow, ReceiveBudget};
use crate::names::Namespace;
use crate::object::{Extension, ExtensionValue, Status as ObjectStatus};
use crate::pending::Pending;
use crate::publish::{
    Announcement, DatagramWriter, GroupWriter, ObjectWriter, TrackOptions, TrackRequest,
    TrackWriter,
};
use crate::publish_track::{PublishHandler, PublishListener, PublishedTrack};
use crate::session::{Session, SessionConfig};
use crate::subscribe::{
    Filter, GroupOrder, ObjectHandler, ReceivedObject, SubscribeOptions, Subscription,
};
use crate::tls::TlsOptions;
use crate::{bytes as shared_bytes, log, runtime};

#[cxx::bridge(namespace = "moq::ffi")]
mod ffi {
    /// Same order as `moq::Errc`, after `Ok`.
    #[repr(u8)]
    enum Code {
        Ok = 0,
        InvalidArgument,
        InvalidUrl,
        Tls,
        ConnectFailed,
        Timeout,
        NotConnected,
        Closed,
        NotFound,
        Duplicate,
        Unsupported,
        PayloadTooLarge,
        Protocol,
        Cancelled,
        WouldBlock,
        Internal,
        Lagging,
        EndOfTrack,
    }

    /// Never a `Result` across the bridge: it would make cxx generate `throw`.
    struct Status {
        code: Code,
        message: String,
    }

    struct ConnectOptions {
        url: String,
        root_cert_files: Vec<String>,
        server_cert_sha256: Vec<String>,
        disable_verify: bool,
        connect_timeout_ms: u64,
        request_timeout_ms: u64,
        bind: String,
        max_object_size: u64,
        max_group_bytes: u64,
        idle_timeout_ms: u64,
        /// 0: no keep-alives.
        keep_alive_interval_ms: u64,
        max_incoming_subgroups: u32,
        /// `moq::SessionConfig::auth_tokens`, sent in SETUP.
        auth_tokens: Vec<AuthTokenFfi>,
        /// `moq::ReconnectPolicy`.
        reconnect: ReconnectParams,
    }

    /// `moq::ReconnectPolicy`.
    struct ReconnectParams {
        enabled: bool,
        initial_delay_ms: u64,
        max_delay_ms: u64,
        max_attempts: u32,
    }

    /// `moq::SessionState`.
    enum SessionStateKind {
        Connected,
        Reconnecting,
        Closed,
    }

    /// `moq::AuthToken`: one AUTHORIZATION TOKEN (type, opaque value).
    struct AuthTokenFfi {
        token_type: u64,
        value: Vec<u8>,
    }

    /// `moq::Overflow`: what a full receive budget does (inbox.rs).
    enum Overflow {
        DropOldestGroups,
        EndWithLag,
        Pause,
    }

    /// `moq::SubscribeFilter::Type`.
    enum FilterKind {
        LatestObject,
        NextGroup,
        AbsoluteStart,
        AbsoluteRange,
    }

    /// `moq::GroupOrder`.
    enum GroupOrderKind {
        Publisher,
        Ascending,
        Descending,
    }

    /// `moq::ObjectStatus`: a received object's, or the marker a publisher writes.
    enum ObjectStatusKind {
        Normal,
        EndOfGroup,
        EndOfTrack,
    }

    /// `moq::LogLevel`.
    enum LogLevelKind {
        Debug,
        Info,
        Warn,
        Error,
    }

    /// `moq::SubscribeOptions`; see subscribe.rs for the meaning.
    struct SubscribeParams {
        filter: FilterKind,
        start_group: u64,
        start_object: u64,
        end_group: u64,
        group_order: GroupOrderKind,
        forward: bool,
        priority: u8,
        /// 0 = none.
        delivery_timeout_ms: u64,
        /// 0 = none.
        rendezvous_timeout_ms: u64,
        /// Objects wait for `subscription_next` instead of a callback.
        pull: bool,
        max_queued_bytes: u64,
        max_queued_objects: u64,
        overflow: Overflow,
        /// With ascending group order (reorder.rs).
        reorder_window_ms: u64,
    }

    /// `moq::SubscriptionStats`.
    struct SubscriptionCounters {
        objects: u64,
        bytes: u64,
        chunks: u64,
        dropped_groups: u64,
        dropped_objects: u64,
        streams_reset: u64,
        skipped_groups: u64,
        resumptions: u64,
        /// u64::MAX: none.
        gap_after_group: u64,
        /// u64::MAX: none (yet).
        gap_before_group: u64,
    }

    struct ObjectHeader {
        group_id: u64,
        subgroup_id: u64,
        object_id: u64,
        priority: u8,
        datagram: bool,
        status: ObjectStatusKind,
        extensions: Vec<ObjectExtension>,
        /// Pieces the payload arrived in (`ReceivedObject::chunks`).
        chunks: u32,
    }

    /// `moq::Extension`: even keys carry `number`, odd keys `bytes`.
    struct ObjectExtension {
        key: u64,
        number: u64,
        bytes: Vec<u8>,
    }

    /// Where the next object goes and what it carries (`moq::ObjectOptions`).
    struct ObjectParams {
        has_object_id: bool,
        object_id: u64,
        extensions: Vec<ObjectExtension>,
    }

    /// `moq::TrackStats`.
    struct TrackCounters {
        groups: u64,
        objects: u64,
        bytes: u64,
        backlog_bytes: u64,
        dropped_groups: u64,
    }

    /// `moq::TrackOptions` (`history_max_groups` 0 = no history).
    struct TrackParams {
        history_max_groups: u64,
        history_max_bytes: u64,
        max_group_bytes: u64,
        max_backlog_bytes: u64,
    }

    /// `moq::SessionStats`.
    struct SessionCounters {
        rtt_us: u64,
        bytes_sent: u64,
        bytes_received: u64,
        packets_sent: u64,
        packets_received: u64,
        packets_lost: u64,
        bytes_lost: u64,
        objects_refused: u64,
        streams_stopped: u64,
        backlog_bytes: u64,
        reconnects: u64,
    }

    extern "Rust" {
        type SessionBox;
        type AnnouncementBox;
        type TrackWriterBox;
        type GroupWriterBox;
        type ObjectWriterBox;
        type DatagramWriterBox;
        type SubscriptionBox;
        type PayloadBox;

        fn namespace_parse(path: &[u8], status: &mut Status) -> Vec<String>;
        fn namespace_check(parts: &CxxVector<CxxString>) -> Status;
        /// Copies bytes into a Rust Vec in one call (rust::Vec::push_back
        /// crosses the bridge per byte).
        fn bytes_to_vec(bytes: &[u8]) -> Vec<u8>;

        fn session_state(session: &SessionBox) -> SessionStateKind;
        fn session_close(session: &SessionBox, code: u64, reason: &[u8]) -> Status;
        fn session_stats(session: &SessionBox, status: &mut Status) -> SessionCounters;
        fn session_flush(session: &SessionBox, timeout_ms: u64) -> Status;
        fn session_track_status(
            session: &SessionBox,
            ns: &CxxVector<CxxString>,
            track: &[u8],
        ) -> Status;
        /// Pull mode: the next object (status Ok). `poll`: only if one is
        /// queued now (never blocks); otherwise waits up to `wait_ms`
        /// (`forever`: without end). Otherwise status Timeout (nothing came),
        /// Closed / Lagging (ended), WouldBlock, InvalidArgument.
        fn subscription_next(
            subscription: &SubscriptionBox,
            poll: bool,
            wait_ms: u64,
            forever: bool,
            header: &mut ObjectHeader,
            status: &mut Status,
        ) -> Box<PayloadBox>;
        fn subscription_stats(subscription: &SubscriptionBox) -> SubscriptionCounters;

        fn announcement_create_track(
            announcement: &AnnouncementBox,
            name: &[u8],
            options: &TrackParams,
            status: &mut Status,
        ) -> Box<TrackWriterBox>;
        fn announcement_create_datagram_track(
            announcement: &AnnouncementBox,
            name: &[u8],
            status: &mut Status,
        ) -> Box<DatagramWriterBox>;
        fn datagram_max_payload(writer: &DatagramWriterBox) -> usize;
        fn datagram_write(
            writer: &DatagramWriterBox,
            group_id: u64,
            object_id: u64,
            priority: u8,
            payload: UniquePtr<PayloadOwner>,
        ) -> Status;
        fn track_begin_group(
            track: &TrackWriterBox,
            priority: u8,
            status: &mut Status,
        ) -> Box<GroupWriterBox>;
        fn group_id(group: &GroupWriterBox) -> u64;
        fn track_stats(track: &TrackWriterBox) -> TrackCounters;
        fn track_flush(track: &TrackWriterBox, timeout_ms: u64) -> Status;
        fn group_write_shared(group: &GroupWriterBox, payload: UniquePtr<PayloadOwner>) -> Status;
        /// Writes bytes `offset..offset + len` of a received payload (a view
        /// of it, as a C++ `moq::Bytes` may be), without a copy.
        fn group_write_received(
            group: &GroupWriterBox,
            payload: &PayloadBox,
            offset: usize,
            len: usize,
        ) -> Status;
        fn group_finish(group: &GroupWriterBox) -> Status;
        fn track_begin_subgroup(
            track: &TrackWriterBox,
            group_id: u64,
            subgroup_id: u64,
            priority: u8,
            status: &mut Status,
        ) -> Box<GroupWriterBox>;
        fn group_write_object(
            group: &GroupWriterBox,
            params: &ObjectParams,
            payload: UniquePtr<PayloadOwner>,
        ) -> Status;
        fn group_begin_object(
            group: &GroupWriterBox,
            params: &ObjectParams,
            size: u64,
            status: &mut Status,
        ) -> Box<ObjectWriterBox>;
        /// `kind`: EndOfGroup or EndOfTrack.
        fn group_write_marker(
            group: &GroupWriterBox,
            kind: ObjectStatusKind,
            has_object_id: bool,
            object_id: u64,
        ) -> Status;
        fn object_write(object: &ObjectWriterBox, chunk: UniquePtr<PayloadOwner>) -> Status;

        fn payload_data(payload: &PayloadBox) -> &[u8];

        fn on_runtime_thread() -> bool;
        fn log_forward_to_cpp(enabled: bool);
        /// `moq::set_log_level`.
        fn log_set_level(level: LogLevelKind);
        /// `moq::shutdown`: closes open sessions, waits for the runtime's work.
        fn runtime_shutdown(timeout_ms: u64) -> Status;
        /// `moq::configure_runtime`: thread counts, before first use.
        fn runtime_configure(
            io_threads: u64,
            callback_threads: u64,
            max_callback_threads: u64,
        ) -> Status;

        /// Test-only (feature `test-hooks`): a bridge entry that panics.
        #[cfg(feature = "test-hooks")]
        fn test_hook_panic() -> Status;
        /// Test-only (feature `test-hooks`): `host` resolves to `addrs`
        /// ("IP:port" each; none: the real resolver again).
        #[cfg(feature = "test-hooks")]
        fn test_hook_override_resolver(host: &str, addrs: Vec<String>) -> Status;
    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        /// Receives a session's terminal event.
        type SessionEvents;
        /// Receives a subscription's objects and terminal event.
        type SubscriptionEvents;
        /// Keeps a C++ `moq::Bytes` alive while Rust sends it.
        type PayloadOwner;

        fn on_closed(self: &SessionEvents, status: &Status);
        fn on_goaway(self: &SessionEvents, new_uri: &str);
        fn on_state_change(self: &SessionEvents, state: SessionStateKind, status: &Status);
        fn on_object(self: &SubscriptionEvents, header: &ObjectHeader, payload: Box<PayloadBox>);
        fn on_closed(self: &SubscriptionEvents, status: &Status);
        fn data(self: &PayloadOwner) -> &[u8];
        fn log_message(level: LogLevelKind, message: &str);
    }

    // ---------------------------------------------------------- namespace discovery
    // SUBSCRIBE_NAMESPACE (discovery.rs): cpp/include/moq/discovery.hpp.

    extern "Rust" {
        type NamespaceWatchBox;

    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        /// Receives a namespace watch's events and terminal event.
        type NamespaceEvents;

        fn on_added(self: &NamespaceEvents, ns: Vec<String>);
        fn on_removed(self: &NamespaceEvents, ns: Vec<String>);
        fn on_closed(self: &NamespaceEvents, status: &Status);
    }

    // ---------------------------------------------------------- single-track PUBLISH
    // PUBLISH sent and received (publish_track.rs): cpp/include/moq/publish_track.hpp.

    extern "Rust" {
        type PublishedTrackBox;
        type PublishListenerBox;

        fn published_track_begin_group(
            track: &PublishedTrackBox,
            priority: u8,
            status: &mut Status,
        ) -> Box<GroupWriterBox>;
        fn session_on_publish(
            session: &SessionBox,
            events: UniquePtr<PublishEvents>,
            status: &mut Status,
        ) -> Box<PublishListenerBox>;
    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        /// Decides about the peer's PUBLISHes; an accepted track's objects go
        /// to the `SubscriptionEvents` it returns (null = reject).
        type PublishEvents;

        fn on_publish(
            self: &PublishEvents,
            ns: Vec<String>,
            track: &str,
        ) -> UniquePtr<SubscriptionEvents>;
    }

    // ---------------------------------------------------------- FETCH
    // Standalone and joining FETCH (fetch.rs): cpp/include/moq/fetch.hpp. The
    // objects and the terminal event go to a `SubscriptionEvents`, like a
    // subscription's.

    /// `moq::FetchRange`: both ends inclusive; `has_end_object` false = the
    /// whole end group.
    struct FetchParams {
        start_group: u64,
        start_object: u64,
        end_group: u64,
        has_end_object: bool,
        end_object: u64,
    }

    /// Where the publisher's response ends (from FETCH_OK), inclusive;
    /// `has_end_object` false = the whole end group.
    struct FetchEnd {
        end_group: u64,
        has_end_object: bool,
        end_object: u64,
        end_of_track: bool,
    }

    extern "Rust" {
        type FetchBox;

        fn fetch_end(fetch: &FetchBox) -> FetchEnd;
    }

    // Tracks on demand (publish.rs `TrackRequest`).
    extern "Rust" {
        type TrackRequestBox;

        /// Null `events` removes the handler.
        fn announcement_on_track_requested(
            announcement: &AnnouncementBox,
            events: UniquePtr<TrackRequestEvents>,
        ) -> Status;
        fn track_request_name(request: &TrackRequestBox) -> &str;
        fn track_request_accept(
            request: &TrackRequestBox,
            options: &TrackParams,
            status: &mut Status,
        ) -> Box<TrackWriterBox>;
    }

    unsafe extern "C++" {
        /// Receives requests for tracks that do not exist.
        type TrackRequestEvents;
        fn on_track_requested(self: &TrackRequestEvents, request: Box<TrackRequestBox>);
    }

    // ---------------------------------------------------------- requests in flight
    // The non-blocking forms of connect, announce and subscribe (pending.rs):
    // cpp/include/moq/pending.hpp. A request's answer crosses as a
    // `PendingResult`, which C++ turns into the handle it waited for.

    extern "Rust" {
        type PendingBox;
        type PendingResult;

        fn session_connect_async(
            options: &ConnectOptions,
            events: UniquePtr<SessionEvents>,
        ) -> Box<PendingBox>;
        fn session_announce_async(
            session: &SessionBox,
            ns: &CxxVector<CxxString>,
        ) -> Box<PendingBox>;
        fn session_subscribe_async(
            session: &SessionBox,
            ns: &CxxVector<CxxString>,
            track: &[u8],
            params: &SubscribeParams,
            events: UniquePtr<SubscriptionEvents>,
        ) -> Box<PendingBox>;
        fn session_subscribe_namespace_async(
            session: &SessionBox,
            prefix: &CxxVector<CxxString>,
            events: UniquePtr<NamespaceEvents>,
        ) -> Box<PendingBox>;
        fn session_publish_track_async(
            session: &SessionBox,
            ns: &CxxVector<CxxString>,
            name: &[u8],
        ) -> Box<PendingBox>;
        fn session_fetch_async(
            session: &SessionBox,
            ns: &CxxVector<CxxString>,
            track: &[u8],
            range: &FetchParams,
            events: UniquePtr<SubscriptionEvents>,
        ) -> Box<PendingBox>;
        fn session_joining_fetch_async(
            session: &SessionBox,
            subscription: &SubscriptionBox,
            groups_before: u64,
            events: UniquePtr<SubscriptionEvents>,
        ) -> Box<PendingBox>;
        /// A request refused before it started, as InvalidArgument (C++
        /// checks some input itself: a moved-from handle, bad options).
        fn pending_invalid(message: &str) -> Box<PendingBox>;
        /// The answer, waiting up to `wait_ms` (`forever`: without end). The
        /// status is the request's error, or Timeout (no answer yet),
        /// WouldBlock, InvalidArgument (taken, or goes to a completion).
        fn pending_wait(
            pending: &PendingBox,
            wait_ms: u64,
            forever: bool,
            status: &mut Status,
        ) -> Box<PendingResult>;
        /// Hands the answer to `ready` on the request's strand.
        fn pending_then(pending: &PendingBox, ready: UniquePtr<PendingReady>) -> Status;
        fn pending_is_answered(pending: &PendingBox) -> bool;
        fn pending_result_session(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<SessionBox>;
        fn pending_result_announcement(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<AnnouncementBox>;
        fn pending_result_subscription(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<SubscriptionBox>;
        fn pending_result_namespace_watch(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<NamespaceWatchBox>;
        fn pending_result_published_track(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<PublishedTrackBox>;
        fn pending_result_fetch(result: Box<PendingResult>, status: &mut Status) -> Box<FetchBox>;
    }

    unsafe extern "C++" {
        /// Receives a request's answer (on the request's strand).
        type PendingReady;
        fn on_ready(self: &PendingReady, result: Box<PendingResult>);
    }
}

// SAFETY: the C++ types guard their own state with a mutex (SessionEvents,
// SubscriptionEvents) or are immutable after construction (PayloadOwner holds a
// const buffer through a shared_ptr with an atomic count): safe to move to and
// use from runtime threads.
unsafe impl Send for ffi::SessionEvents {}
unsafe impl Sync for ffi::SessionEvents {}
unsafe impl Send for ffi::SubscriptionEvents {}
unsafe impl Sync for ffi::SubscriptionEvents {}
unsafe impl Send for ffi::PayloadOwner {}
unsafe impl Sync for ffi::PayloadOwner {}

// C++ may use one handle from several threads at once: the boxed engine types
// must be Send + Sync. Checked here so a future change cannot silently break it.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Session>();
    send_sync::<Announcement>();
    send_sync::<TrackWriter>();
    send_sync::<GroupWriter>();
    send_sync::<ObjectWriter>();
    send_sync::<DatagramWriter>();
    send_sync::<Subscription>();
    send_sync::<bytes::Bytes>();
};

pub struct SessionBox(Option<Session>);
pub struct AnnouncementBox(Option<Announcement>);
pub struct TrackWriterBox(Option<TrackWriter>);
pub struct GroupWriterBox(Option<GroupWriter>);
pub struct ObjectWriterBox(Option<ObjectWriter>);
pub struct DatagramWriterBox(Option<DatagramWriter>);
pub struct SubscriptionBox(Option<Subscription>);
pub struct PayloadBox(bytes::Bytes);

fn code_of(code: Code) -> ffi::Code {
    match code {
        Code::InvalidArgument => ffi::Code::InvalidArgument,
        Code::InvalidUrl => ffi::Code::InvalidUrl,
        Code::Tls => ffi::Code::Tls,
        Code::ConnectFailed => ffi::Code::ConnectFailed,
        Code::Timeout => ffi::Code::Timeout,
        Code::NotConnected => ffi::Code::NotConnected,
        Code::Closed => ffi::Code::Closed,
        Code::NotFound => ffi::Code::NotFound,
        Code::Duplicate => ffi::Code::Duplicate,
        Code::Unsupported => ffi::Code::Unsupported,
        Code::PayloadTooLarge => ffi::Code::PayloadTooLarge,
        Code::Protocol => ffi::Code::Protocol,
        Code::Cancelled => ffi::Code::Cancelled,
        Code::WouldBlock => ffi::Code::WouldBlock,
        Code::Internal => ffi::Code::Internal,
        Code::Lagging => ffi::Code::Lagging,
        Code::EndOfTrack => ffi::Code::EndOfTrack,
    }
}

fn ok() -> ffi::Status {
    ffi::Status {
        code: ffi::Code::Ok,
        message: String::new(),
    }
}

fn status_of(result: &Result<()>) -> ffi::Status {
    match result {
        Ok(()) => ok(),
        Err(e) => ffi::Status {
            code: code_of(e.code),
            message: e.message.clone(),
        },
    }
}

/// Runs one bridge entry with a panic turned into an `Internal` error instead
/// of unwinding into C++. It deliberately does not enter the runtime's
/// context: that needs thread-locals, which are gone when a handle is
/// destroyed from a static destructor at exit. Engine calls that spawn are
/// sent to the runtime explicitly instead.
fn guarded<T>(what: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let message = format!("internal error in {what}: {detail}; please report this bug");
            log::log(log::Level::Error, &message);
            Err(Error::new(Code::Internal, message))
        }
    }
}

/// A guarded entry that returns a handle: the handle is empty on error and
/// `status` says why.
fn handle<T, B>(
    what: &str,
    status: &mut ffi::Status,
    wrap: fn(Option<T>) -> B,
    body: impl FnOnce() -> Result<T>,
) -> Box<B> {
    let result = guarded(what, body);
    match result {
        Ok(value) => {
            *status = ok();
            Box::new(wrap(Some(value)))
        }
        Err(e) => {
            *status = status_of(&Err(e));
            Box::new(wrap(None))
        }
    }
}

/// The session behind a bridge handle, or the moved-from error naming `what`.
fn live_session<'a>(session: &'a SessionBox, what: &str) -> Result<&'a Session> {
    session.0.as_ref().ok_or_else(|| moved_from(what))
}

fn moved_from(what: &str) -> Error {
    Error::invalid_argument(format!(
        "{what} was called on an empty handle (moved-from or failed to create)"
    ))
}

fn namespace_of(parts: &CxxVector<CxxString>) -> Result<Namespace> {
    let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    Namespace::from_parts(&parts)
}

fn namespace_parse(path: &[u8], status: &mut ffi::Status) -> Vec<String> {
    let result = guarded("Namespace::parse", || {
        let text = std::str::from_utf8(path)
            .map_err(|_| Error::invalid_argument("namespace is not valid UTF-8"))?;
        Ok(Namespace::parse(text)?.parts().to_vec())
    });
    *status = status_of(&result.as_ref().map(|_| ()).map_err(Clone::clone));
    result.unwrap_or_default()
}

fn bytes_to_vec(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

fn namespace_check(parts: &CxxVector<CxxString>) -> ffi::Status {
    status_of(&guarded("Namespace", || namespace_of(parts).map(|_| ())))
}

/// What `Session::connect` needs from the bridge's options and events: the
/// configuration, the sink of the terminal event, and the events again (for
/// GOAWAY, registered once the session exists).
fn connect_parts(
    options: &ffi::ConnectOptions,
    events: UniquePtr<ffi::SessionEvents>,
) -> Result<(
    SessionConfig,
    crate::session::StateSink,
    Arc<UniquePtr<ffi::SessionEvents>>,
)> {
    let config = SessionConfig {
        tls: TlsOptions {
            root_cert_files: options.root_cert_files.iter().map(PathBuf::from).collect(),
            server_cert_sha256: options.server_cert_sha256.clone(),
            disable_verify: options.disable_verify,
        },
        connect_timeout: Duration::from_millis(options.connect_timeout_ms),
        request_timeout: Duration::from_millis(options.request_timeout_ms),
        bind: options.bind.clone(),
        max_object_size: usize::try_from(options.max_object_size).unwrap_or(usize::MAX),
        max_group_bytes: options.max_group_bytes,
        idle_timeout: Duration::from_millis(options.idle_timeout_ms),
        keep_alive_interval: Duration::from_millis(options.keep_alive_interval_ms),
        max_incoming_subgroups: options.max_incoming_subgroups,
        auth_tokens: options
            .auth_tokens
            .iter()
            .map(|t| crate::session::AuthToken {
                token_type: t.token_type,
                value: t.value.clone(),
            })
            .collect(),
        reconnect: crate::session::ReconnectPolicy {
            enabled: options.reconnect.enabled,
            initial_delay: Duration::from_millis(options.reconnect.initial_delay_ms),
            max_delay: Duration::from_millis(options.reconnect.max_delay_ms),
            max_attempts: options.reconnect.max_attempts,
        },
    };
    if config.connect_timeout.is_zero() || config.request_timeout.is_zero() {
        return Err(Error::invalid_argument(
            "connect_timeout and request_timeout must be positive",
        ));
    }
    let events = Arc::new(events);
    let closed_events = events.clone();
    let on_closed: crate::session::StateSink = Box::new(move |error: Option<Error>| {
        let status = match error {
            None => ok(),
            Some(e) => status_of(&Err(e)),
        };
        if let Some(events) = closed_events.as_ref().as_ref() {
            events.on_closed(&status);
        }
    });
    Ok((config, on_closed, events))
}

/// Sends the session's GOAWAY and changes of connection to its C++ events.
fn forward_events(session: &Session, events: Arc<UniquePtr<ffi::SessionEvents>>) {
    use crate::session::SessionState;
    let goaway = events.clone();
    session.on_goaway(Box::new(move |uri: String| {
        if let Some(events) = goaway.as_ref().as_ref() {
            events.on_goaway(&uri);
        }
    }));
    session.on_state_change(Box::new(move |state, error| {
        let state = match state {
            SessionState::Connected => ffi::SessionStateKind::Connected,
            SessionState::Reconnecting => ffi::SessionStateKind::Reconnecting,
            SessionState::Closed => ffi::SessionStateKind::Closed,
        };
        let status = error.map_or_else(ok, |e| status_of(&Err(e)));
        if let Some(events) = events.as_ref().as_ref() {
            events.on_state_change(state, &status);
        }
    }));
}

fn session_state(session: &SessionBox) -> ffi::SessionStateKind {
    use crate::session::SessionState;
    match session.0.as_ref().map(Session::state) {
        Some(SessionState::Connected) => ffi::SessionStateKind::Connected,
        Some(SessionState::Reconnecting) => ffi::SessionStateKind::Reconnecting,
        Some(SessionState::Closed) | None => ffi::SessionStateKind::Closed,
    }
}

fn session_close(session: &SessionBox, code: u64, reason: &[u8]) -> ffi::Status {
    status_of(&guarded("Session::close", || {
        let session = live_session(session, "Session::close")?;
        let code = u32::try_from(code).map_err(|_| {
            Error::invalid_argument(format!("close code {code} does not fit in 32 bits"))
        })?;
        let reason = std::str::from_utf8(reason)
            .map_err(|_| Error::invalid_argument("close reason is not valid UTF-8"))?;
        if reason.len() > 1024 {
            return Err(Error::invalid_argument(
                "close reason is longer than 1024 bytes; shorten it",
            ));
        }
        session.close(code, reason)
    }))
}

/// A received object as the bridge carries it: the header, and the payload
/// (moved, not copied).
fn to_ffi_object(object: ReceivedObject) -> (ffi::ObjectHeader, Box<PayloadBox>) {
    let header = ffi::ObjectHeader {
        group_id: object.group_id,
        subgroup_id: object.subgroup_id,
        object_id: object.object_id,
        priority: object.priority,
        datagram: object.datagram,
        status: match object.status {
            ObjectStatus::Normal => ffi::ObjectStatusKind::Normal,
            ObjectStatus::EndOfGroup => ffi::ObjectStatusKind::EndOfGroup,
            ObjectStatus::EndOfTrack => ffi::ObjectStatusKind::EndOfTrack,
        },
        extensions: object
            .extensions
            .into_iter()
            .map(extension_to_ffi)
            .collect(),
        chunks: object.chunks,
    };
    (header, Box::new(PayloadBox(object.payload)))
}

/// Delivers a subscription's events to its C++ `SubscriptionEvents`.
struct CppObjectHandler(UniquePtr<ffi::SubscriptionEvents>);

impl ObjectHandler for CppObjectHandler {
    fn on_object(&mut self, object: ReceivedObject) {
        if let Some(events) = self.0.as_ref() {
            let (header, payload) = to_ffi_object(object);
            events.on_object(&header, payload);
        }
    }

    fn on_closed(&mut self, result: Result<()>) {
        if let Some(events) = self.0.as_ref() {
            events.on_closed(&status_of(&result));
        }
    }
}

fn subscribe_options(p: &ffi::SubscribeParams) -> Result<SubscribeOptions> {
    let optional = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
    let filter = match p.filter {
        ffi::FilterKind::LatestObject => Filter::LatestObject,
        ffi::FilterKind::NextGroup => Filter::NextGroup,
        ffi::FilterKind::AbsoluteStart => Filter::AbsoluteStart {
            group: p.start_group,
            object: p.start_object,
        },
        ffi::FilterKind::AbsoluteRange => Filter::AbsoluteRange {
            start_group: p.start_group,
            start_object: p.start_object,
            end_group: p.end_group,
        },
        other => {
            return Err(Error::invalid_argument(format!(
                "unknown subscription filter type {}",
                other.repr
            )))
        }
    };
    let group_order = match p.group_order {
        ffi::GroupOrderKind::Publisher => GroupOrder::Publisher,
        ffi::GroupOrderKind::Ascending => GroupOrder::Ascending,
        ffi::GroupOrderKind::Descending => GroupOrder::Descending,
        other => {
            return Err(Error::invalid_argument(format!(
                "unknown group order {}",
                other.repr
            )))
        }
    };
    let overflow = match p.overflow {
        ffi::Overflow::DropOldestGroups => Overflow::DropOldestGroups,
        ffi::Overflow::EndWithLag => Overflow::EndWithLag,
        ffi::Overflow::Pause => Overflow::Pause,
        _ => {
            return Err(Error::invalid_argument(
                "unknown ReceiveBudget overflow policy",
            ))
        }
    };
    Ok(SubscribeOptions {
        filter,
        group_order,
        forward: p.forward,
        priority: p.priority,
        delivery_timeout: optional(p.delivery_timeout_ms),
        rendezvous_timeout: optional(p.rendezvous_timeout_ms),
        pull: p.pull,
        budget: ReceiveBudget {
            max_bytes: usize::try_from(p.max_queued_bytes).unwrap_or(usize::MAX),
            max_objects: usize::try_from(p.max_queued_objects).unwrap_or(usize::MAX),
            overflow,
        },
        reorder_window: Duration::from_millis(p.reorder_window_ms),
    })
}

fn subscription_next(
    subscription: &SubscriptionBox,
    poll: bool,
    wait_ms: u64,
    forever: bool,
    header: &mut ffi::ObjectHeader,
    status: &mut ffi::Status,
) -> Box<PayloadBox> {
    let result = guarded("Subscription::next", || {
        let subscription = subscription
            .0
            .as_ref()
            .ok_or_else(|| moved_from("Subscription::next"))?;
        if poll {
            return subscription
                .try_next()
                .ok_or_else(|| Error::new(Code::Timeout, "no object is queued"));
        }
        let timeout = if forever {
            Duration::MAX
        } else {
            Duration::from_millis(wait_ms)
        };
        subscription.next(timeout)
    });
    match result {
        Ok(object) => {
            let (h, payload) = to_ffi_object(object);
            *header = h;
            *status = ok();
            payload
        }
        Err(e) => {
            *status = status_of(&Err(e));
            Box::new(PayloadBox(bytes::Bytes::new()))
        }
    }
}

fn subscription_stats(subscription: &SubscriptionBox) -> ffi::SubscriptionCounters {
    let stats = subscription
        .0
        .as_ref()
        .map(Subscription::stats)
        .unwrap_or_default();
    ffi::SubscriptionCounters {
        objects: stats.objects,
        bytes: stats.bytes,
        chunks: stats.chunks,
        dropped_groups: stats.dropped_groups,
        dropped_objects: stats.dropped_objects,
        streams_reset: stats.streams_reset,
        skipped_groups: stats.skipped_groups,
        resumptions: stats.resumptions,
        gap_after_group: stats.gap_after_group.unwrap_or(u64::MAX),
        gap_before_group: stats.gap_before_group.unwrap_or(u64::MAX),
    }
}

fn announcement_create_track(
    announcement: &AnnouncementBox,
    name: &[u8],
    options: &ffi::TrackParams,
    status: &mut ffi::Status,
) -> Box<TrackWriterBox> {
    handle("Announcement::create_track", status, TrackWriterBox, || {
        let announcement = announcement
            .0
            .as_ref()
            .ok_or_else(|| moved_from("Announcement::create_track"))?;
        announcement.create_track_with(name, &track_options(options))
    })
}

fn announcement_create_datagram_track(
    announcement: &AnnouncementBox,
    name: &[u8],
    status: &mut ffi::Status,
) -> Box<DatagramWriterBox> {
    handle(
        "Announcement::create_datagram_track",
        status,
        DatagramWriterBox,
        || {
            announcement
                .0
                .as_ref()
                .ok_or_else(|| moved_from("Announcement::create_datagram_track"))?
                .create_datagram_track(name)
        },
    )
}

fn datagram_max_payload(writer: &DatagramWriterBox) -> usize {
    writer.0.as_ref().map_or(0, DatagramWriter::max_payload)
}

fn datagram_write(
    writer: &DatagramWriterBox,
    group_id: u64,
    object_id: u64,
    priority: u8,
    payload: UniquePtr<ffi::PayloadOwner>,
) -> ffi::Status {
    status_of(&guarded("DatagramWriter::write", || {
        let writer = writer
            .0
            .as_ref()
            .ok_or_else(|| moved_from("DatagramWriter::write"))?;
        writer.write(group_id, object_id, priority, foreign_payload(payload)?)
    }))
}

/// A C++ `moq::Bytes` as `Bytes`, without copying.
fn foreign_payload(payload: UniquePtr<ffi::PayloadOwner>) -> Result<bytes::Bytes> {
    if payload.is_null() {
        return Err(Error::invalid_argument("payload is null"));
    }
    Ok(shared_bytes::from_foreign(payload, |owner| {
        owner.as_ref().map_or(&[][..], |o| o.data())
    }))
}

fn track_begin_group(
    track: &TrackWriterBox,
    priority: u8,
    status: &mut ffi::Status,
) -> Box<GroupWriterBox> {
    handle("TrackWriter::begin_group", status, GroupWriterBox, || {
        track
            .0
            .as_ref()
            .ok_or_else(|| moved_from("TrackWriter::begin_group"))?
            .begin_group(priority)
    })
}

fn track_stats(track: &TrackWriterBox) -> ffi::TrackCounters {
    let stats = track.0.as_ref().map(TrackWriter::stats).unwrap_or_default();
    ffi::TrackCounters {
        groups: stats.groups,
        objects: stats.objects,
        bytes: stats.bytes,
        backlog_bytes: stats.backlog_bytes,
        dropped_groups: stats.dropped_groups,
    }
}

fn track_flush(track: &TrackWriterBox, timeout_ms: u64) -> ffi::Status {
    status_of(&guarded("TrackWriter::flush", || {
        track
            .0
            .as_ref()
            .ok_or_else(|| moved_from("TrackWriter::flush"))?
            .flush(Duration::from_millis(timeout_ms))
    }))
}

fn group_id(group: &GroupWriterBox) -> u64 {
    group.0.as_ref().map_or(0, GroupWriter::group_id)
}

fn group_of<'a>(group: &'a GroupWriterBox, what: &str) -> Result<&'a GroupWriter> {
    group.0.as_ref().ok_or_else(|| moved_from(what))
}

fn group_write_shared(
    group: &GroupWriterBox,
    payload: UniquePtr<ffi::PayloadOwner>,
) -> ffi::Status {
    status_of(&guarded("GroupWriter::write", || {
        group_of(group, "GroupWriter::write")?.write(foreign_payload(payload)?)
    }))
}

fn group_write_received(
    group: &GroupWriterBox,
    payload: &PayloadBox,
    offset: usize,
    len: usize,
) -> ffi::Status {
    status_of(&guarded("GroupWriter::write", || {
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= payload.0.len())
            .ok_or_else(|| Error::invalid_argument("the payload view lies outside its buffer"))?;
        group_of(group, "GroupWriter::write")?.write(payload.0.slice(offset..end))
    }))
}

fn track_options(options: &ffi::TrackParams) -> TrackOptions {
    TrackOptions {
        history: (options.history_max_groups > 0).then(|| HistoryLimits {
            max_groups: usize::try_from(options.history_max_groups).unwrap_or(usize::MAX),
            max_bytes: usize::try_from(options.history_max_bytes).unwrap_or(usize::MAX),
        }),
        max_group_bytes: options.max_group_bytes,
        max_backlog_bytes: options.max_backlog_bytes,
    }
}

fn session_flush(session: &SessionBox, timeout_ms: u64) -> ffi::Status {
    status_of(&guarded("Session::flush", || {
        session
            .0
            .as_ref()
            .ok_or_else(|| moved_from("Session::flush"))?
            .flush(Duration::from_millis(timeout_ms))
    }))
}

fn session_stats(session: &SessionBox, status: &mut ffi::Status) -> ffi::SessionCounters {
    let result = guarded("Session::stats", || {
        let session = live_session(session, "Session::stats")?;
        Ok(session.stats())
    });
    *status = status_of(&result.as_ref().map(|_| ()).map_err(Clone::clone));
    let stats = result.unwrap_or_default();
    ffi::SessionCounters {
        rtt_us: u64::try_from(stats.rtt.as_micros()).unwrap_or(u64::MAX),
        bytes_sent: stats.bytes_sent,
        bytes_received: stats.bytes_received,
        packets_sent: stats.packets_sent,
        packets_received: stats.packets_received,
        packets_lost: stats.packets_lost,
        bytes_lost: stats.bytes_lost,
        objects_refused: stats.objects_refused,
        streams_stopped: stats.streams_stopped,
        backlog_bytes: stats.backlog_bytes,
        reconnects: stats.reconnects,
    }
}

fn session_track_status(
    session: &SessionBox,
    ns: &CxxVector<CxxString>,
    track: &[u8],
) -> ffi::Status {
    status_of(&guarded("Session::track_status", || {
        session
            .0
            .as_ref()
            .ok_or_else(|| moved_from("Session::track_status"))?
            .track_status(&namespace_of(ns)?, track)
    }))
}

fn track_begin_subgroup(
    track: &TrackWriterBox,
    group_id: u64,
    subgroup_id: u64,
    priority: u8,
    status: &mut ffi::Status,
) -> Box<GroupWriterBox> {
    handle(
        "TrackWriter::begin_subgroup",
        status,
        GroupWriterBox,
        || {
            track
                .0
                .as_ref()
                .ok_or_else(|| moved_from("TrackWriter::begin_subgroup"))?
                .begin_subgroup(group_id, subgroup_id, priority)
        },
    )
}

fn extension_to_ffi(ext: Extension) -> ffi::ObjectExtension {
    match ext.value {
        ExtensionValue::Number(number) => ffi::ObjectExtension {
            key: ext.key,
            number,
            bytes: Vec::new(),
        },
        // Moved, not copied: the received object is consumed here.
        ExtensionValue::Bytes(bytes) => ffi::ObjectExtension {
            key: ext.key,
            number: 0,
            bytes,
        },
    }
}

/// Even keys carry numbers, odd keys bytes (MoQT): a value in the other field
/// is a mistake worth reporting, not something to drop silently.
fn extensions_from_ffi(extensions: &[ffi::ObjectExtension]) -> Result<Vec<Extension>> {
    extensions
        .iter()
        .map(|e| {
            let value = if e.key % 2 == 0 {
                if !e.bytes.is_empty() {
                    return Err(Error::invalid_argument(format!(
                        "extension key {} is even, so it carries a number: set `number`, not \
                         `bytes` (MoQT: even keys carry numbers, odd keys bytes)",
                        e.key
                    )));
                }
                ExtensionValue::Number(e.number)
            } else {
                if e.number != 0 {
                    return Err(Error::invalid_argument(format!(
                        "extension key {} is odd, so it carries bytes: set `bytes`, not \
                         `number` (MoQT: even keys carry numbers, odd keys bytes)",
                        e.key
                    )));
                }
                ExtensionValue::Bytes(e.bytes.clone())
            };
            Ok(Extension { key: e.key, value })
        })
        .collect()
}

fn object_id_of(params: &ffi::ObjectParams) -> Option<u64> {
    params.has_object_id.then_some(params.object_id)
}

fn group_write_object(
    group: &GroupWriterBox,
    params: &ffi::ObjectParams,
    payload: UniquePtr<ffi::PayloadOwner>,
) -> ffi::Status {
    status_of(&guarded("GroupWriter::write", || {
        group_of(group, "GroupWriter::write")?.write_object(
            object_id_of(params),
            foreign_payload(payload)?,
            &extensions_from_ffi(&params.extensions)?,
        )
    }))
}

fn group_begin_object(
    group: &GroupWriterBox,
    params: &ffi::ObjectParams,
    size: u64,
    status: &mut ffi::Status,
) -> Box<ObjectWriterBox> {
    handle("GroupWriter::begin_object", status, ObjectWriterBox, || {
        let size = usize::try_from(size)
            .map_err(|_| Error::invalid_argument("object size does not fit in memory"))?;
        group_of(group, "GroupWriter::begin_object")?.begin_object(
            object_id_of(params),
            size,
            &extensions_from_ffi(&params.extensions)?,
        )
    })
}

fn group_write_marker(
    group: &GroupWriterBox,
    kind: ffi::ObjectStatusKind,
    has_object_id: bool,
    object_id: u64,
) -> ffi::Status {
    status_of(&guarded("GroupWriter::end_group", || {
        let status = match kind {
            ffi::ObjectStatusKind::EndOfGroup => ObjectStatus::EndOfGroup,
            ffi::ObjectStatusKind::EndOfTrack => ObjectStatus::EndOfTrack,
            other => {
                return Err(Error::invalid_argument(format!(
                    "a marker ends a group or the track, not object status {}",
                    other.repr
                )))
            }
        };
        group_of(group, "GroupWriter::end_group")?
            .write_marker(status, has_object_id.then_some(object_id))
    }))
}

fn object_write(object: &ObjectWriterBox, chunk: UniquePtr<ffi::PayloadOwner>) -> ffi::Status {
    status_of(&guarded("ObjectWriter::write", || {
        object
            .0
            .as_ref()
            .ok_or_else(|| moved_from("ObjectWriter::write"))?
            .write(foreign_payload(chunk)?)
    }))
}

fn group_finish(group: &GroupWriterBox) -> ffi::Status {
    status_of(&guarded("GroupWriter::finish", || {
        group_of(group, "GroupWriter::finish")?.finish()
    }))
}

fn payload_data(payload: &PayloadBox) -> &[u8] {
    &payload.0
}

fn on_runtime_thread() -> bool {
    runtime::on_runtime_thread()
}

fn runtime_configure(
    io_threads: u64,
    callback_threads: u64,
    max_callback_threads: u64,
) -> ffi::Status {
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    status_of(&guarded("moq::configure_runtime", || {
        runtime::configure(runtime::RuntimeConfig {
            io_threads: count(io_threads),
            callback_threads: count(callback_threads),
            max_callback_threads: count(max_callback_threads),
        })
    }))
}

fn runtime_shutdown(timeout_ms: u64) -> ffi::Status {
    status_of(&guarded("moq::shutdown", || {
        if runtime::on_runtime_thread() {
            return Err(Error::new(
                Code::WouldBlock,
                "moq::shutdown waits for the library's threads and cannot be called from a moq \
                 callback; call it at the end of main",
            ));
        }
        crate::session::shutdown(Duration::from_millis(timeout_ms))
    }))
}

/// Panics inside the same guard every entry runs in, so a test can see the
/// panic come out as `Code::Internal` in C++.
#[cfg(feature = "test-hooks")]
fn test_hook_override_resolver(host: &str, addrs: Vec<String>) -> ffi::Status {
    status_of(&guarded("test_hook_override_resolver", || {
        let addrs = addrs
            .iter()
            .map(|a| {
                a.parse()
                    .map_err(|_| Error::invalid_argument(format!("\"{a}\" is not an IP:port")))
            })
            .collect::<Result<Vec<std::net::SocketAddr>>>()?;
        crate::session::override_resolver(host, addrs);
        Ok(())
    }))
}

#[cfg(feature = "test-hooks")]
fn test_hook_panic() -> ffi::Status {
    status_of(&guarded("the panic test hook", || -> Result<()> {
        panic!("a panic on purpose (test hook)")
    }))
}

fn log_set_level(level: ffi::LogLevelKind) {
    log::set_min_level(match level {
        ffi::LogLevelKind::Debug => log::Level::Debug,
        ffi::LogLevelKind::Info => log::Level::Info,
        ffi::LogLevelKind::Warn => log::Level::Warn,
        _ => log::Level::Error,
    });
}

fn log_forward_to_cpp(enabled: bool) {
    if enabled {
        log::set_sink(Some(Box::new(|level, message| {
            ffi::log_message(
                match level {
                    log::Level::Debug => ffi::LogLevelKind::Debug,
                    log::Level::Info => ffi::LogLevelKind::Info,
                    log::Level::Warn => ffi::LogLevelKind::Warn,
                    log::Level::Error => ffi::LogLevelKind::Error,
                },
                message,
            );
        })));
    } else {
        log::set_sink(None);
    }
}

// ------------------------------------------------------------------ namespace discovery

// SAFETY: NamespaceEvents guards its state with a mutex (like SubscriptionEvents).
unsafe impl Send for ffi::NamespaceEvents {}
unsafe impl Sync for ffi::NamespaceEvents {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<NamespaceWatch>();
};

pub struct NamespaceWatchBox(#[allow(dead_code)] Option<NamespaceWatch>);

/// Delivers a namespace watch's events to its C++ `NamespaceEvents`.
struct CppNamespaceHandler(UniquePtr<ffi::NamespaceEvents>);

impl NamespaceHandler for CppNamespaceHandler {
    fn on_added(&mut self, namespace: Namespace) {
        if let Some(events) = self.0.as_ref() {
            events.on_added(namespace.parts().to_vec());
        }
    }

    fn on_removed(&mut self, namespace: Namespace) {
        if let Some(events) = self.0.as_ref() {
            events.on_removed(namespace.parts().to_vec());
        }
    }

    fn on_closed(&mut self, result: Result<()>) {
        if let Some(events) = self.0.as_ref() {
            events.on_closed(&status_of(&result));
        }
    }
}

// ------------------------------------------------------------------ single-track PUBLISH

// SAFETY: PublishEvents guards its state with a mutex (like SubscriptionEvents).
unsafe impl Send for ffi::PublishEvents {}
unsafe impl Sync for ffi::PublishEvents {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<PublishedTrack>();
    send_sync::<PublishListener>();
};

pub struct PublishedTrackBox(Option<PublishedTrack>);
pub struct PublishListenerBox(#[allow(dead_code)] Option<PublishListener>);

fn published_track_begin_group(
    track: &PublishedTrackBox,
    priority: u8,
    status: &mut ffi::Status,
) -> Box<GroupWriterBox> {
    handle(
        "PublishedTrack::begin_group",
        status,
        GroupWriterBox,
        || {
            track
                .0
                .as_ref()
                .ok_or_else(|| moved_from("PublishedTrack::begin_group"))?
                .begin_group(priority)
        },
    )
}

/// Asks the C++ `PublishEvents` about each PUBLISH from the peer.
struct CppPublishHandler(UniquePtr<ffi::PublishEvents>);

impl PublishHandler for CppPublishHandler {
    fn on_publish(&mut self, namespace: &Namespace, track: &str) -> Option<Box<dyn ObjectHandler>> {
        let events = self.0.as_ref()?;
        let accepted = events.on_publish(namespace.parts().to_vec(), track);
        if accepted.is_null() {
            return None;
        }
        Some(Box::new(CppObjectHandler(accepted)))
    }
}

fn session_on_publish(
    session: &SessionBox,
    events: UniquePtr<ffi::PublishEvents>,
    status: &mut ffi::Status,
) -> Box<PublishListenerBox> {
    handle("Session::on_publish", status, PublishListenerBox, || {
        let session = live_session(session, "Session::on_publish")?;
        if events.is_null() {
            return Err(Error::invalid_argument("publish events are null"));
        }
        session.on_publish(Box::new(CppPublishHandler(events)))
    })
}

// ------------------------------------------------------------------ FETCH

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Fetch>();
};

pub struct FetchBox(Option<Fetch>);

fn fetch_end(fetch: &FetchBox) -> ffi::FetchEnd {
    match fetch.0.as_ref() {
        Some(f) => ffi::FetchEnd {
            end_group: f.end_group(),
            has_end_object: f.end_object().is_some(),
            end_object: f.end_object().unwrap_or(0),
            end_of_track: f.end_of_track(),
        },
        None => ffi::FetchEnd {
            end_group: 0,
            has_end_object: false,
            end_object: 0,
            end_of_track: false,
        },
    }
}

// ------------------------------------------------------------ tracks on demand

// SAFETY: TrackRequestEvents only holds a shared_ptr to a core whose state is
// guarded by its own mutex and callback gate.
unsafe impl Send for ffi::TrackRequestEvents {}
unsafe impl Sync for ffi::TrackRequestEvents {}

/// A pending request; taken by `accept`, refused when dropped untaken.
pub struct TrackRequestBox {
    name: String,
    request: Mutex<Option<TrackRequest>>,
}

fn announcement_on_track_requested(
    announcement: &AnnouncementBox,
    events: UniquePtr<ffi::TrackRequestEvents>,
) -> ffi::Status {
    status_of(&guarded("Announcement::on_track_requested", || {
        let announcement = announcement
            .0
            .as_ref()
            .ok_or_else(|| moved_from("Announcement::on_track_requested"))?;
        if events.is_null() {
            announcement.on_track_requested(None);
            return Ok(());
        }
        let events = Arc::new(events);
        announcement.on_track_requested(Some(Arc::new(move |request: TrackRequest| {
            if let Some(events) = events.as_ref().as_ref() {
                events.on_track_requested(Box::new(TrackRequestBox {
                    name: request.name().to_owned(),
                    request: Mutex::new(Some(request)),
                }));
            }
        })));
        Ok(())
    }))
}

fn track_request_name(request: &TrackRequestBox) -> &str {
    &request.name
}

fn track_request_accept(
    request: &TrackRequestBox,
    options: &ffi::TrackParams,
    status: &mut ffi::Status,
) -> Box<TrackWriterBox> {
    handle("TrackRequest::accept", status, TrackWriterBox, || {
        let pending = request
            .request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| Error::invalid_argument("this track request was already accepted"))?;
        pending.accept(&track_options(options))
    })
}

// ---------------------------------------------------------- requests in flight

/// What a request in flight answers with: the handle it was made for.
enum Answer {
    Session(Box<Session>),
    Announcement(Announcement),
    Subscription(Subscription),
    NamespaceWatch(NamespaceWatch),
    PublishedTrack(PublishedTrack),
    Fetch(Fetch),
}

pub struct PendingBox(Pending<Answer>);
pub struct PendingResult(Option<Result<Answer>>);

// SAFETY: as the other events: the C++ object keeps the completion behind a
// const call operator, made on one thread and run on the request's strand.
unsafe impl Send for ffi::PendingReady {}
unsafe impl Sync for ffi::PendingReady {}

/// Starts a request: `prepare` checks the input and builds the future now (an
/// error there answers at once), the future runs on the runtime.
fn pending<F, T>(
    what: &str,
    prepare: impl FnOnce() -> Result<F>,
    wrap: fn(T) -> Answer,
) -> Box<PendingBox>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Box::new(PendingBox(match guarded(what, prepare) {
        Ok(request) => Pending::spawn(async move { request.await.map(wrap) }),
        Err(e) => Pending::answered(Err(e)),
    }))
}

fn session_connect_async(
    options: &ffi::ConnectOptions,
    events: UniquePtr<ffi::SessionEvents>,
) -> Box<PendingBox> {
    pending(
        "Session::connect_async",
        || {
            let (config, on_closed, events) = connect_parts(options, events)?;
            let request = Session::connect_request(&options.url, config, on_closed)?;
            Ok(async move {
                let session = request.await?;
                forward_events(&session, events);
                Ok(Box::new(session))
            })
        },
        Answer::Session,
    )
}

fn session_announce_async(session: &SessionBox, ns: &CxxVector<CxxString>) -> Box<PendingBox> {
    pending(
        "Session::announce_async",
        || {
            let session = live_session(session, "Session::announce_async")?;
            session.announce_request(&namespace_of(ns)?)
        },
        Answer::Announcement,
    )
}

fn session_subscribe_async(
    session: &SessionBox,
    ns: &CxxVector<CxxString>,
    track: &[u8],
    params: &ffi::SubscribeParams,
    events: UniquePtr<ffi::SubscriptionEvents>,
) -> Box<PendingBox> {
    pending(
        "Session::subscribe_async",
        || {
            let session = live_session(session, "Session::subscribe_async")?;
            session.subscribe_request(
                &namespace_of(ns)?,
                track,
                &subscribe_options(params)?,
                Box::new(CppObjectHandler(events)),
            )
        },
        Answer::Subscription,
    )
}

fn session_subscribe_namespace_async(
    session: &SessionBox,
    prefix: &CxxVector<CxxString>,
    events: UniquePtr<ffi::NamespaceEvents>,
) -> Box<PendingBox> {
    pending(
        "Session::subscribe_namespace_async",
        || {
            let session = live_session(session, "Session::subscribe_namespace_async")?;
            if events.is_null() {
                return Err(Error::invalid_argument("namespace events are null"));
            }
            session.subscribe_namespace_request(
                &namespace_of(prefix)?,
                Box::new(CppNamespaceHandler(events)),
            )
        },
        Answer::NamespaceWatch,
    )
}

fn session_publish_track_async(
    session: &SessionBox,
    ns: &CxxVector<CxxString>,
    name: &[u8],
) -> Box<PendingBox> {
    pending(
        "Session::publish_track_async",
        || {
            let session = live_session(session, "Session::publish_track_async")?;
            session.publish_track_request(&namespace_of(ns)?, name)
        },
        Answer::PublishedTrack,
    )
}

fn session_fetch_async(
    session: &SessionBox,
    ns: &CxxVector<CxxString>,
    track: &[u8],
    range: &ffi::FetchParams,
    events: UniquePtr<ffi::SubscriptionEvents>,
) -> Box<PendingBox> {
    pending(
        "Session::fetch_async",
        || {
            let session = live_session(session, "Session::fetch_async")?;
            if events.is_null() {
                return Err(Error::invalid_argument("fetch events are null"));
            }
            let range = FetchRange {
                start_group: range.start_group,
                start_object: range.start_object,
                end_group: range.end_group,
                end_object: range.has_end_object.then_some(range.end_object),
            };
            session.fetch_request(
                &namespace_of(ns)?,
                track,
                range,
                Box::new(CppObjectHandler(events)),
            )
        },
        Answer::Fetch,
    )
}

fn session_joining_fetch_async(
    session: &SessionBox,
    subscription: &SubscriptionBox,
    groups_before: u64,
    events: UniquePtr<ffi::SubscriptionEvents>,
) -> Box<PendingBox> {
    pending(
        "Session::joining_fetch_async",
        || {
            let session = live_session(session, "Session::joining_fetch_async")?;
            let subscription = subscription.0.as_ref().ok_or_else(|| {
                Error::invalid_argument(
                    "Session::joining_fetch: the subscription is an empty handle (moved-from or \
                     failed to create); pass a live subscription of this session",
                )
            })?;
            if events.is_null() {
                return Err(Error::invalid_argument("fetch events are null"));
            }
            session.joining_fetch_request(
                subscription,
                groups_before,
                Box::new(CppObjectHandler(events)),
            )
        },
        Answer::Fetch,
    )
}

fn pending_invalid(message: &str) -> Box<PendingBox> {
    Box::new(PendingBox(Pending::answered(Err(Error::invalid_argument(
        message,
    )))))
}

fn pending_wait(
    pending: &PendingBox,
    wait_ms: u64,
    forever: bool,
    status: &mut ffi::Status,
) -> Box<PendingResult> {
    let timeout = (!forever).then(|| Duration::from_millis(wait_ms));
    // `status` is about the wait; the request's own error travels inside the
    // result, so C++ turns every answer the same way.
    match guarded("Pending::wait", || Ok(pending.0.wait(timeout))) {
        Ok(Ok(answer)) => {
            *status = ok();
            Box::new(PendingResult(Some(answer)))
        }
        Ok(Err(wait_error)) => {
            *status = status_of(&Err(wait_error));
            Box::new(PendingResult(None))
        }
        Err(panic) => {
            *status = ok();
            Box::new(PendingResult(Some(Err(panic))))
        }
    }
}

fn pending_then(pending: &PendingBox, ready: UniquePtr<ffi::PendingReady>) -> ffi::Status {
    status_of(&guarded("Pending::then", || {
        pending.0.then(Box::new(move |result| {
            if let Some(ready) = ready.as_ref() {
                ready.on_ready(Box::new(PendingResult(Some(result))));
            }
        }))
    }))
}

fn pending_is_answered(pending: &PendingBox) -> bool {
    pending.0.is_answered()
}

/// The handle inside an answer; `pick` says which kind C++ expects.
fn answer_of<T>(
    what: &str,
    result: PendingResult,
    status: &mut ffi::Status,
    pick: fn(Answer) -> Option<T>,
) -> Option<T> {
    let picked = match result.0 {
        None => Err(Error::invalid_argument(format!(
            "{what}: the answer was already taken"
        ))),
        Some(Err(e)) => Err(e),
        Some(Ok(answer)) => pick(answer).ok_or_else(|| {
            Error::new(
                Code::Internal,
                format!(
                    "internal error in {what}: an answer of another kind; please report this bug"
                ),
            )
        }),
    };
    *status = status_of(&picked.as_ref().map(|_| ()).map_err(Clone::clone));
    picked.ok()
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_session(result: Box<PendingResult>, status: &mut ffi::Status) -> Box<SessionBox> {
    Box::new(SessionBox(answer_of(
        "connect",
        *result,
        status,
        |a| match a {
            Answer::Session(s) => Some(*s),
            _ => None,
        },
    )))
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_announcement(
    result: Box<PendingResult>,
    status: &mut ffi::Status,
) -> Box<AnnouncementBox> {
    Box::new(AnnouncementBox(answer_of(
        "announce",
        *result,
        status,
        |a| match a {
            Answer::Announcement(s) => Some(s),
            _ => None,
        },
    )))
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_subscription(
    result: Box<PendingResult>,
    status: &mut ffi::Status,
) -> Box<SubscriptionBox> {
    Box::new(SubscriptionBox(answer_of(
        "subscribe",
        *result,
        status,
        |a| match a {
            Answer::Subscription(s) => Some(s),
            _ => None,
        },
    )))
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_namespace_watch(
    result: Box<PendingResult>,
    status: &mut ffi::Status,
) -> Box<NamespaceWatchBox> {
    Box::new(NamespaceWatchBox(answer_of(
        "subscribe_namespace",
        *result,
        status,
        |a| match a {
            Answer::NamespaceWatch(w) => Some(w),
            _ => None,
        },
    )))
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_published_track(
    result: Box<PendingResult>,
    status: &mut ffi::Status,
) -> Box<PublishedTrackBox> {
    Box::new(PublishedTrackBox(answer_of(
        "publish_track",
        *result,
        status,
        |a| match a {
            Answer::PublishedTrack(t) => Some(t),
            _ => None,
        },
    )))
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_fetch(result: Box<PendingResult>, status: &mut ffi::Status) -> Box<FetchBox> {
    Box::new(FetchBox(answer_of("fetch", *result, status, |a| match a {
        Answer::Fetch(f) => Some(f),
        _ => None,
    })))
}
