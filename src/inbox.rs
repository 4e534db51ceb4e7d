//! A subscription's inbox: the bounded queue between its network task and
//! its user (the callback strand in push mode, `try_next`/`next` in pull mode).
//!
//! It holds at most [`ReceiveBudget::max_bytes`] (payloads and decoded
//! extensions) and [`ReceiveBudget::max_objects`] objects. What happens to an object that
//! does not fit is the budget's [`Overflow`] policy, and every object the
//! inbox drops is counted ([`InboxStats`]).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Code, Error, Result};
use crate::subscribe::ReceivedObject;

/// What a full inbox does with the next object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Drop whole groups, oldest first, until the object fits (live media:
    /// the newest data matters most, and a group is only useful whole).
    #[default]
    DropOldestGroups,
    /// End the subscription with [`Code::Lagging`]: the subscriber fell behind.
    EndWithLag,
    /// Stop taking objects from the network until there is room again.
    Pause,
}

/// A subscription's limits between the network and the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveBudget {
    /// Bytes queued at most: payloads, and extensions as decoded (an object
    /// larger than this on its own is dropped, or ends the subscription with
    /// `EndWithLag`).
    pub max_bytes: usize,
    /// Objects queued at most.
    pub max_objects: usize,
    pub overflow: Overflow,
    /// Bytes the track's groups still arriving may hold in all (the engine
    /// keeps a subgroup's bytes until its stream ends), never less than one
    /// group of `SessionConfig::max_group_bytes`; past it the oldest groups
    /// in progress are dropped, or, with `EndWithLag`, the subscription
    /// ends. Not applied under `Pause`.
    pub max_arriving_bytes: usize,
}

impl Default for ReceiveBudget {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_objects: 65536,
            overflow: Overflow::DropOldestGroups,
            max_arriving_bytes: 256 * 1024 * 1024,
        }
    }
}

impl ReceiveBudget {
    pub fn validate(&self) -> Result<()> {
        if self.max_bytes == 0 || self.max_objects == 0 || self.max_arriving_bytes == 0 {
            return Err(Error::invalid_argument(
                "the receive budget's max_bytes, max_objects and max_arriving_bytes must be \
                 positive",
            ));
        }
        Ok(())
    }
}

/// Counters of one inbox. `objects + dropped_objects` is every object that
/// arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxStats {
    /// Objects delivered, or queued for the user (not those dropped later).
    pub objects: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Pieces their payloads arrived in.
    pub chunks: u64,
    /// Groups dropped (whole, or the rest of them) to stay in the budget.
    pub dropped_groups: u64,
    /// Objects dropped with them.
    pub dropped_objects: u64,
    /// Subgroup streams that ended before their end: reset by the publisher
    /// or the relay, or refused for their size (SessionStats::objects_refused).
    pub streams_reset: u64,
    /// Groups given up to keep ascending group order (GroupOrder::Ascending):
    /// late, or not ended within the reorder window.
    pub skipped_groups: u64,
    /// Times the subscription was made again on a new connection of its
    /// session (reconnect policy), each a gap in what was received.
    pub resumptions: u64,
    /// The last gap: the largest group received before it (`None`: none
    /// was) ...
    pub gap_after_group: Option<u64>,
    /// ... and the first group received after it (`None`: none yet). The
    /// groups between the two may be missing.
    pub gap_before_group: Option<u64>,
}

/// What [`Inbox::offer`] did with an object.
#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    /// Queued; `wake` asks the caller to schedule the consumer (push mode: a
    /// drain job on the strand), because nothing is scheduled yet.
    Queued { wake: bool },
    /// Dropped: its group was dropped to stay in the budget.
    Dropped,
    /// No room, and the policy says to end the subscription.
    Lagging,
    /// No room, and the policy says to wait: try again after [`Inbox::room`].
    Full(ReceivedObject),
}

/// How many dropped group ids are remembered, so that objects arriving later
/// for a dropped group are dropped too (a group is only useful whole).
const REMEMBERED_DROPS: usize = 256;

pub struct Inbox {
    budget: ReceiveBudget,
    state: Mutex<State>,
    /// Pull mode: an object arrived or the subscription ended.
    arrived: Condvar,
    /// Pause policy: room was made.
    room: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    queue: VecDeque<ReceivedObject>,
    bytes: usize,
    dropped_recently: VecDeque<u64>,
    stats: InboxStats,
    /// A consumer (drain job) is scheduled and will take what is queued.
    draining: bool,
    /// The network side ended: this is how.
    end: Option<Result<()>>,
    /// The largest group accepted so far.
    largest_group: Option<u64>,
    /// Groups below this are not accepted (after a resumption: they were
    /// received, or given up, before the gap).
    floor: u64,
    /// A resumption happened and no object was accepted since.
    in_gap: bool,
    /// A group in progress was dropped under `EndWithLag`: the subscription
    /// ends (see [`Inbox::dropped_in_flight`]).
    lagged: bool,
    /// Pull-mode threads waiting on `arrived`: a notify is a system call
    /// even when nobody waits, so an offer makes one only for them.
    pull_waiters: usize,
}

impl Inbox {
    pub fn new(budget: ReceiveBudget) -> Self {
        Self {
            budget,
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            room: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes an object from the network side.
    pub fn offer(&self, object: ReceivedObject) -> Offered {
        let size = object.memory();
        let mut state = self.lock();
        if state.lagged {
            return Offered::Lagging;
        }
        if object.group_id < state.floor {
            return Offered::Dropped; // from before a gap: delivered, or given up
        }
        if state.dropped_recently.contains(&object.group_id) {
            state.stats.dropped_objects += 1;
            return Offered::Dropped;
        }
        if size > self.budget.max_bytes {
            // It can never fit: its group is dropped (the rest of the queue is
            // not), or, with EndWithLag, the subscription ends.
            if self.budget.overflow == Overflow::EndWithLag {
                return Offered::Lagging;
            }
            Self::remember_drop(&mut state, object.group_id);
            state.stats.dropped_groups += 1;
            state.stats.dropped_objects += 1;
            return Offered::Dropped;
        }
        let fits = |state: &State| {
            state.queue.len() < self.budget.max_objects
                && state.bytes.saturating_add(size) <= self.budget.max_bytes
        };
        if !fits(&state) {
            match self.budget.overflow {
                Overflow::EndWithLag => return Offered::Lagging,
                Overflow::Pause => return Offered::Full(object),
                Overflow::DropOldestGroups => {
                    while !fits(&state) {
                        let Some(oldest) = state.queue.front().map(|o| o.group_id) else {
                            break;
                        };
                        Self::drop_group(&mut state, oldest);
                    }
                    // The new object's own group may have been the oldest.
                    if state.dropped_recently.contains(&object.group_id) {
                        state.stats.dropped_objects += 1;
                        return Offered::Dropped;
                    }
                }
            }
        }
        if state.in_gap {
            state.in_gap = false;
            state.stats.gap_before_group = Some(object.group_id);
        }
        state.largest_group = state.largest_group.max(Some(object.group_id));
        state.stats.objects += 1;
        state.stats.bytes += object.payload.len() as u64;
        state.stats.chunks += u64::from(object.chunks);
        state.bytes += size;
        state.queue.push_back(object);
        // The object was made on this thread and is taken on another.
        crate::tsan::release(self);
        let wake = !state.draining;
        state.draining = true;
        let wake_pull = state.pull_waiters > 0;
        drop(state);
        if wake_pull {
            self.arrived.notify_all();
        }
        Offered::Queued { wake }
    }

    fn drop_group(state: &mut State, group: u64) {
        let before = state.queue.len();
        let (mut freed, mut freed_payload, mut chunks) = (0, 0, 0u64);
        state.queue.retain(|o| {
            let keep = o.group_id != group;
            if !keep {
                freed += o.memory();
                freed_payload += o.payload.len();
                chunks += u64::from(o.chunks);
            }
            keep
        });
        let dropped = (before - state.queue.len()) as u64;
        state.bytes -= freed;
        // Counted as dropped now, no longer as accepted.
        state.stats.objects -= dropped;
        state.stats.bytes -= freed_payload as u64;
        state.stats.chunks -= chunks;
        state.stats.dropped_objects += dropped;
        state.stats.dropped_groups += 1;
        Self::remember_drop(state, group);
    }

    fn remember_drop(state: &mut State, group: u64) {
        if state.dropped_recently.len() == REMEMBERED_DROPS {
            state.dropped_recently.pop_front();
        }
        state.dropped_recently.push_back(group);
    }

    /// Completes when there may be room (Pause policy).
    pub async fn room(&self) {
        self.room.notified().await;
    }

    /// Records how the network side ended. Objects still queued stay
    /// available; `end` is reported once they are taken.
    pub fn finish(&self, result: Result<()>) {
        let mut state = self.lock();
        if state.end.is_none() {
            state.end = Some(result);
        }
        drop(state);
        self.arrived.notify_all();
    }

    /// Push mode: the next object for the drain job, or None (and the drain
    /// job is done: the next offer schedules a new one).
    pub fn take_or_stop(&self) -> Option<ReceivedObject> {
        let mut state = self.lock();
        let object = self.pop(&mut state);
        if object.is_none() {
            state.draining = false;
        }
        object
    }

    /// Pull mode: the next object if one is queued.
    pub fn try_take(&self) -> Option<ReceivedObject> {
        let mut state = self.lock();
        self.pop(&mut state)
    }

    /// Pull mode: waits up to `timeout` for an object. `Err(Closed)` once the
    /// subscription has ended and nothing is queued (the message says how it
    /// ended), `Err(Timeout)` if nothing came.
    pub fn wait_take(&self, timeout: Duration) -> Result<ReceivedObject> {
        // A timeout too large to add to now (e.g. "forever") waits without end.
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        loop {
            if let Some(object) = self.pop(&mut state) {
                return Ok(object);
            }
            if let Some(end) = &state.end {
                return Err(match end {
                    Ok(()) => Error::new(
                        Code::EndOfTrack,
                        "the publisher ended the track, and every object was taken",
                    ),
                    Err(e) => Error::new(
                        if e.code == Code::Lagging {
                            Code::Lagging
                        } else {
                            Code::Closed
                        },
                        format!("the subscription has ended: {}", e.message),
                    ),
                });
            }
            let left = match deadline {
                None => None,
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Error::new(
                            Code::Timeout,
                            format!("no object arrived within {} ms", timeout.as_millis()),
                        ));
                    }
                    Some(deadline - now)
                }
            };
            state.pull_waiters += 1;
            state = match left {
                None => self.arrived.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(left) => {
                    self.arrived
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            state.pull_waiters -= 1;
        }
    }

    fn pop(&self, state: &mut State) -> Option<ReceivedObject> {
        let object = state.queue.pop_front()?;
        crate::tsan::acquire(self);
        state.bytes -= object.memory();
        self.room.notify_one();
        Some(object)
    }

    pub fn stats(&self) -> InboxStats {
        self.lock().stats
    }

    /// What the track's open streams may hold while their objects arrive
    /// (stream_guard.rs `InFlight`); `None` under `Pause`, which drops
    /// nothing and holds the peer back instead.
    pub fn in_flight_limit(&self) -> Option<u64> {
        (self.budget.overflow != Overflow::Pause).then_some(self.budget.max_arriving_bytes as u64)
    }

    /// The network side dropped `group` while it arrived, its streams held
    /// more than [`Inbox::in_flight_limit`]: counted like a budget drop (its
    /// object in progress with it), or, under `EndWithLag`, the end.
    pub fn dropped_in_flight(&self, group: u64) {
        let mut state = self.lock();
        if self.budget.overflow == Overflow::EndWithLag {
            state.lagged = true;
            return;
        }
        if state.dropped_recently.contains(&group) {
            return;
        }
        Self::remember_drop(&mut state, group);
        state.stats.dropped_groups += 1;
        state.stats.dropped_objects += 1;
    }

    /// A group in progress was dropped under `EndWithLag`.
    pub fn lagged(&self) -> bool {
        self.lock().lagged
    }

    /// A group was given up to keep ascending order.
    pub fn group_skipped(&self) {
        self.lock().stats.skipped_groups += 1;
    }

    /// The connection was lost: returns the group to resume from (the one
    /// after the largest accepted, if any), below which nothing is accepted
    /// any more.
    pub fn connection_lost(&self) -> Option<u64> {
        let mut state = self.lock();
        let resume = state.largest_group.map(|g| g.saturating_add(1));
        state.floor = state.floor.max(resume.unwrap_or(0));
        resume
    }

    /// The subscription was made again on a new connection: a gap begins.
    pub fn resumed(&self) {
        let mut state = self.lock();
        state.stats.resumptions += 1;
        state.stats.gap_after_group = state.largest_group;
        state.stats.gap_before_group = None;
        state.in_gap = true;
    }

    /// A subgroup stream ended early (see [`InboxStats::streams_reset`]).
    pub fn stream_reset(&self) {
        self.lock().stats.streams_reset += 1;
    }

    /// How the network side ended, if it has.
    pub fn end(&self) -> Option<Result<()>> {
        self.lock().end.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;

    fn object(group: u64, id: u64, size: usize) -> ReceivedObject {
        ReceivedObject::new(group, 0, id, 0, Bytes::from(vec![0u8; size]))
    }

    fn budget(max_bytes: usize, max_objects: usize, overflow: Overflow) -> ReceiveBudget {
        ReceiveBudget {
            max_bytes,
            max_objects,
            overflow,
            max_arriving_bytes: 2000,
        }
    }

    fn queued(inbox: &Inbox) -> Vec<(u64, u64)> {
        std::iter::from_fn(|| inbox.try_take())
            .map(|o| (o.group_id, o.object_id))
            .collect()
    }

    #[test]
    fn a_group_dropped_in_progress_is_counted_once_and_never_delivered() {
        let inbox = Inbox::new(budget(1000, 100, Overflow::DropOldestGroups));
        assert_eq!(inbox.in_flight_limit(), Some(2000));
        inbox.dropped_in_flight(4);
        inbox.dropped_in_flight(4);
        // An object of it that was complete in the engine arrives late.
        assert_eq!(inbox.offer(object(4, 0, 10)), Offered::Dropped);
        assert!(matches!(
            inbox.offer(object(5, 0, 10)),
            Offered::Queued { .. }
        ));
        let stats = inbox.stats();
        assert_eq!((stats.dropped_groups, stats.dropped_objects), (1, 2));
        assert_eq!(queued(&inbox), vec![(5, 0)]);
    }

    #[test]
    fn a_group_dropped_in_progress_ends_an_end_with_lag_subscription() {
        let inbox = Inbox::new(budget(1000, 100, Overflow::EndWithLag));
        inbox.dropped_in_flight(4);
        assert!(inbox.lagged());
        assert_eq!(inbox.offer(object(5, 0, 10)), Offered::Lagging);
        assert_eq!(inbox.stats().dropped_groups, 0, "nothing dropped silently");
        // Pause drops nothing: no bound on what arrives.
        let paused = Inbox::new(budget(1000, 100, Overflow::Pause));
        assert_eq!(paused.in_flight_limit(), None);
    }

    #[test]
    fn a_full_inbox_drops_whole_oldest_groups_and_later_objects_of_them() {
        let inbox = Inbox::new(budget(1000, 100, Overflow::DropOldestGroups));
        for id in 0..3 {
            assert!(matches!(
                inbox.offer(object(1, id, 200)),
                Offered::Queued { .. }
            ));
        }
        assert!(matches!(
            inbox.offer(object(2, 0, 300)),
            Offered::Queued { .. }
        ));
        // 900 bytes queued: the next 300 do not fit, group 1 goes (3 objects).
        assert!(matches!(
            inbox.offer(object(2, 1, 300)),
            Offered::Queued { .. }
        ));
        // A late object of the dropped group is dropped too.
        assert_eq!(inbox.offer(object(1, 3, 10)), Offered::Dropped);
        let stats = inbox.stats();
        assert_eq!((stats.dropped_groups, stats.dropped_objects), (1, 4));
        assert_eq!(
            (stats.objects, stats.bytes),
            (2, 600),
            "dropped ones are not counted"
        );
        assert_eq!(queued(&inbox), vec![(2, 0), (2, 1)]);
    }

    #[test]
    fn extensions_count_against_the_byte_budget() {
        // Objects without payload but with many extensions: what they hold
        // decoded is what fills the budget.
        let heavy = |group| {
            let mut o = object(group, 0, 0);
            o.extensions = (0..10)
                .map(|key| crate::object::Extension {
                    key: 2 * key + 1,
                    value: crate::object::ExtensionValue::Bytes(vec![0; 100]),
                })
                .collect();
            o
        };
        let one = heavy(1).memory();
        assert!(one >= 1000, "{one}");
        let inbox = Inbox::new(budget(2 * one, 100, Overflow::DropOldestGroups));
        for group in 1..=3 {
            inbox.offer(heavy(group));
        }
        assert_eq!(queued(&inbox), vec![(2, 0), (3, 0)]);
        let stats = inbox.stats();
        assert_eq!(
            (stats.dropped_groups, stats.bytes),
            (1, 0),
            "bytes counts payload"
        );
    }

    #[test]
    fn the_object_budget_counts_too() {
        let inbox = Inbox::new(budget(1 << 20, 2, Overflow::DropOldestGroups));
        inbox.offer(object(1, 0, 1));
        inbox.offer(object(2, 0, 1));
        inbox.offer(object(3, 0, 1));
        assert_eq!(queued(&inbox), vec![(2, 0), (3, 0)]);
        assert_eq!(inbox.stats().dropped_objects, 1);
    }

    #[test]
    fn an_object_larger_than_the_budget_is_dropped_with_its_group() {
        let inbox = Inbox::new(budget(100, 10, Overflow::DropOldestGroups));
        inbox.offer(object(1, 0, 50));
        assert_eq!(inbox.offer(object(2, 0, 101)), Offered::Dropped);
        assert_eq!(inbox.offer(object(2, 1, 1)), Offered::Dropped);
        assert_eq!(queued(&inbox), vec![(1, 0)]);
    }

    #[test]
    fn end_with_lag_and_pause_leave_the_queue_alone() {
        let lag = Inbox::new(budget(100, 10, Overflow::EndWithLag));
        lag.offer(object(1, 0, 80));
        assert_eq!(lag.offer(object(2, 0, 80)), Offered::Lagging);
        assert_eq!(queued(&lag), vec![(1, 0)]);

        let pause = Inbox::new(budget(100, 10, Overflow::Pause));
        pause.offer(object(1, 0, 80));
        let Offered::Full(back) = pause.offer(object(2, 0, 80)) else {
            panic!("a paused inbox gives the object back");
        };
        assert_eq!(back.group_id, 2);
        assert!(pause.try_take().is_some());
        assert!(matches!(pause.offer(back), Offered::Queued { .. }));
    }

    #[test]
    fn the_drain_job_is_scheduled_once_until_it_stops() {
        let inbox = Inbox::new(ReceiveBudget::default());
        assert_eq!(inbox.offer(object(1, 0, 1)), Offered::Queued { wake: true });
        assert_eq!(
            inbox.offer(object(1, 1, 1)),
            Offered::Queued { wake: false }
        );
        assert!(inbox.take_or_stop().is_some());
        assert!(inbox.take_or_stop().is_some());
        assert!(inbox.take_or_stop().is_none());
        assert_eq!(inbox.offer(object(1, 2, 1)), Offered::Queued { wake: true });
    }

    #[test]
    fn wait_take_ends_with_the_subscription_and_waits_without_overflow() {
        let inbox = Inbox::new(ReceiveBudget::default());
        let err = inbox.wait_take(Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.code, Code::Timeout);
        inbox.offer(object(1, 0, 1));
        inbox.finish(Err(Error::new(Code::Lagging, "fell behind")));
        assert!(
            inbox.wait_take(Duration::MAX).is_ok(),
            "queued objects come first"
        );
        let err = inbox.wait_take(Duration::MAX).unwrap_err();
        assert_eq!(err.code, Code::Lagging, "{err}");

        let ended = Inbox::new(ReceiveBudget::default());
        ended.offer(object(1, 0, 1));
        ended.finish(Ok(()));
        assert!(ended.wait_take(Duration::MAX).is_ok());
        let err = ended.wait_take(Duration::MAX).unwrap_err();
        assert_eq!(
            err.code,
            Code::EndOfTrack,
            "a normal end is told apart: {err}"
        );
    }

    #[test]
    fn a_pull_reader_already_waiting_is_woken_by_an_offer() {
        let inbox = Arc::new(Inbox::new(ReceiveBudget::default()));
        let (sent, received) = std::sync::mpsc::channel();
        let reader = {
            let inbox = inbox.clone();
            std::thread::spawn(move || {
                let _ = sent.send(inbox.wait_take(Duration::MAX));
            })
        };
        // Bounded wait until the reader is counted as waiting: the offer
        // must then wake it (offers skip the notify when nobody waits).
        for _ in 0..1000 {
            if inbox.lock().pull_waiters > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(inbox.lock().pull_waiters, 1, "the reader never waited");
        inbox.offer(object(1, 0, 1));
        let taken = received.recv_timeout(Duration::from_secs(10));
        if taken.is_err() {
            inbox.finish(Ok(())); // lets the reader go before failing
        }
        reader.join().expect("the reader panicked");
        assert!(
            matches!(taken, Ok(Ok(_))),
            "the waiting reader was not woken by the offer: {taken:?}"
        );
        assert_eq!(inbox.lock().pull_waiters, 0);
    }

    #[test]
    fn a_resumption_refuses_what_came_before_the_gap_and_reports_the_gap() {
        let inbox = Inbox::new(ReceiveBudget::default());
        assert_eq!(
            inbox.connection_lost(),
            None,
            "nothing received: as first asked"
        );
        inbox.offer(object(3, 0, 1));
        inbox.offer(object(5, 0, 1));
        inbox.offer(object(4, 0, 1));
        assert_eq!(inbox.connection_lost(), Some(6));
        inbox.resumed();
        let stats = inbox.stats();
        assert_eq!(
            (
                stats.resumptions,
                stats.gap_after_group,
                stats.gap_before_group
            ),
            (1, Some(5), None)
        );
        // A group from before the gap is not delivered twice.
        assert_eq!(inbox.offer(object(5, 1, 1)), Offered::Dropped);
        assert!(matches!(
            inbox.offer(object(8, 0, 1)),
            Offered::Queued { .. }
        ));
        assert!(matches!(
            inbox.offer(object(9, 0, 1)),
            Offered::Queued { .. }
        ));
        let stats = inbox.stats();
        assert_eq!(
            (stats.gap_after_group, stats.gap_before_group),
            (Some(5), Some(8))
        );
        assert_eq!(stats.objects, 5);
        assert_eq!(stats.dropped_groups, 0, "not a budget drop");
    }
}
