//! PUBLISH both ways: a single track sent without an announcement, and the
//! peer's PUBLISHes offered to C++ (engine: `crate::publish_track`).

use cxx::{CxxString, CxxVector, UniquePtr};

use super::error::{handle, live, Status};
use super::names::namespace_of;
use super::pending::{self, PendingBox, PendingResult};
use super::publish::GroupWriterBox;
use super::session::{live_session, SessionBox};
use super::subscribe::CppObjectHandler;
use crate::error::Error;
use crate::names::Namespace;
use crate::publish_track::{PublishHandler, PublishListener, PublishedTrack};
use crate::subscribe::ObjectHandler;

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    extern "C++" {
        include!("moq-ffi/src/bridge/error.rs.h");
        include!("moq-ffi/src/bridge/pending.rs.h");
        include!("moq-ffi/src/bridge/publish.rs.h");
        include!("moq-ffi/src/bridge/session.rs.h");
        include!("moq-ffi/src/bridge/subscribe.rs.h");
        type Status = crate::bridge::error::ffi::Status;
        type PendingBox = crate::bridge::pending::PendingBox;
        type PendingResult = crate::bridge::pending::PendingResult;
        type GroupWriterBox = crate::bridge::publish::GroupWriterBox;
        type SessionBox = crate::bridge::session::SessionBox;
        type SubscriptionEvents = crate::bridge::subscribe::ffi::SubscriptionEvents;
    }

    extern "Rust" {
        type PublishedTrackBox;
        type PublishListenerBox;

        fn session_publish_track_async(
            session: &SessionBox,
            ns: &CxxVector<CxxString>,
            name: &[u8],
        ) -> Box<PendingBox>;
        fn pending_result_published_track(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<PublishedTrackBox>;
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
}

pub struct PublishedTrackBox(Option<PublishedTrack>);
/// Stops offering PUBLISHes to C++ when dropped.
pub struct PublishListenerBox(#[allow(dead_code)] Option<PublishListener>);

// SAFETY: PublishEvents guards its state with a mutex: safe to move to and
// use from runtime threads.
unsafe impl Send for ffi::PublishEvents {}
unsafe impl Sync for ffi::PublishEvents {}

// C++ may use one handle from several threads at once.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<PublishedTrack>();
    send_sync::<PublishListener>();
};

fn session_publish_track_async(
    session: &SessionBox,
    ns: &CxxVector<CxxString>,
    name: &[u8],
) -> Box<PendingBox> {
    pending::start("Session::publish_track_async", || {
        live_session(session, "Session::publish_track_async")?
            .publish_track_request(&namespace_of(ns)?, name)
    })
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_published_track(
    result: Box<PendingResult>,
    status: &mut Status,
) -> Box<PublishedTrackBox> {
    Box::new(PublishedTrackBox(pending::answer(
        "publish_track",
        *result,
        status,
    )))
}

fn published_track_begin_group(
    track: &PublishedTrackBox,
    priority: u8,
    status: &mut Status,
) -> Box<GroupWriterBox> {
    let what = "PublishedTrack::begin_group";
    handle(what, status, GroupWriterBox, || {
        live(&track.0, what)?.begin_group(priority)
    })
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
    status: &mut Status,
) -> Box<PublishListenerBox> {
    handle("Session::on_publish", status, PublishListenerBox, || {
        let session = live_session(session, "Session::on_publish")?;
        if events.is_null() {
            return Err(Error::invalid_argument("publish events are null"));
        }
        session.on_publish(Box::new(CppPublishHandler(events)))
    })
}
