//! Ascending group order on delivery. The relay sends each group (subgroup)
//! on its own QUIC stream, so objects of a new group can arrive while the
//! previous group's stream still carries objects; delivered as they come,
//! groups interleave. A subscription that asked for ascending group order
//! gets them in order instead: objects of later groups are held until the
//! group being delivered has ended (all its streams finished), for at most a
//! window of time (and the receive budget's bytes); then the unfinished group
//! is skipped (its streams stopped, counted) and delivery moves on. An
//! object of a group whose turn is over is late: dropped with its group (so
//! is a subgroup that starts after every other stream of its group ended).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::subscribe::ReceivedObject;

/// What to do with an arriving object.
#[derive(Debug, PartialEq)]
pub(crate) enum Arrival {
    /// Deliver it now.
    Deliver(ReceivedObject),
    /// Held back until its turn.
    Held,
    /// Its group's turn has passed: drop it and stop its stream. `first` is
    /// true the first time its group is given up (count the group once).
    Late { first: bool },
}

pub(crate) struct Reorder {
    window: Duration,
    max_held_bytes: usize,
    /// The group being delivered.
    current: Option<u64>,
    /// The highest group whose turn is over: its objects are late.
    passed: Option<u64>,
    /// Open subgroup streams per group.
    open: HashMap<u64, usize>,
    /// Objects of later groups, in arrival order per group.
    held: BTreeMap<u64, Vec<ReceivedObject>>,
    held_bytes: usize,
    /// When the current group loses its turn, while objects are held.
    deadline: Option<Instant>,
    /// Groups given up recently, so each is counted once.
    skipped: VecDeque<u64>,
}

/// How many skipped group ids are remembered.
const REMEMBERED_SKIPS: usize = 64;

impl Reorder {
    pub(crate) fn new(window: Duration, max_held_bytes: usize) -> Self {
        Self {
            window,
            max_held_bytes,
            current: None,
            passed: None,
            open: HashMap::new(),
            held: BTreeMap::new(),
            held_bytes: 0,
            deadline: None,
            skipped: VecDeque::new(),
        }
    }

    /// A subgroup stream of `group` has started.
    pub(crate) fn stream_started(&mut self, group: u64) {
        *self.open.entry(group).or_default() += 1;
    }

    /// An object arrived.
    pub(crate) fn arrive(&mut self, object: ReceivedObject) -> Arrival {
        let group = object.group_id;
        if self.passed.is_some_and(|passed| group <= passed) {
            return Arrival::Late {
                first: self.remember_skip(group),
            };
        }
        match self.current {
            None => {
                self.current = Some(group);
                Arrival::Deliver(object)
            }
            Some(current) if group == current => Arrival::Deliver(object),
            Some(current) if group < current => Arrival::Late {
                first: self.remember_skip(group),
            },
            Some(_) => {
                self.held_bytes += object.memory();
                self.held.entry(group).or_default().push(object);
                if self.deadline.is_none() {
                    self.deadline = Some(Instant::now() + self.window);
                }
                Arrival::Held
            }
        }
    }

    /// A subgroup stream of `group` has ended (finished, reset or stopped).
    /// Returns the objects whose turn came, in order.
    pub(crate) fn stream_ended(&mut self, group: u64) -> Vec<ReceivedObject> {
        if let Some(open) = self.open.get_mut(&group) {
            *open -= 1;
            if *open == 0 {
                self.open.remove(&group);
            }
        }
        if self.current == Some(group) && !self.open.contains_key(&group) {
            self.advance()
        } else {
            Vec::new()
        }
    }

    /// When the current group loses its turn (None: nothing is waiting).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Too much held, or the deadline passed: give up the current group.
    pub(crate) fn overdue(&self) -> bool {
        self.held_bytes > self.max_held_bytes || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Gives up the current group (its later objects will be late): returns
    /// it, whether it was not counted yet, and the objects whose turn came.
    pub(crate) fn skip_current(&mut self) -> (Option<u64>, bool, Vec<ReceivedObject>) {
        let skipped = self.current;
        let first = skipped.is_some_and(|group| self.remember_skip(group));
        (skipped, first, self.advance())
    }

    /// Moves to the next group with held objects (or none), returning its
    /// objects; keeps moving while the new group has ended already.
    fn advance(&mut self) -> Vec<ReceivedObject> {
        let mut released = Vec::new();
        self.deadline = None;
        self.passed = self.passed.max(self.current);
        loop {
            let Some((group, objects)) = self.held.pop_first() else {
                // Nothing held: the next object to arrive starts the turn,
                // unless a later group's stream is already open.
                self.current = self
                    .open
                    .keys()
                    .copied()
                    .filter(|g| self.current.is_none_or(|c| *g > c))
                    .min();
                return released;
            };
            self.held_bytes -= objects.iter().map(ReceivedObject::memory).sum::<usize>();
            self.passed = self.passed.max(self.current);
            self.current = Some(group);
            released.extend(objects);
            if self.open.contains_key(&group) {
                if !self.held.is_empty() {
                    self.deadline = Some(Instant::now() + self.window);
                }
                return released;
            }
        }
    }

    fn remember_skip(&mut self, group: u64) -> bool {
        if self.skipped.contains(&group) {
            return false;
        }
        if self.skipped.len() == REMEMBERED_SKIPS {
            self.skipped.pop_front();
        }
        self.skipped.push_back(group);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn object(group: u64, id: u64) -> ReceivedObject {
        ReceivedObject::new(group, 0, id, 0, Bytes::from_static(b"x"))
    }

    fn ids(objects: &[ReceivedObject]) -> Vec<(u64, u64)> {
        objects.iter().map(|o| (o.group_id, o.object_id)).collect()
    }

    #[test]
    fn a_later_group_waits_until_the_current_one_ends() {
        let mut order = Reorder::new(Duration::from_secs(1), usize::MAX);
        order.stream_started(1);
        assert!(matches!(order.arrive(object(1, 0)), Arrival::Deliver(_)));
        order.stream_started(2);
        assert_eq!(order.arrive(object(2, 0)), Arrival::Held);
        assert_eq!(order.arrive(object(2, 1)), Arrival::Held);
        assert!(order.deadline().is_some());
        assert!(matches!(order.arrive(object(1, 1)), Arrival::Deliver(_)));
        assert_eq!(ids(&order.stream_ended(1)), vec![(2, 0), (2, 1)]);
        assert!(order.deadline().is_none());
        // Group 2 is current now: its next object goes straight through.
        assert!(matches!(order.arrive(object(2, 2)), Arrival::Deliver(_)));
        // A late object of group 1 is dropped, its group counted once.
        assert_eq!(order.arrive(object(1, 2)), Arrival::Late { first: true });
        assert_eq!(order.arrive(object(1, 3)), Arrival::Late { first: false });
    }

    #[test]
    fn an_ended_held_group_is_released_whole_and_passed() {
        let mut order = Reorder::new(Duration::from_secs(1), usize::MAX);
        order.stream_started(1);
        assert!(matches!(order.arrive(object(1, 0)), Arrival::Deliver(_)));
        order.stream_started(2);
        order.stream_started(3);
        assert_eq!(order.arrive(object(3, 0)), Arrival::Held);
        assert_eq!(order.arrive(object(2, 0)), Arrival::Held);
        assert!(order.stream_ended(2).is_empty(), "group 1 is still current");
        // Group 1 ends: group 2 (ended already) and then group 3 follow.
        assert_eq!(ids(&order.stream_ended(1)), vec![(2, 0), (3, 0)]);
        assert!(matches!(order.arrive(object(3, 1)), Arrival::Deliver(_)));
    }

    #[test]
    fn an_unfinished_group_is_skipped_when_its_time_is_up_or_too_much_is_held() {
        let mut order = Reorder::new(Duration::ZERO, usize::MAX);
        order.stream_started(1);
        assert!(matches!(order.arrive(object(1, 0)), Arrival::Deliver(_)));
        order.stream_started(2);
        assert_eq!(order.arrive(object(2, 0)), Arrival::Held);
        assert!(order.overdue());
        let (skipped, first, released) = order.skip_current();
        assert_eq!(
            (skipped, first, ids(&released)),
            (Some(1), true, vec![(2, 0)])
        );
        assert_eq!(order.arrive(object(1, 1)), Arrival::Late { first: false });

        let mut order = Reorder::new(Duration::from_secs(60), 0);
        order.stream_started(1);
        assert!(matches!(order.arrive(object(1, 0)), Arrival::Deliver(_)));
        order.stream_started(2);
        assert_eq!(order.arrive(object(2, 0)), Arrival::Held);
        assert!(order.overdue(), "over the held bytes");
    }
}
