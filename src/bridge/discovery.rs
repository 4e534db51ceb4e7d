//! SUBSCRIBE_NAMESPACE: watching the namespaces under a prefix come and go
//! (engine: `crate::discovery`).

use cxx::{CxxString, CxxVector, UniquePtr};

use super::error::{status_of, Status};
use super::names::namespace_of;
use super::pending::{self, PendingBox, PendingResult};
use super::session::{live_session, SessionBox};
use crate::discovery::{NamespaceHandler, NamespaceWatch};
use crate::error::{Error, Result};
use crate::names::Namespace;

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    extern "C++" {
        include!("moq-ffi/src/bridge/error.rs.h");
        include!("moq-ffi/src/bridge/pending.rs.h");
        include!("moq-ffi/src/bridge/session.rs.h");
        type Status = crate::bridge::error::ffi::Status;
        type PendingBox = crate::bridge::pending::PendingBox;
        type PendingResult = crate::bridge::pending::PendingResult;
        type SessionBox = crate::bridge::session::SessionBox;
    }

    extern "Rust" {
        type NamespaceWatchBox;

        fn session_subscribe_namespace_async(
            session: &SessionBox,
            prefix: &CxxVector<CxxString>,
            events: UniquePtr<NamespaceEvents>,
        ) -> Box<PendingBox>;
        fn pending_result_namespace_watch(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<NamespaceWatchBox>;
    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        /// Receives a namespace watch's events and terminal event.
        type NamespaceEvents;

        fn on_added(self: &NamespaceEvents, ns: Vec<String>);
        fn on_removed(self: &NamespaceEvents, ns: Vec<String>);
        fn on_closed(self: &NamespaceEvents, status: &Status);
    }
}

/// Ends the watch when dropped.
pub struct NamespaceWatchBox(#[allow(dead_code)] Option<NamespaceWatch>);

// SAFETY: NamespaceEvents guards its state with a mutex: safe to move to and
// use from runtime threads.
unsafe impl Send for ffi::NamespaceEvents {}
unsafe impl Sync for ffi::NamespaceEvents {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<NamespaceWatch>();
};

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

fn session_subscribe_namespace_async(
    session: &SessionBox,
    prefix: &CxxVector<CxxString>,
    events: UniquePtr<ffi::NamespaceEvents>,
) -> Box<PendingBox> {
    let what = "Session::subscribe_namespace_async";
    pending::start(what, || {
        let session = live_session(session, what)?;
        if events.is_null() {
            return Err(Error::invalid_argument("namespace events are null"));
        }
        session.subscribe_namespace_request(
            &namespace_of(prefix)?,
            Box::new(CppNamespaceHandler(events)),
        )
    })
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_namespace_watch(
    result: Box<PendingResult>,
    status: &mut Status,
) -> Box<NamespaceWatchBox> {
    Box::new(NamespaceWatchBox(pending::answer(
        "subscribe_namespace",
        *result,
        status,
    )))
}
