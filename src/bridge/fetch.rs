//! FETCH, standalone and joining a subscription (engine: `crate::fetch`).
//! The objects and the terminal event go to a `SubscriptionEvents`, like a
//! subscription's.

use cxx::{CxxString, CxxVector, UniquePtr};

use super::error::Status;
use super::names::namespace_of;
use super::pending::{self, PendingBox, PendingResult};
use super::session::{live_session, SessionBox};
use super::subscribe::{live_subscription, CppObjectHandler, SubscriptionBox, SubscriptionEvents};
use crate::error::Error;
use crate::fetch::{Fetch, FetchRange};

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
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

    extern "C++" {
        include!("moq-ffi/src/bridge/error.rs.h");
        include!("moq-ffi/src/bridge/pending.rs.h");
        include!("moq-ffi/src/bridge/session.rs.h");
        include!("moq-ffi/src/bridge/subscribe.rs.h");
        type Status = crate::bridge::error::ffi::Status;
        type PendingBox = crate::bridge::pending::PendingBox;
        type PendingResult = crate::bridge::pending::PendingResult;
        type SessionBox = crate::bridge::session::SessionBox;
        type SubscriptionBox = crate::bridge::subscribe::SubscriptionBox;
        type SubscriptionEvents = crate::bridge::subscribe::ffi::SubscriptionEvents;
    }

    extern "Rust" {
        type FetchBox;

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
        fn pending_result_fetch(result: Box<PendingResult>, status: &mut Status) -> Box<FetchBox>;
        fn fetch_end(fetch: &FetchBox) -> FetchEnd;
    }
}

/// Cancels the fetch when dropped.
pub struct FetchBox(Option<Fetch>);

// C++ may use one handle from several threads at once.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Fetch>();
};

fn session_fetch_async(
    session: &SessionBox,
    ns: &CxxVector<CxxString>,
    track: &[u8],
    range: &ffi::FetchParams,
    events: UniquePtr<SubscriptionEvents>,
) -> Box<PendingBox> {
    pending::start("Session::fetch_async", || {
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
    })
}

fn session_joining_fetch_async(
    session: &SessionBox,
    subscription: &SubscriptionBox,
    groups_before: u64,
    events: UniquePtr<SubscriptionEvents>,
) -> Box<PendingBox> {
    let what = "Session::joining_fetch_async";
    pending::start(what, || {
        let session = live_session(session, what)?;
        let subscription = live_subscription(subscription, what)?;
        if events.is_null() {
            return Err(Error::invalid_argument("fetch events are null"));
        }
        session.joining_fetch_request(
            subscription,
            groups_before,
            Box::new(CppObjectHandler(events)),
        )
    })
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_fetch(result: Box<PendingResult>, status: &mut Status) -> Box<FetchBox> {
    Box::new(FetchBox(pending::answer("fetch", *result, status)))
}

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
