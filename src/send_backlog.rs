//! Bounded publish: how far each subscriber of a track is behind what the
//! track wrote, and dropping its oldest subgroups when that passes the
//! track's budget.
//!
//! The engine keeps every subgroup a subscriber has not been sent yet (up to
//! 1024, then it ends the subscription), whatever their size, and QUIC sends
//! no faster than the path: a subscriber behind a slow link would otherwise
//! hold the publisher's memory without bound while every write succeeds.
//!
//! Two halves meet here:
//! - each track's [`TrackLedger`]: the payload bytes written to each of its
//!   recent subgroups, in the order they were begun (the engine's order of
//!   sending them);
//! - each session's [`SendTracker`]: per subscriber (track alias) it serves,
//!   the data streams the engine has open for it and the payload bytes each
//!   has handed to QUIC (the transport adapter follows them, [`SendTap`]).
//!
//! A subscriber's backlog is what its subgroups hold from its oldest unsent
//! one on, less what was sent of them. Past the budget (or past
//! [`MAX_BACKLOG_SUBGROUPS`]), its oldest subgroups are dropped: their open
//! streams are reset with TOO_FAR_BEHIND, and the ones the engine opens for
//! it later are reset as they open, so the engine moves on and frees them.
//! The newest subgroup is always kept.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use moq_transport::data::DataStreamResetCode;
use tokio::sync::Notify;

use crate::error::{Code, Error, Result};
use crate::lock;
use crate::stream_guard::{StreamGuard, StreamPolicy};

/// The most a subscriber may fall behind unless the track says otherwise.
pub const DEFAULT_MAX_BACKLOG_BYTES: u64 = 64 * 1024 * 1024;

/// Subgroups a subscriber may fall behind before the oldest are dropped,
/// whatever their size: half the engine's own limit (1024 pending
/// subgroups), past which it would end the subscription.
pub(crate) const MAX_BACKLOG_SUBGROUPS: usize = 512;

/// Subgroups a ledger remembers: more than any subscriber may be behind.
const LEDGER_SUBGROUPS: usize = 4 * MAX_BACKLOG_SUBGROUPS;

/// The reset code of a stream dropped for a lagging subscriber.
pub(crate) const DROPPED_STREAM_CODE: u32 = DataStreamResetCode::TooFarBehind as u32;

/// One subgroup the track began: its place in the sending order and the
/// payload bytes written to it so far (added by its `GroupWriter`).
struct Tally {
    seq: u64,
    key: (u64, u64),
    bytes: Arc<AtomicU64>,
}

/// What one published track wrote, for the sessions that serve it.
pub(crate) struct TrackLedger {
    budget: u64,
    inner: Mutex<LedgerInner>,
    dropped_groups: AtomicU64,
}

#[derive(Default)]
struct LedgerInner {
    /// Consecutive `seq`s, oldest first.
    tallies: VecDeque<Tally>,
    next_seq: u64,
    subscribers: Vec<Weak<Subscriber>>,
}

impl LedgerInner {
    /// The tallies from `seq` on: a subscriber that keeps up looks at one
    /// or two, not the whole ledger.
    fn since(&self, seq: u64) -> std::collections::vec_deque::Iter<'_, Tally> {
        let first = self.tallies.front().map_or(seq, |t| t.seq);
        let skip = usize::try_from(seq.saturating_sub(first)).unwrap_or(usize::MAX);
        self.tallies.range(skip.min(self.tallies.len())..)
    }
}

impl TrackLedger {
    pub(crate) fn new(budget: u64) -> Arc<Self> {
        Arc::new(Self {
            budget,
            inner: Mutex::default(),
            dropped_groups: AtomicU64::new(0),
        })
    }

    /// The track began subgroup `subgroup` of group `group`: returns the
    /// counter its writer adds payload bytes to. Subscribers that lag lose
    /// their oldest subgroups (checked here and by [`TrackLedger::check`]).
    pub(crate) fn begin(&self, group: u64, subgroup: u64) -> Arc<AtomicU64> {
        let bytes = Arc::new(AtomicU64::new(0));
        {
            let mut inner = lock(&self.inner);
            if inner.tallies.len() == LEDGER_SUBGROUPS {
                inner.tallies.pop_front();
            }
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.tallies.push_back(Tally {
                seq,
                key: (group, subgroup),
                bytes: bytes.clone(),
            });
        }
        self.check();
        bytes
    }

    /// Subscribers that lag lose their oldest subgroups: called when a
    /// subgroup begins and when it ends, so the check sees its bytes.
    pub(crate) fn check(&self) {
        for subscriber in self.subscribers() {
            subscriber.enforce();
        }
    }

    /// Its live subscribers (outside the ledger's lock: a subscriber locks
    /// its own state first).
    fn subscribers(&self) -> Vec<Arc<Subscriber>> {
        let mut inner = lock(&self.inner);
        inner.subscribers.retain(|s| s.strong_count() > 0);
        inner.subscribers.iter().filter_map(Weak::upgrade).collect()
    }

    /// The largest backlog among the track's subscribers, in payload bytes.
    pub(crate) fn backlog(&self) -> u64 {
        self.subscribers()
            .iter()
            .map(|s| s.backlog())
            .max()
            .unwrap_or(0)
    }

    /// Subgroups dropped for subscribers that fell behind, over all of them.
    pub(crate) fn dropped_groups(&self) -> u64 {
        self.dropped_groups.load(Ordering::Relaxed)
    }

    /// Waits (blocking, polling) until every subscriber was sent all that
    /// was written and the peer acknowledged it, or `timeout` passes.
    pub(crate) fn flush(&self, timeout: Duration, what: &str) -> Result<()> {
        wait_drained(timeout, what, || pending(&self.subscribers()))
    }

    fn seq_of(&self, key: (u64, u64)) -> Option<u64> {
        lock(&self.inner)
            .tallies
            .iter()
            .rev()
            .find(|t| t.key == key)
            .map(|t| t.seq)
    }
}

/// What `subscribers` were not sent yet (bytes) and the streams of theirs
/// the peer has not acknowledged yet.
fn pending(subscribers: &[Arc<Subscriber>]) -> (u64, usize) {
    subscribers.iter().fold((0, 0), |(bytes, streams), s| {
        (
            bytes.saturating_add(s.backlog()),
            streams + s.unacked.load(Ordering::Acquire),
        )
    })
}

/// Polls `pending` until nothing is left or `timeout` passes.
fn wait_drained(timeout: Duration, what: &str, pending: impl Fn() -> (u64, usize)) -> Result<()> {
    if crate::runtime::on_runtime_thread() {
        return Err(Error::new(
            Code::WouldBlock,
            format!(
                "{what} blocks until QUIC took what was written and cannot be called from a moq \
                 callback thread; call it from one of your own threads"
            ),
        ));
    }
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let (bytes, streams) = pending();
        if bytes == 0 && streams == 0 {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::new(
                Code::Timeout,
                format!(
                    "{what}: after {} ms, {bytes} bytes written were not yet sent and {streams} \
                     finished streams not yet acknowledged by the peer (a slow or stalled path)",
                    timeout.as_millis()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One subscriber of one track on one session: the engine's data streams
/// for it, and from which subgroup on it is dropped.
pub(crate) struct Subscriber {
    ledger: Arc<TrackLedger>,
    state: Mutex<SubscriberState>,
    /// Streams sent in full whose acknowledgement has not come yet.
    unacked: AtomicUsize,
}

struct SubscriberState {
    open: Vec<Arc<SentStream>>,
    /// Subgroups closed (sent or dropped) at or after `floor`.
    done: BTreeSet<u64>,
    /// Subgroups before this one were sent, dropped, or begun before the
    /// subscriber came.
    floor: u64,
    /// One past the newest subgroup the engine opened a stream for.
    opened_below: u64,
    /// Subgroups before this one are dropped for this subscriber.
    drop_below: u64,
}

impl SubscriberState {
    /// The oldest subgroup it may still be sent.
    fn from(&self) -> u64 {
        self.floor.max(self.drop_below)
    }

    /// Payload bytes of `tally` not yet handed to QUIC for this subscriber
    /// (None: sent, dropped, or older than it cares about).
    fn unsent(&self, tally: &Tally) -> Option<u64> {
        if tally.seq < self.from() || self.done.contains(&tally.seq) {
            return None;
        }
        let sent = self
            .open
            .iter()
            .find(|s| s.seq == tally.seq)
            .map_or(0, |s| s.sent.load(Ordering::Relaxed));
        Some(tally.bytes.load(Ordering::Relaxed).saturating_sub(sent))
    }
}

/// One data stream the engine writes for a subscriber.
pub(crate) struct SentStream {
    seq: u64,
    sent: AtomicU64,
    dropped: AtomicBool,
    wake: Notify,
}

impl SentStream {
    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }
}

impl Subscriber {
    /// Payload bytes of its subgroups from its oldest unsent one on, less
    /// what was sent of them.
    pub(crate) fn backlog(&self) -> u64 {
        let state = lock(&self.state);
        let inner = lock(&self.ledger.inner);
        inner
            .since(state.from())
            .filter_map(|t| state.unsent(t))
            .sum()
    }

    /// Drops its oldest subgroups while it is past the budget (in bytes or
    /// subgroups), keeping the newest.
    fn enforce(&self) {
        let mut state = lock(&self.state);
        let inner = lock(&self.ledger.inner);
        let mut kept_bytes = 0u64;
        let mut kept = 0usize;
        let mut keep_from = None;
        let mut dropped = 0u64;
        for tally in inner.since(state.from()).rev() {
            let Some(unsent) = state.unsent(tally) else {
                continue;
            };
            let over = kept_bytes.saturating_add(unsent) > self.ledger.budget
                || kept == MAX_BACKLOG_SUBGROUPS;
            if keep_from.is_some() && (over || dropped > 0) {
                dropped += 1;
                continue;
            }
            kept_bytes = kept_bytes.saturating_add(unsent);
            kept += 1;
            keep_from = Some(tally.seq);
        }
        drop(inner);
        let Some(keep_from) = keep_from.filter(|_| dropped > 0) else {
            return;
        };
        self.ledger
            .dropped_groups
            .fetch_add(dropped, Ordering::Relaxed);
        state.drop_below = keep_from;
        for stream in state.open.iter().filter(|s| s.seq < keep_from) {
            stream.dropped.store(true, Ordering::Release);
            stream.wake.notify_one();
        }
    }

    /// The engine opened a stream for subgroup `key`. None: not followed
    /// (a subgroup the ledger no longer knows).
    fn opened(&self, key: (u64, u64)) -> Option<Arc<SentStream>> {
        let seq = self.ledger.seq_of(key)?;
        let stream = {
            let mut state = lock(&self.state);
            let stream = Arc::new(SentStream {
                seq,
                sent: AtomicU64::new(0),
                dropped: AtomicBool::new(seq < state.drop_below),
                wake: Notify::new(),
            });
            state.open.push(stream.clone());
            state.opened_below = state.opened_below.max(seq + 1);
            stream
        };
        Some(stream)
    }

    /// The stream was finished (all of it handed to QUIC), reset or dropped.
    fn closed(&self, stream: &Arc<SentStream>) {
        let mut state = lock(&self.state);
        state.open.retain(|s| !Arc::ptr_eq(s, stream));
        state.done.insert(stream.seq);
        // The engine opens a subscriber's subgroups in order: those before
        // the oldest still open (or, with none open, before the next one to
        // open) are all sent or dropped.
        let oldest_open = state.open.iter().map(|s| s.seq).min();
        let floor = oldest_open.unwrap_or(state.opened_below).max(state.floor);
        state.floor = floor;
        state.done = state.done.split_off(&floor);
    }
}

/// The subscribers one session serves, by track alias.
#[derive(Default)]
pub(crate) struct SendTracker {
    subscribers: Mutex<HashMap<u64, Weak<Subscriber>>>,
    /// Follows send-side framing only: no limits, no dropped groups.
    framing: StreamPolicy,
}

/// Keeps a subscriber followed while it lives (the engine serves it).
pub(crate) struct Served {
    tracker: Arc<SendTracker>,
    alias: u64,
    _subscriber: Arc<Subscriber>,
}

impl Drop for Served {
    fn drop(&mut self) {
        lock(&self.tracker.subscribers).remove(&self.alias);
    }
}

impl SendTracker {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            subscribers: Mutex::default(),
            framing: StreamPolicy::new(u64::MAX, u64::MAX),
        })
    }

    /// The engine serves track alias `alias` from the track of `ledger`
    /// until the returned value drops.
    pub(crate) fn serve(self: &Arc<Self>, alias: u64, ledger: Arc<TrackLedger>) -> Served {
        let floor = lock(&ledger.inner).next_seq;
        let subscriber = Arc::new(Subscriber {
            ledger: ledger.clone(),
            state: Mutex::new(SubscriberState {
                open: Vec::new(),
                done: BTreeSet::new(),
                floor,
                opened_below: floor,
                drop_below: 0,
            }),
            unacked: AtomicUsize::new(0),
        });
        lock(&ledger.inner)
            .subscribers
            .push(Arc::downgrade(&subscriber));
        lock(&self.subscribers).insert(alias, Arc::downgrade(&subscriber));
        Served {
            tracker: self.clone(),
            alias,
            _subscriber: subscriber,
        }
    }

    /// What the session's subscribers have not been sent, in payload bytes.
    pub(crate) fn backlog(&self) -> u64 {
        self.subscribers().iter().map(|s| s.backlog()).sum()
    }

    pub(crate) fn flush(&self, timeout: Duration, what: &str) -> Result<()> {
        wait_drained(timeout, what, || pending(&self.subscribers()))
    }

    /// Its live subscribers (outside its lock).
    fn subscribers(&self) -> Vec<Arc<Subscriber>> {
        lock(&self.subscribers)
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }

    fn subscriber(&self, alias: u64) -> Option<Arc<Subscriber>> {
        lock(&self.subscribers).get(&alias).and_then(Weak::upgrade)
    }
}

/// Follows one outgoing data stream for the [`SendTracker`]: which
/// subscriber's subgroup it carries and how much of it went to QUIC.
pub(crate) struct SendTap {
    tracker: Arc<SendTracker>,
    framing: StreamGuard,
    /// Set once the header went past, if the subscriber is followed.
    stream: Option<(Arc<Subscriber>, Arc<SentStream>)>,
    /// Finished: the subscriber waits for the peer's acknowledgement.
    unacked: Option<Arc<Subscriber>>,
    /// The header went past (followed or not).
    identified: bool,
}

impl SendTap {
    pub(crate) fn new(tracker: Arc<SendTracker>) -> Self {
        Self {
            tracker,
            framing: StreamGuard::default(),
            stream: None,
            unacked: None,
            identified: false,
        }
    }

    /// The followed stream, once its header went past.
    pub(crate) fn followed(&self) -> Option<&SentStream> {
        self.stream.as_ref().map(|(_, s)| s.as_ref())
    }

    /// `written` bytes went to QUIC.
    pub(crate) fn wrote(&mut self, written: &[u8]) {
        if self.identified && self.stream.is_none() {
            return;
        }
        // Framing errors cannot happen without limits; the engine framed it.
        let _ = self.framing.inspect(written, &self.tracker.framing);
        if !self.identified {
            let Some((alias, group, subgroup)) = self.framing.subgroup() else {
                return;
            };
            self.identified = true;
            if let Some(subscriber) = self.tracker.subscriber(alias) {
                if let Some(stream) = subscriber.opened((group, subgroup)) {
                    self.stream = Some((subscriber, stream));
                }
            }
        }
        if let Some((_, stream)) = &self.stream {
            stream
                .sent
                .store(self.framing.payload_passed(), Ordering::Relaxed);
        }
    }

    /// The stream ended without its FIN (reset or dropped).
    pub(crate) fn close(&mut self) {
        if let Some((subscriber, stream)) = self.stream.take() {
            subscriber.closed(&stream);
        }
        self.acknowledged();
    }

    /// The stream was sent in full (FIN): what is left is the peer's
    /// acknowledgement.
    pub(crate) fn finished(&mut self) {
        if let Some((subscriber, stream)) = self.stream.take() {
            subscriber.closed(&stream);
            subscriber.unacked.fetch_add(1, Ordering::AcqRel);
            self.unacked = Some(subscriber);
        }
    }

    /// The peer acknowledged all of it (or it will never be: the stream is
    /// gone).
    pub(crate) fn acknowledged(&mut self) {
        if let Some(subscriber) = self.unacked.take() {
            subscriber.unacked.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Waits until the stream's subgroup is dropped (forever if it is not
    /// followed).
    pub(crate) async fn until_dropped(stream: Option<&SentStream>) {
        match stream {
            Some(stream) => loop {
                if stream.is_dropped() {
                    return;
                }
                stream.wake.notified().await;
            },
            None => std::future::pending().await,
        }
    }
}

impl Drop for SendTap {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;

    fn subscriber(budget: u64) -> (Arc<TrackLedger>, Arc<SendTracker>, Served) {
        let ledger = TrackLedger::new(budget);
        let tracker = SendTracker::new();
        let served = tracker.serve(7, ledger.clone());
        (ledger, tracker, served)
    }

    /// Group `group` with `bytes` of payload, begun and finished.
    fn group(ledger: &TrackLedger, group: u64, bytes: u64) {
        ledger.begin(group, 0).fetch_add(bytes, Ordering::Relaxed);
        ledger.check();
    }

    fn sub(tracker: &SendTracker) -> Arc<Subscriber> {
        tracker.subscriber(7).expect("followed")
    }

    #[test]
    fn the_backlog_is_what_was_written_and_not_yet_sent() {
        let ledger = TrackLedger::new(u64::MAX);
        group(&ledger, 0, 5 * KIB); // before the subscriber: not its backlog
        let tracker = SendTracker::new();
        let _served = tracker.serve(7, ledger.clone());
        assert_eq!(ledger.backlog(), 0);
        group(&ledger, 1, 10 * KIB);
        group(&ledger, 2, 20 * KIB);
        assert_eq!(tracker.backlog(), 30 * KIB);
        let s = sub(&tracker);
        let one = s.opened((1, 0)).expect("known subgroup");
        one.sent.store(4 * KIB, Ordering::Relaxed);
        assert_eq!(ledger.backlog(), 26 * KIB);
        one.sent.store(10 * KIB, Ordering::Relaxed);
        s.closed(&one);
        assert_eq!(ledger.backlog(), 20 * KIB);
        let two = s.opened((2, 0)).expect("known subgroup");
        two.sent.store(20 * KIB, Ordering::Relaxed);
        assert_eq!(ledger.backlog(), 0, "sent in full, still open");
        s.closed(&two);
        assert_eq!(ledger.backlog(), 0);
        assert_eq!(ledger.dropped_groups(), 0);
    }

    #[test]
    fn streams_closing_out_of_order_are_not_counted_twice() {
        let (ledger, tracker, _served) = subscriber(u64::MAX);
        for g in 0..3 {
            group(&ledger, g, KIB);
        }
        let s = sub(&tracker);
        let streams: Vec<_> = (0..3).map(|g| s.opened((g, 0)).unwrap()).collect();
        s.closed(&streams[2]);
        s.closed(&streams[1]);
        assert_eq!(ledger.backlog(), KIB, "only group 0 is left");
        s.closed(&streams[0]);
        assert_eq!(ledger.backlog(), 0);
        group(&ledger, 3, KIB);
        assert_eq!(ledger.backlog(), KIB, "a group not yet opened counts");
    }

    #[test]
    fn past_the_budget_the_oldest_groups_go_and_the_newest_stays() {
        let (ledger, tracker, _served) = subscriber(25 * KIB);
        group(&ledger, 0, 10 * KIB);
        let s = sub(&tracker);
        let zero = s.opened((0, 0)).unwrap();
        group(&ledger, 1, 10 * KIB);
        assert!(!zero.is_dropped());
        // 30 KiB behind: group 0 goes, 1 and 2 (20 KiB) stay.
        group(&ledger, 2, 10 * KIB);
        assert!(zero.is_dropped(), "its open stream is reset");
        assert_eq!(ledger.dropped_groups(), 1);
        assert_eq!(ledger.backlog(), 20 * KIB);
        s.closed(&zero);
        // A stream the engine opens later for a dropped group is dropped at once.
        let late = s.opened((0, 0)).unwrap();
        assert!(late.is_dropped());
        s.closed(&late);
        // One group larger than the budget: everything before it goes.
        group(&ledger, 3, 100 * KIB);
        assert_eq!(ledger.dropped_groups(), 3);
        assert_eq!(ledger.backlog(), 100 * KIB);
        assert!(!s.opened((3, 0)).unwrap().is_dropped());
    }

    #[test]
    fn a_subscriber_too_many_groups_behind_loses_the_oldest() {
        let (ledger, _tracker, _served) = subscriber(u64::MAX);
        let total = MAX_BACKLOG_SUBGROUPS as u64 + 10;
        for g in 0..total {
            group(&ledger, g, 1);
        }
        assert_eq!(ledger.dropped_groups(), 10);
        assert_eq!(ledger.backlog(), MAX_BACKLOG_SUBGROUPS as u64);
    }

    #[test]
    fn subscribers_are_followed_apart_and_forgotten_when_served_ends() {
        let ledger = TrackLedger::new(15 * KIB);
        let tracker = SendTracker::new();
        let fast = tracker.serve(1, ledger.clone());
        let slow = tracker.serve(2, ledger.clone());
        let fast_sub = tracker.subscriber(1).unwrap();
        for g in 0..3 {
            group(&ledger, g, 10 * KIB);
            let stream = fast_sub.opened((g, 0)).unwrap();
            stream.sent.store(10 * KIB, Ordering::Relaxed);
            fast_sub.closed(&stream);
        }
        assert_eq!(ledger.dropped_groups(), 2, "only the slow one lost groups");
        assert_eq!(ledger.backlog(), 10 * KIB);
        assert_eq!(tracker.backlog(), 10 * KIB);
        drop(slow);
        assert!(tracker.subscriber(2).is_none());
        assert_eq!(ledger.backlog(), 0);
        drop(fast);
        assert_eq!(tracker.backlog(), 0);
    }

    #[test]
    fn flush_returns_when_drained_and_times_out_otherwise() {
        let (ledger, tracker, _served) = subscriber(u64::MAX);
        assert!(ledger.flush(Duration::ZERO, "t").is_ok());
        group(&ledger, 0, KIB);
        let err = tracker
            .flush(Duration::from_millis(20), "flushing t")
            .unwrap_err();
        assert_eq!(err.code, Code::Timeout);
        assert!(err.message.contains("1024 bytes"), "{}", err.message);
    }

    #[test]
    fn a_stream_counts_what_it_sent_and_flush_waits_for_its_acknowledgement() {
        let (ledger, tracker, _served) = subscriber(u64::MAX);
        group(&ledger, 0, 4);
        let mut tap = SendTap::new(tracker.clone());
        // Subgroup header: type 0x14 (explicit subgroup id, priority byte),
        // alias 7, group 0, subgroup 0, priority; then one object: id delta
        // 0, payload length 4, payload.
        tap.wrote(&[0x14, 7, 0, 0, 0x80, 0, 4, b'a', b'b']);
        assert_eq!(tracker.backlog(), 2, "half the payload went");
        tap.wrote(b"cd");
        assert_eq!(tracker.backlog(), 0);
        tap.finished();
        let err = tracker
            .flush(Duration::from_millis(20), "flushing t")
            .unwrap_err();
        assert!(
            err.message
                .contains("1 finished streams not yet acknowledged"),
            "{}",
            err.message
        );
        tap.acknowledged();
        assert!(tracker.flush(Duration::ZERO, "t").is_ok());
        // A stream dropped before its acknowledgement is not waited for.
        group(&ledger, 1, 1);
        let mut dropped = SendTap::new(tracker.clone());
        dropped.wrote(&[0x14, 7, 1, 0, 0x80, 0, 1, b'x']);
        dropped.finished();
        assert!(tracker.flush(Duration::ZERO, "t").is_err());
        drop(dropped);
        assert!(tracker.flush(Duration::ZERO, "t").is_ok());
    }
}
