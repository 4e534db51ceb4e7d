//! Publishing: ANNOUNCE, tracks made up front or on request, groups,
//! subgroups, objects written whole or in chunks, markers, datagrams, and a
//! track's backlog (engine: `crate::publish`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cxx::{CxxString, CxxVector, UniquePtr};

use super::bytes::{foreign_payload, PayloadBox, PayloadOwner};
use super::error::{guarded_status, handle, live, Status};
use super::named_across_bridges;
use super::names::namespace_of;
use super::object::{extensions_from_ffi, object_id_of, ObjectParams, ObjectStatusKind};
use super::pending::{self, PendingBox, PendingResult};
use super::session::{live_session, SessionBox};
use crate::error::Error;
use crate::history::HistoryLimits;
use crate::object::Status as ObjectStatus;
use crate::publish::{
    Announcement, DatagramWriter, GroupWriter, ObjectWriter, TrackOptions, TrackRequest,
    TrackRequestHandler, TrackWriter,
};

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
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

    extern "C++" {
        include!("moq-ffi/src/bridge/error.rs.h");
        include!("moq-ffi/src/bridge/bytes.rs.h");
        include!("moq-ffi/src/bridge/object.rs.h");
        include!("moq-ffi/src/bridge/pending.rs.h");
        include!("moq-ffi/src/bridge/session.rs.h");
        type Status = crate::bridge::error::ffi::Status;
        type PayloadBox = crate::bridge::bytes::PayloadBox;
        type PayloadOwner = crate::bridge::bytes::PayloadOwner;
        type ObjectParams = crate::bridge::object::ffi::ObjectParams;
        type ObjectStatusKind = crate::bridge::object::ffi::ObjectStatusKind;
        type PendingBox = crate::bridge::pending::PendingBox;
        type PendingResult = crate::bridge::pending::PendingResult;
        type SessionBox = crate::bridge::session::SessionBox;
    }

    extern "Rust" {
        type AnnouncementBox;
        type TrackWriterBox;
        type GroupWriterBox;
        type ObjectWriterBox;
        type DatagramWriterBox;
        /// A request for a track that does not exist; refused when dropped
        /// unaccepted.
        type TrackRequestBox;

        /// `events` receives requests for tracks that do not exist from the
        /// moment the namespace is announced.
        fn session_announce_async(
            session: &SessionBox,
            ns: &CxxVector<CxxString>,
            events: UniquePtr<TrackRequestEvents>,
        ) -> Box<PendingBox>;
        fn pending_result_announcement(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<AnnouncementBox>;

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
        fn track_request_name(request: &TrackRequestBox) -> &str;
        fn track_request_accept(
            request: &TrackRequestBox,
            options: &TrackParams,
            status: &mut Status,
        ) -> Box<TrackWriterBox>;

        fn track_begin_group(
            track: &TrackWriterBox,
            priority: u8,
            status: &mut Status,
        ) -> Box<GroupWriterBox>;
        fn track_begin_subgroup(
            track: &TrackWriterBox,
            group_id: u64,
            subgroup_id: u64,
            priority: u8,
            status: &mut Status,
        ) -> Box<GroupWriterBox>;
        fn track_stats(track: &TrackWriterBox) -> TrackCounters;
        fn track_flush(track: &TrackWriterBox, timeout_ms: u64) -> Status;

        fn group_id(group: &GroupWriterBox) -> u64;
        fn group_write_shared(group: &GroupWriterBox, payload: UniquePtr<PayloadOwner>) -> Status;
        /// Writes bytes `offset..offset + len` of a received payload (a view
        /// of it, as a C++ `moq::Bytes` may be), without a copy.
        fn group_write_received(
            group: &GroupWriterBox,
            payload: &PayloadBox,
            offset: usize,
            len: usize,
        ) -> Status;
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
        fn group_finish(group: &GroupWriterBox) -> Status;

        fn object_write(object: &ObjectWriterBox, chunk: UniquePtr<PayloadOwner>) -> Status;

        fn datagram_max_payload(writer: &DatagramWriterBox) -> usize;
        fn datagram_write(
            writer: &DatagramWriterBox,
            group_id: u64,
            object_id: u64,
            priority: u8,
            payload: UniquePtr<PayloadOwner>,
        ) -> Status;
    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        /// Receives an announcement's requests for tracks that do not exist.
        type TrackRequestEvents;
        fn on_track_requested(self: &TrackRequestEvents, request: Box<TrackRequestBox>);
    }
}

pub struct AnnouncementBox(Option<Announcement>);
pub struct TrackWriterBox(Option<TrackWriter>);
pub struct GroupWriterBox(pub Option<GroupWriter>);
pub struct ObjectWriterBox(Option<ObjectWriter>);
pub struct DatagramWriterBox(Option<DatagramWriter>);
pub struct TrackRequestBox {
    name: String,
    request: Mutex<Option<TrackRequest>>,
}
named_across_bridges!(GroupWriterBox, "moq::ffi::GroupWriterBox");

// SAFETY: TrackRequestEvents only holds a shared_ptr to a core whose state is
// guarded by its own mutex.
unsafe impl Send for ffi::TrackRequestEvents {}
unsafe impl Sync for ffi::TrackRequestEvents {}

// C++ may use one handle from several threads at once.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Announcement>();
    send_sync::<TrackWriter>();
    send_sync::<GroupWriter>();
    send_sync::<ObjectWriter>();
    send_sync::<DatagramWriter>();
};

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

fn session_announce_async(
    session: &SessionBox,
    ns: &CxxVector<CxxString>,
    events: UniquePtr<ffi::TrackRequestEvents>,
) -> Box<PendingBox> {
    let events = Arc::new(events);
    let on_request: TrackRequestHandler = Arc::new(move |request: TrackRequest| {
        if let Some(events) = events.as_ref().as_ref() {
            events.on_track_requested(Box::new(TrackRequestBox {
                name: request.name().to_owned(),
                request: Mutex::new(Some(request)),
            }));
        }
    });
    pending::start("Session::announce_async", || {
        live_session(session, "Session::announce_async")?
            .announce_request(&namespace_of(ns)?, Some(on_request))
    })
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_announcement(
    result: Box<PendingResult>,
    status: &mut Status,
) -> Box<AnnouncementBox> {
    Box::new(AnnouncementBox(pending::answer(
        "announce", *result, status,
    )))
}

fn announcement_create_track(
    announcement: &AnnouncementBox,
    name: &[u8],
    options: &ffi::TrackParams,
    status: &mut Status,
) -> Box<TrackWriterBox> {
    let what = "Announcement::create_track";
    handle(what, status, TrackWriterBox, || {
        live(&announcement.0, what)?.create_track_with(name, &track_options(options))
    })
}

fn announcement_create_datagram_track(
    announcement: &AnnouncementBox,
    name: &[u8],
    status: &mut Status,
) -> Box<DatagramWriterBox> {
    let what = "Announcement::create_datagram_track";
    handle(what, status, DatagramWriterBox, || {
        live(&announcement.0, what)?.create_datagram_track(name)
    })
}

fn track_request_name(request: &TrackRequestBox) -> &str {
    &request.name
}

fn track_request_accept(
    request: &TrackRequestBox,
    options: &ffi::TrackParams,
    status: &mut Status,
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

fn track_begin_group(
    track: &TrackWriterBox,
    priority: u8,
    status: &mut Status,
) -> Box<GroupWriterBox> {
    let what = "TrackWriter::begin_group";
    handle(what, status, GroupWriterBox, || {
        live(&track.0, what)?.begin_group(priority)
    })
}

fn track_begin_subgroup(
    track: &TrackWriterBox,
    group_id: u64,
    subgroup_id: u64,
    priority: u8,
    status: &mut Status,
) -> Box<GroupWriterBox> {
    let what = "TrackWriter::begin_subgroup";
    handle(what, status, GroupWriterBox, || {
        live(&track.0, what)?.begin_subgroup(group_id, subgroup_id, priority)
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

fn track_flush(track: &TrackWriterBox, timeout_ms: u64) -> Status {
    let what = "TrackWriter::flush";
    guarded_status(what, || {
        live(&track.0, what)?.flush(Duration::from_millis(timeout_ms))
    })
}

fn group_id(group: &GroupWriterBox) -> u64 {
    group.0.as_ref().map_or(0, GroupWriter::group_id)
}

fn group_write_shared(group: &GroupWriterBox, payload: UniquePtr<PayloadOwner>) -> Status {
    let what = "GroupWriter::write";
    guarded_status(what, || {
        live(&group.0, what)?.write(foreign_payload(payload)?)
    })
}

fn group_write_received(
    group: &GroupWriterBox,
    payload: &PayloadBox,
    offset: usize,
    len: usize,
) -> Status {
    let what = "GroupWriter::write";
    guarded_status(what, || {
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= payload.0.len())
            .ok_or_else(|| Error::invalid_argument("the payload view lies outside its buffer"))?;
        live(&group.0, what)?.write(payload.0.slice(offset..end))
    })
}

fn group_write_object(
    group: &GroupWriterBox,
    params: &ObjectParams,
    payload: UniquePtr<PayloadOwner>,
) -> Status {
    let what = "GroupWriter::write";
    guarded_status(what, || {
        live(&group.0, what)?.write_object(
            object_id_of(params),
            foreign_payload(payload)?,
            &extensions_from_ffi(&params.extensions)?,
        )
    })
}

fn group_begin_object(
    group: &GroupWriterBox,
    params: &ObjectParams,
    size: u64,
    status: &mut Status,
) -> Box<ObjectWriterBox> {
    let what = "GroupWriter::begin_object";
    handle(what, status, ObjectWriterBox, || {
        let size = usize::try_from(size)
            .map_err(|_| Error::invalid_argument("object size does not fit in memory"))?;
        live(&group.0, what)?.begin_object(
            object_id_of(params),
            size,
            &extensions_from_ffi(&params.extensions)?,
        )
    })
}

fn group_write_marker(
    group: &GroupWriterBox,
    kind: ObjectStatusKind,
    has_object_id: bool,
    object_id: u64,
) -> Status {
    let what = "GroupWriter::end_group";
    guarded_status(what, || {
        let status = match kind {
            ObjectStatusKind::EndOfGroup => ObjectStatus::EndOfGroup,
            ObjectStatusKind::EndOfTrack => ObjectStatus::EndOfTrack,
            other => {
                return Err(Error::invalid_argument(format!(
                    "a marker ends a group or the track, not object status {}",
                    other.repr
                )))
            }
        };
        live(&group.0, what)?.write_marker(status, has_object_id.then_some(object_id))
    })
}

fn group_finish(group: &GroupWriterBox) -> Status {
    let what = "GroupWriter::finish";
    guarded_status(what, || live(&group.0, what)?.finish())
}

fn object_write(object: &ObjectWriterBox, chunk: UniquePtr<PayloadOwner>) -> Status {
    let what = "ObjectWriter::write";
    guarded_status(what, || {
        live(&object.0, what)?.write(foreign_payload(chunk)?)
    })
}

fn datagram_max_payload(writer: &DatagramWriterBox) -> usize {
    writer.0.as_ref().map_or(0, DatagramWriter::max_payload)
}

fn datagram_write(
    writer: &DatagramWriterBox,
    group_id: u64,
    object_id: u64,
    priority: u8,
    payload: UniquePtr<PayloadOwner>,
) -> Status {
    let what = "DatagramWriter::write";
    guarded_status(what, || {
        live(&writer.0, what)?.write(group_id, object_id, priority, foreign_payload(payload)?)
    })
}
