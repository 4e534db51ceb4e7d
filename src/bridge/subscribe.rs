//! Subscriptions: SUBSCRIBE with its options, objects pushed to C++ or pulled
//! by it, and their stats (engine: `crate::subscribe`). `CppObjectHandler`
//! also delivers fetches and tracks accepted from a PUBLISH.

use std::time::Duration;

use cxx::{CxxString, CxxVector, UniquePtr};

use super::bytes::PayloadBox;
use super::error::{guarded, live, ok, status_of, Status};
use super::named_across_bridges;
use super::names::namespace_of;
use super::object::{to_ffi_object, ObjectHeader};
use super::pending::{self, PendingBox, PendingResult};
use super::session::{live_session, SessionBox};
use crate::error::{Code, Error, Result};
use crate::inbox::{Overflow, ReceiveBudget};
use crate::subscribe::{
    Filter, GroupOrder, ObjectHandler, ReceivedObject, SubscribeOptions, Subscription,
};

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
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
        max_arriving_bytes: u64,
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

    extern "C++" {
        include!("moq-ffi/src/bridge/error.rs.h");
        include!("moq-ffi/src/bridge/bytes.rs.h");
        include!("moq-ffi/src/bridge/object.rs.h");
        include!("moq-ffi/src/bridge/pending.rs.h");
        include!("moq-ffi/src/bridge/session.rs.h");
        type Status = crate::bridge::error::ffi::Status;
        type PayloadBox = crate::bridge::bytes::PayloadBox;
        type ObjectHeader = crate::bridge::object::ffi::ObjectHeader;
        type PendingBox = crate::bridge::pending::PendingBox;
        type PendingResult = crate::bridge::pending::PendingResult;
        type SessionBox = crate::bridge::session::SessionBox;
    }

    extern "Rust" {
        type SubscriptionBox;

        fn session_subscribe_async(
            session: &SessionBox,
            ns: &CxxVector<CxxString>,
            track: &[u8],
            params: &SubscribeParams,
            events: UniquePtr<SubscriptionEvents>,
        ) -> Box<PendingBox>;
        fn pending_result_subscription(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<SubscriptionBox>;

        /// Pull mode: the next object (status Ok). `poll`: only if one is
        /// queued now (never blocks); otherwise waits up to `wait_ms`
        /// (`forever`: without end). Otherwise status Timeout (nothing came),
        /// Closed / Lagging / EndOfTrack (ended), WouldBlock, InvalidArgument.
        fn subscription_next(
            subscription: &SubscriptionBox,
            poll: bool,
            wait_ms: u64,
            forever: bool,
            header: &mut ObjectHeader,
            status: &mut Status,
        ) -> Box<PayloadBox>;
        fn subscription_stats(subscription: &SubscriptionBox) -> SubscriptionCounters;
    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        /// Receives the objects and terminal event of a subscription, a
        /// fetch, or a track accepted from a PUBLISH.
        type SubscriptionEvents;

        fn on_object(self: &SubscriptionEvents, header: &ObjectHeader, payload: Box<PayloadBox>);
        fn on_closed(self: &SubscriptionEvents, status: &Status);
    }

    // The fetch and publish_track bridges hand these over too.
    impl UniquePtr<SubscriptionEvents> {}
}

pub use ffi::SubscriptionEvents;

pub struct SubscriptionBox(Option<Subscription>);
named_across_bridges!(SubscriptionBox, "moq::ffi::SubscriptionBox");

// SAFETY: SubscriptionEvents guards its state with a mutex: safe to move to
// and use from runtime threads.
unsafe impl Send for SubscriptionEvents {}
unsafe impl Sync for SubscriptionEvents {}

// C++ may use one handle from several threads at once.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Subscription>();
};

/// The subscription of a box that another bridge's entry was given.
pub fn live_subscription<'a>(
    subscription: &'a SubscriptionBox,
    what: &str,
) -> Result<&'a Subscription> {
    live(&subscription.0, what)
}

/// Delivers objects and the terminal event to a C++ `SubscriptionEvents`.
pub struct CppObjectHandler(pub UniquePtr<SubscriptionEvents>);

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
            max_arriving_bytes: usize::try_from(p.max_arriving_bytes).unwrap_or(usize::MAX),
        },
        reorder_window: Duration::from_millis(p.reorder_window_ms),
    })
}

fn session_subscribe_async(
    session: &SessionBox,
    ns: &CxxVector<CxxString>,
    track: &[u8],
    params: &ffi::SubscribeParams,
    events: UniquePtr<SubscriptionEvents>,
) -> Box<PendingBox> {
    pending::start("Session::subscribe_async", || {
        live_session(session, "Session::subscribe_async")?.subscribe_request(
            &namespace_of(ns)?,
            track,
            &subscribe_options(params)?,
            Box::new(CppObjectHandler(events)),
        )
    })
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_subscription(
    result: Box<PendingResult>,
    status: &mut Status,
) -> Box<SubscriptionBox> {
    Box::new(SubscriptionBox(pending::answer(
        "subscribe",
        *result,
        status,
    )))
}

fn subscription_next(
    subscription: &SubscriptionBox,
    poll: bool,
    wait_ms: u64,
    forever: bool,
    header: &mut ObjectHeader,
    status: &mut Status,
) -> Box<PayloadBox> {
    let result = guarded("Subscription::next", || {
        let subscription = live_subscription(subscription, "Subscription::next")?;
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
            *status = status_of::<()>(&Err(e));
            Box::new(PayloadBox(::bytes::Bytes::new()))
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
