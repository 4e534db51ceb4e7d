//! Delivering received objects to their user: subscriptions, fetches and
//! accepted PUBLISH tracks alike. The network task (on the runtime) feeds the
//! handle's bounded [`Inbox`]; in push mode the handle's [`Strand`] drains it
//! into the user's [`ObjectHandler`] on a callback thread, in pull mode the
//! user takes objects from it. The one terminal event is the strand's final
//! job, after every object: then the handler is released.

use std::sync::Arc;
use std::time::Duration;

use crate::dispatch::Strand;
use crate::error::{Code, Error, Result};
use crate::inbox::{Inbox, InboxStats, Offered, ReceiveBudget};
use crate::quic_adapter::ReadGate;
use crate::subscribe::{ObjectHandler, ReceivedObject};

/// The delivery of one handle, shared by its network task and the handle.
#[derive(Clone)]
pub(crate) struct Delivery {
    inbox: Arc<Inbox>,
    strand: Strand<Box<dyn ObjectHandler>>,
    push: bool,
    /// Shut while the inbox is full under `Overflow::Pause`, if the stream
    /// is read by the session eagerly (subscriptions; a FETCH response is
    /// read only as it is taken, so waiting suffices there).
    gate: Option<Arc<ReadGate>>,
}

impl Delivery {
    /// `push`: objects go to `handler.on_object`; otherwise they wait in the
    /// inbox for [`Delivery::try_take`] / [`Delivery::wait_take`]. Either way
    /// `handler.on_closed` is the terminal event.
    pub(crate) fn new(handler: Box<dyn ObjectHandler>, budget: ReceiveBudget, push: bool) -> Self {
        Self {
            inbox: Arc::new(Inbox::new(budget)),
            strand: Strand::new(handler),
            push,
            gate: None,
        }
    }

    /// While this delivery pauses, hold back the session's data streams.
    pub(crate) fn pausing(mut self, gate: Arc<ReadGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Network side: hands one object over. `Ok(true)`: go on reading its
    /// stream; `Ok(false)`: its group was dropped to stay in the budget, so
    /// stop reading that stream; `Err`: the subscription must end (it lags
    /// behind, or the handle was closed).
    pub(crate) async fn object(&self, mut object: ReceivedObject) -> Result<bool> {
        // Held while the inbox is full (Overflow::Pause).
        let mut paused = None;
        loop {
            match self.inbox.offer(object) {
                Offered::Queued { wake } => {
                    if wake && self.push {
                        schedule_drain(&self.strand, self.inbox.clone());
                    }
                    return Ok(true);
                }
                Offered::Dropped => return Ok(false),
                Offered::Lagging => return Err(lagging()),
                Offered::Full(back) => {
                    if self.strand.is_closed() {
                        return Err(Error::closed("the handle was destroyed"));
                    }
                    if paused.is_none() {
                        paused = self.gate.as_ref().map(|gate| gate.pause());
                    }
                    object = back;
                    // Bounded, so a handle destroyed meanwhile is noticed.
                    let _ =
                        tokio::time::timeout(Duration::from_millis(100), self.inbox.room()).await;
                }
            }
        }
    }

    /// Network side: the end. What is queued is still delivered (push) or
    /// left to take (pull); then the terminal event, and the handler goes.
    pub(crate) fn finish(&self, result: Result<()>) {
        self.inbox.finish(result.clone());
        let inbox = self.inbox.clone();
        let push = self.push;
        let strand = self.strand.clone();
        self.strand.post_final(move |handler| {
            if push {
                while let Some(object) = inbox.take_or_stop() {
                    handler.on_object(object);
                    if strand.is_stopped() {
                        return; // destroyed from that callback
                    }
                }
            }
            handler.on_closed(result);
        });
    }

    /// Its terminal event has run (or the handle was closed): nothing of it
    /// is left to stop.
    pub(crate) fn is_done(&self) -> bool {
        self.strand.is_stopped()
    }

    /// Handle side: no callback starts after this; see [`Strand::close`].
    pub(crate) fn close(&self) {
        self.strand.close();
    }

    pub(crate) fn try_take(&self) -> Option<ReceivedObject> {
        self.inbox.try_take()
    }

    pub(crate) fn wait_take(&self, timeout: Duration) -> Result<ReceivedObject> {
        self.inbox.wait_take(timeout)
    }

    /// Network side: what the track's open streams may hold, see
    /// [`Inbox::in_flight_limit`].
    pub(crate) fn in_flight_limit(&self) -> Option<u64> {
        self.inbox.in_flight_limit()
    }

    /// Network side: a group in progress was dropped, see
    /// [`Inbox::dropped_in_flight`].
    pub(crate) fn dropped_in_flight(&self, group: u64) {
        self.inbox.dropped_in_flight(group);
    }

    /// Network side: `Err(Lagging)` once a group in progress was dropped
    /// under `EndWithLag` (checked as each stream ends; the next object
    /// would be refused anyway).
    pub(crate) fn check_lag(&self) -> Result<()> {
        if self.inbox.lagged() {
            return Err(Error::new(
                Code::Lagging,
                "the subscriber fell behind: the groups still arriving held more than \
                 ReceiveBudget::max_arriving_bytes, and its overflow policy ends the \
                 subscription (raise it, or use Overflow::DropOldestGroups)",
            ));
        }
        Ok(())
    }

    /// Network side: one of the track's subgroup streams ended early.
    pub(crate) fn stream_reset(&self) {
        self.inbox.stream_reset();
    }

    /// Network side: a group was given up to keep ascending order.
    pub(crate) fn group_skipped(&self) {
        self.inbox.group_skipped();
    }

    /// Network side: the connection was lost; see [`Inbox::connection_lost`].
    pub(crate) fn connection_lost(&self) -> Option<u64> {
        self.inbox.connection_lost()
    }

    /// Network side: subscribed again after a lost connection.
    pub(crate) fn resumed(&self) {
        self.inbox.resumed();
    }

    pub(crate) fn stats(&self) -> InboxStats {
        self.inbox.stats()
    }

    pub(crate) fn is_push(&self) -> bool {
        self.push
    }
}

fn lagging() -> Error {
    Error::new(
        Code::Lagging,
        "the subscriber fell behind: its receive budget filled up, and its overflow policy \
         ends the subscription (ReceiveBudget)",
    )
}

/// Objects one drain job hands over before it makes way for other jobs on its
/// callback thread (it posts a new drain job for the rest).
const OBJECTS_PER_DRAIN: usize = 64;

/// Posts a drain job: queued objects, in order, to the handler.
fn schedule_drain(strand: &Strand<Box<dyn ObjectHandler>>, inbox: Arc<Inbox>) {
    let again = strand.clone();
    strand.post(move |handler| {
        for _ in 0..OBJECTS_PER_DRAIN {
            match inbox.take_or_stop() {
                Some(object) => handler.on_object(object),
                None => return,
            }
            if again.is_stopped() {
                return; // destroyed from that callback
            }
        }
        schedule_drain(&again, inbox);
    });
}
