//! Limits on what a peer's data streams may make this process hold.
//!
//! The engine keeps every byte of a subgroup stream until the stream ends,
//! whether or not anyone still reads it, and puts no limit on an object's
//! declared size or on an extension block. So the transport adapter follows
//! the framing of each incoming subgroup stream itself, one chunk ahead of
//! the engine, and stops the stream (STOP_SENDING, and a reset towards the
//! engine, which ends only that subgroup) when
//! - an object declares more than `SessionConfig::max_object_size` bytes,
//! - an object's extension block exceeds [`MAX_EXTENSION_BLOCK`],
//! - the subgroup would carry more than `SessionConfig::max_group_bytes` in
//!   all (the engine keeps every object of a subgroup until it ends, even
//!   the ones delivered already, so a group that never ends would otherwise
//!   hold all it ever carried),
//! - the subscriber dropped the stream's group to stay within its budget
//!   (then the rest of the group would only be buffered and thrown away),
//! - the track's open streams hold more than its subscriber allows
//!   (`ReceiveBudget::max_arriving_bytes`, [`InFlight`]): the engine reads
//!   every stream as fast as it arrives and keeps a subgroup's bytes until
//!   the stream ends, so a peer that sends many groups at once, each on its
//!   stream and none finished yet (quinn sends streams of equal priority in
//!   turn), would make the engine hold all of them; the oldest groups are
//!   dropped instead.
//!
//! Draft-18 subgroup stream (integers are leading-ones varints, 1-9 bytes):
//! type, track alias, group id, [subgroup id], [priority: 1 byte], then
//! objects: id delta, [extension length, extensions], payload length,
//! [status when the length is 0], payload. FETCH streams are read only as
//! the user takes objects, so flow control bounds them; they pass through.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use moq_transport::data::DataStreamResetCode;

use crate::lock;

/// The largest extension block accepted on a subgroup stream: the engine's
/// own cap for a FETCH record header (moq-transport 0.17 caps none on
/// subgroup streams).
pub(crate) const MAX_EXTENSION_BLOCK: u64 = 1024 * 1024;

/// Dropped groups remembered per track: enough for every group a stream can
/// still be open for (the engine keeps at most 1024 subgroups per track).
const DROPPED_GROUPS_KEPT: usize = 1024;

/// Shared by a session's data streams and its subscriptions.
#[derive(Default)]
pub(crate) struct StreamPolicy {
    max_object_size: AtomicU64,
    max_group_bytes: AtomicU64,
    /// Groups the subscribers gave up on, per track alias.
    dropped: Mutex<HashMap<u64, VecDeque<u64>>>,
    /// Bumped on every drop, so a stream looks the table up only then.
    generation: AtomicU64,
    /// What the open streams of a track may hold, per track alias.
    in_flight: Mutex<HashMap<u64, Arc<InFlight>>>,
    objects_refused: AtomicU64,
    streams_stopped: AtomicU64,
}

/// Why a stream was stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stop {
    pub code: u32,
    pub reason: String,
    /// How many bytes at the start of the chunk still go to the engine: the
    /// whole objects before the refused one, which it delivers before the
    /// reset.
    pub keep: usize,
}

impl StreamPolicy {
    pub(crate) fn new(max_object_size: u64, max_group_bytes: u64) -> Self {
        Self {
            max_object_size: AtomicU64::new(max_object_size),
            max_group_bytes: AtomicU64::new(max_group_bytes),
            ..Default::default()
        }
    }

    /// The subscriber of track `alias` dropped `group`: its streams stop.
    pub(crate) fn drop_group(&self, alias: u64, group: u64) {
        let mut dropped = lock(&self.dropped);
        let groups = dropped.entry(alias).or_default();
        if !groups.contains(&group) {
            if groups.len() == DROPPED_GROUPS_KEPT {
                groups.pop_front();
            }
            groups.push_back(group);
            self.generation.fetch_add(1, Ordering::Release);
        }
    }

    /// The track `alias` is no longer received here (its alias may be reused).
    pub(crate) fn forget_track(&self, alias: u64) {
        lock(&self.dropped).remove(&alias);
        lock(&self.in_flight).remove(&alias);
    }

    /// The open streams of track `alias` may hold `limit` bytes in all, or
    /// one group of `max_group_bytes` if that is more (a group the session
    /// accepts can always arrive whole); past that its oldest groups are
    /// dropped, and `shed` hears of each.
    pub(crate) fn bound_in_flight(&self, alias: u64, limit: u64, shed: GroupShed) {
        let bound = Arc::new(InFlight {
            limit: limit.max(self.max_group_bytes.load(Ordering::Relaxed)),
            shed,
            state: Mutex::default(),
        });
        lock(&self.in_flight).insert(alias, bound);
    }

    fn in_flight_of(&self, alias: u64) -> Option<Arc<InFlight>> {
        lock(&self.in_flight).get(&alias).cloned()
    }

    fn is_dropped(&self, alias: u64, group: u64) -> bool {
        lock(&self.dropped)
            .get(&alias)
            .is_some_and(|groups| groups.contains(&group))
    }

    /// Objects refused for their size or extension block.
    pub(crate) fn objects_refused(&self) -> u64 {
        self.objects_refused.load(Ordering::Relaxed)
    }

    /// Streams stopped, for any of the reasons above.
    pub(crate) fn streams_stopped(&self) -> u64 {
        self.streams_stopped.load(Ordering::Relaxed)
    }
}

/// Told of each group dropped to keep a track's open streams within their
/// bound (from the stream task that passed it).
pub(crate) type GroupShed = Box<dyn Fn(u64) + Send + Sync>;

/// What the open subgroup streams of one track hold in the engine: every
/// byte they passed, until the stream ends (the engine keeps a subgroup's
/// objects that long). Counted where the bytes enter, released when the
/// stream goes, whatever ended it, so no path can leave bytes counted.
pub(crate) struct InFlight {
    limit: u64,
    shed: GroupShed,
    state: Mutex<InFlightState>,
}

#[derive(Default)]
struct InFlightState {
    /// Bytes of the groups not dropped yet (a dropped group's streams free
    /// theirs only at their next read).
    held: u64,
    groups: BTreeMap<u64, OpenGroup>,
}

#[derive(Default)]
struct OpenGroup {
    streams: u32,
    bytes: u64,
    dropped: bool,
}

impl InFlight {
    fn opened(&self, group: u64) {
        let mut state = lock(&self.state);
        state.groups.entry(group).or_default().streams += 1;
    }

    /// `bytes` more of `group` passed; drops the oldest groups (maybe this
    /// one) while the track holds more than its limit.
    fn passed(&self, group: u64, bytes: u64, alias: u64, policy: &StreamPolicy) {
        let mut state = lock(&self.state);
        let Some(open) = state.groups.get_mut(&group) else {
            return;
        };
        open.bytes += bytes;
        if open.dropped {
            return;
        }
        state.held += bytes;
        while state.held > self.limit {
            let Some((&oldest, open)) = state.groups.iter_mut().find(|(_, g)| !g.dropped) else {
                break;
            };
            open.dropped = true;
            state.held -= open.bytes;
            policy.drop_group(alias, oldest);
            (self.shed)(oldest);
        }
    }

    fn closed(&self, group: u64, bytes: u64) {
        let mut state = lock(&self.state);
        let Some(open) = state.groups.get_mut(&group) else {
            return;
        };
        open.bytes -= bytes;
        open.streams -= 1;
        let (dropped, last) = (open.dropped, open.streams == 0);
        if last {
            state.groups.remove(&group);
        }
        if !dropped {
            state.held -= bytes;
        }
    }

    #[cfg(test)]
    fn held(&self) -> u64 {
        self.state.lock().unwrap().held
    }
}

/// Where the parser is in a subgroup stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Type,
    TrackAlias,
    GroupId,
    SubgroupId,
    Priority,
    ObjectIdDelta,
    ExtensionLength,
    Extensions {
        left: u64,
    },
    PayloadLength,
    Status,
    Payload {
        left: u64,
    },
    /// Not a subgroup stream (FETCH): not followed.
    Other,
}

/// Follows one incoming data stream, chunk by chunk, before the engine sees
/// the chunk.
pub(crate) struct StreamGuard {
    field: Field,
    /// A varint split across chunks: its bytes so far.
    varint: [u8; 9],
    varint_len: usize,
    header_type: u64,
    alias: u64,
    group: Option<u64>,
    subgroup: u64,
    seen_generation: u64,
    /// Where in the chunk being inspected the current object's header began
    /// (0 when it began in an earlier chunk).
    object_start: usize,
    /// Payload and extension bytes the subgroup declared so far.
    declared: u64,
    /// Payload bytes that went past so far (the send side counts what it
    /// handed to QUIC with this).
    payload_passed: u64,
    /// The track's bound, once the header named a bounded track, and the
    /// bytes this stream counted against it.
    in_flight: Option<Arc<InFlight>>,
    counted: u64,
}

impl Default for StreamGuard {
    fn default() -> Self {
        Self {
            field: Field::Type,
            varint: [0; 9],
            varint_len: 0,
            header_type: 0,
            alias: 0,
            group: None,
            subgroup: 0,
            seen_generation: 0,
            object_start: 0,
            declared: 0,
            payload_passed: 0,
            in_flight: None,
            counted: 0,
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let (Some(in_flight), Some(group)) = (&self.in_flight, self.group) {
            in_flight.closed(group, self.counted);
        }
    }
}

/// The length of a leading-ones varint from its first byte.
fn varint_size(first: u8) -> usize {
    (first.leading_ones() as usize + 1).min(9)
}

fn varint_value(bytes: &[u8]) -> u64 {
    let size = bytes.len();
    if size == 9 {
        return u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
    }
    // The first byte keeps 8 - size usable bits below its `size - 1` ones
    // and a zero.
    let mut value = u64::from(bytes[0]) & (0xff >> size);
    for &byte in &bytes[1..] {
        value = (value << 8) | u64::from(byte);
    }
    value
}

fn is_subgroup_type(header_type: u64) -> bool {
    header_type < 0x80 && header_type & 0x10 != 0 && header_type & 0x06 != 0x06
}

impl StreamGuard {
    /// The subgroup stream's track alias, group and subgroup id (0 unless
    /// the header names one), once its header went past.
    pub(crate) fn subgroup(&self) -> Option<(u64, u64, u64)> {
        self.group.map(|group| (self.alias, group, self.subgroup))
    }

    /// Payload bytes followed so far.
    pub(crate) fn payload_passed(&self) -> u64 {
        self.payload_passed
    }

    /// Follows `chunk`; `Err` when the stream must stop before the engine
    /// gets this chunk.
    pub(crate) fn inspect(&mut self, chunk: &[u8], policy: &StreamPolicy) -> Result<(), Stop> {
        let mut at = 0;
        self.object_start = 0;
        while at < chunk.len() {
            match self.field {
                Field::Other => return Ok(()),
                Field::Payload { left } | Field::Extensions { left } => {
                    let take = left.min((chunk.len() - at) as u64);
                    at += take as usize;
                    if matches!(self.field, Field::Payload { .. }) {
                        self.payload_passed += take;
                    }
                    let left = left - take;
                    if left == 0 {
                        self.field = match self.field {
                            Field::Extensions { .. } => Field::PayloadLength,
                            _ => Field::ObjectIdDelta,
                        };
                    } else {
                        self.field = match self.field {
                            Field::Extensions { .. } => Field::Extensions { left },
                            _ => Field::Payload { left },
                        };
                    }
                }
                Field::Priority => {
                    at += 1;
                    self.field = Field::ObjectIdDelta;
                }
                _ => {
                    if self.field == Field::ObjectIdDelta && self.varint_len == 0 {
                        self.object_start = at;
                    }
                    let byte = chunk[at];
                    at += 1;
                    self.varint[self.varint_len] = byte;
                    self.varint_len += 1;
                    if self.varint_len < varint_size(self.varint[0]) {
                        continue;
                    }
                    let value = varint_value(&self.varint[..self.varint_len]);
                    self.varint_len = 0;
                    self.field_done(value, policy)?;
                }
            }
        }
        if let (Some(in_flight), Some(group)) = (&self.in_flight, self.group) {
            self.counted += chunk.len() as u64;
            in_flight.passed(group, chunk.len() as u64, self.alias, policy);
        }
        self.check_dropped(policy)
    }

    fn field_done(&mut self, value: u64, policy: &StreamPolicy) -> Result<(), Stop> {
        let has_extensions = self.header_type & 0x01 != 0;
        self.field = match self.field {
            Field::Type if is_subgroup_type(value) => {
                self.header_type = value;
                Field::TrackAlias
            }
            Field::Type => Field::Other,
            Field::TrackAlias => {
                self.alias = value;
                Field::GroupId
            }
            Field::GroupId => {
                self.group = Some(value);
                self.in_flight = policy.in_flight_of(self.alias);
                if let Some(in_flight) = &self.in_flight {
                    in_flight.opened(value);
                }
                // A group dropped before this stream opened.
                self.seen_generation = u64::MAX;
                if self.header_type & 0x06 == 0x04 {
                    Field::SubgroupId
                } else if self.header_type & 0x20 == 0 {
                    Field::Priority
                } else {
                    Field::ObjectIdDelta
                }
            }
            Field::SubgroupId => {
                self.subgroup = value;
                if self.header_type & 0x20 == 0 {
                    Field::Priority
                } else {
                    Field::ObjectIdDelta
                }
            }
            Field::ObjectIdDelta if has_extensions => Field::ExtensionLength,
            Field::ObjectIdDelta => Field::PayloadLength,
            Field::ExtensionLength if value > MAX_EXTENSION_BLOCK => {
                return Err(self.refuse(
                    policy,
                    format!(
                        "an object's extension block is {value} bytes, above the \
                         {MAX_EXTENSION_BLOCK} accepted"
                    ),
                ));
            }
            Field::ExtensionLength if value == 0 => Field::PayloadLength,
            Field::ExtensionLength => {
                self.declare(value, policy)?;
                Field::Extensions { left: value }
            }
            Field::PayloadLength => {
                let limit = policy.max_object_size.load(Ordering::Relaxed);
                if value > limit {
                    return Err(self.refuse(
                        policy,
                        format!(
                            "an object of {value} bytes is above SessionConfig::max_object_size \
                             ({limit})"
                        ),
                    ));
                }
                self.declare(value, policy)?;
                if value == 0 {
                    Field::Status
                } else {
                    Field::Payload { left: value }
                }
            }
            Field::Status => Field::ObjectIdDelta,
            other => other,
        };
        Ok(())
    }

    /// Counts `bytes` more of the subgroup against `max_group_bytes`.
    fn declare(&mut self, bytes: u64, policy: &StreamPolicy) -> Result<(), Stop> {
        let declared = self.declared.saturating_add(bytes);
        let limit = policy.max_group_bytes.load(Ordering::Relaxed);
        if declared > limit {
            return Err(self.refuse(
                policy,
                format!(
                    "the subgroup would carry {declared} bytes, above \
                     SessionConfig::max_group_bytes ({limit})"
                ),
            ));
        }
        self.declared = declared;
        Ok(())
    }

    fn refuse(&self, policy: &StreamPolicy, why: String) -> Stop {
        policy.objects_refused.fetch_add(1, Ordering::Relaxed);
        policy.streams_stopped.fetch_add(1, Ordering::Relaxed);
        let group = self.group.unwrap_or_default();
        Stop {
            code: DataStreamResetCode::ExcessiveLoad as u32,
            reason: format!(
                "refused group {group} of the track with alias {}: {why}; the rest of that \
                 subgroup is not received",
                self.alias
            ),
            keep: self.object_start,
        }
    }

    /// Stops the stream if the subscriber dropped its group.
    fn check_dropped(&mut self, policy: &StreamPolicy) -> Result<(), Stop> {
        let Some(group) = self.group else {
            return Ok(());
        };
        let generation = policy.generation.load(Ordering::Acquire);
        if generation == self.seen_generation {
            return Ok(());
        }
        self.seen_generation = generation;
        if !policy.is_dropped(self.alias, group) {
            return Ok(());
        }
        policy.streams_stopped.fetch_add(1, Ordering::Relaxed);
        Err(Stop {
            code: DataStreamResetCode::Cancelled as u32,
            reason: String::new(),
            keep: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leading-ones varint, minimal length.
    fn vi(value: u64) -> Vec<u8> {
        for size in 1..=8usize {
            let bits = 7 * size as u32;
            if value < (1u64 << bits) {
                let mut out = value.to_be_bytes()[8 - size..].to_vec();
                out[0] |= !(0xffu8 >> (size - 1));
                return out;
            }
        }
        let mut out = vec![0xff];
        out.extend_from_slice(&value.to_be_bytes());
        out
    }

    #[test]
    fn varints_of_every_length_round_trip() {
        for value in [
            0,
            1,
            127,
            128,
            16383,
            16384,
            1 << 40,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let bytes = vi(value);
            assert_eq!(varint_size(bytes[0]), bytes.len(), "{value}");
            assert_eq!(varint_value(&bytes), value, "{value}");
        }
    }

    /// A subgroup stream with extensions and a priority byte (type 0x11),
    /// alias 3, group `group`, then `objects` as (extension length, payload).
    fn stream(group: u64, objects: &[(u64, u64)]) -> Vec<u8> {
        let mut out = vi(0x11);
        out.extend(vi(3));
        out.extend(vi(group));
        out.push(128); // priority
        for &(extensions, payload) in objects {
            out.extend(vi(0)); // object id delta
            out.extend(vi(extensions));
            out.extend(std::iter::repeat_n(0u8, extensions as usize));
            out.extend(vi(payload));
            if payload == 0 {
                out.extend(vi(0));
            }
            out.extend(std::iter::repeat_n(7u8, payload as usize));
        }
        out
    }

    fn feed(bytes: &[u8], chunk: usize, policy: &StreamPolicy) -> Result<(), Stop> {
        let mut guard = StreamGuard::default();
        bytes
            .chunks(chunk)
            .try_for_each(|piece| guard.inspect(piece, policy))
    }

    #[test]
    fn objects_within_the_limits_pass_in_any_chunking() {
        let policy = StreamPolicy::new(1000, u64::MAX);
        let bytes = stream(5, &[(0, 10), (4, 1000), (0, 0), (2, 3)]);
        for chunk in [1, 2, 3, 7, 100, bytes.len()] {
            assert_eq!(feed(&bytes, chunk, &policy), Ok(()), "chunks of {chunk}");
        }
        assert_eq!(policy.objects_refused(), 0);
    }

    #[test]
    fn an_object_above_the_maximum_is_refused_at_its_header() {
        let policy = StreamPolicy::new(1000, u64::MAX);
        let bytes = stream(5, &[(0, 10), (0, 1001)]);
        // Refused before its payload arrives: the header alone suffices.
        let header_end = bytes.len() - 1001;
        let stop = feed(&bytes[..header_end], 1, &policy).unwrap_err();
        assert_eq!(stop.code, DataStreamResetCode::ExcessiveLoad as u32);
        assert!(stop.reason.contains("1001 bytes"), "{}", stop.reason);
        assert_eq!(policy.objects_refused(), 1);
    }

    #[test]
    fn the_whole_objects_before_a_refused_one_still_reach_the_engine() {
        let policy = StreamPolicy::new(1000, u64::MAX);
        let first = stream(5, &[(0, 10)]);
        let bytes = stream(5, &[(0, 10), (0, 1001)]);
        // In one chunk: the first object is kept, the refused one's header not.
        let stop = StreamGuard::default().inspect(&bytes, &policy).unwrap_err();
        assert_eq!(stop.keep, first.len());
        // A header split across chunks: its start went out with the first
        // chunk, so nothing of the second is kept.
        let mut guard = StreamGuard::default();
        assert_eq!(guard.inspect(&bytes[..first.len() + 1], &policy), Ok(()));
        let stop = guard
            .inspect(&bytes[first.len() + 1..], &policy)
            .unwrap_err();
        assert_eq!(stop.keep, 0);
    }

    #[test]
    fn a_subgroup_that_would_carry_more_than_max_group_bytes_is_refused() {
        let policy = StreamPolicy::new(1000, 2500);
        // 3 + 1000 + 1000 + 497 = 2500: exactly the limit passes.
        let full = stream(5, &[(3, 1000), (0, 1000), (0, 497)]);
        assert_eq!(feed(&full, 7, &policy), Ok(()));
        let over = stream(5, &[(3, 1000), (0, 1000), (0, 498)]);
        let stop = feed(&over, 7, &policy).unwrap_err();
        assert!(stop.reason.contains("max_group_bytes"), "{}", stop.reason);
        assert_eq!(policy.objects_refused(), 1);
        // Each stream counts its own bytes.
        assert_eq!(feed(&full, 100, &policy), Ok(()));
    }

    #[test]
    fn an_extension_block_above_the_maximum_is_refused() {
        let policy = StreamPolicy::new(u64::MAX, u64::MAX);
        let mut bytes = stream(5, &[]);
        bytes.extend(vi(0));
        bytes.extend(vi(MAX_EXTENSION_BLOCK + 1));
        let stop = feed(&bytes, 3, &policy).unwrap_err();
        assert!(stop.reason.contains("extension block"), "{}", stop.reason);
    }

    #[test]
    fn a_dropped_group_stops_its_streams_only() {
        let policy = StreamPolicy::new(u64::MAX, u64::MAX);
        let mut five = StreamGuard::default();
        let mut six = StreamGuard::default();
        let first = stream(5, &[(0, 10)]);
        assert_eq!(five.inspect(&first, &policy), Ok(()));
        assert_eq!(six.inspect(&stream(6, &[(0, 10)]), &policy), Ok(()));
        policy.drop_group(3, 5);
        let stop = five.inspect(&vi(0), &policy).unwrap_err();
        assert_eq!(stop.code, DataStreamResetCode::Cancelled as u32);
        assert_eq!(six.inspect(&vi(0), &policy), Ok(()));
        // A stream of the group opened after the drop stops at its header.
        assert!(feed(&first, 4, &policy).is_err());
        policy.forget_track(3);
        assert_eq!(feed(&first, 4, &policy), Ok(()));
        assert_eq!(policy.streams_stopped(), 2);
    }

    #[test]
    fn open_streams_past_the_bound_lose_their_oldest_groups() {
        let policy = StreamPolicy::new(u64::MAX, 1000);
        let shed = Arc::new(Mutex::new(Vec::new()));
        let heard = shed.clone();
        policy.bound_in_flight(3, 2500, Box::new(move |g| heard.lock().unwrap().push(g)));
        let bound = policy.in_flight_of(3).unwrap();
        // Three groups of one 1000-byte object each, 900 bytes of each in.
        let streams: Vec<Vec<u8>> = (5..8).map(|g| stream(g, &[(0, 1000)])).collect();
        let mut guards: Vec<StreamGuard> = (0..3).map(|_| StreamGuard::default()).collect();
        for (guard, bytes) in guards.iter_mut().take(2).zip(&streams) {
            assert_eq!(guard.inspect(&bytes[..900], &policy), Ok(()));
        }
        assert!(shed.lock().unwrap().is_empty());
        assert_eq!(bound.held(), 1800);
        // The third passes the bound: the oldest group goes, not this one.
        assert_eq!(guards[2].inspect(&streams[2][..900], &policy), Ok(()));
        assert_eq!(*shed.lock().unwrap(), vec![5]);
        assert_eq!(bound.held(), 1800);
        // Group 5 stops at its next read; the others go on.
        assert!(guards[0].inspect(&streams[0][900..], &policy).is_err());
        assert_eq!(guards[1].inspect(&streams[1][900..], &policy), Ok(()));
        // Ended streams release what they counted, however they ended.
        drop(guards.remove(0));
        drop(guards.remove(0));
        assert_eq!(bound.held(), 900);
        drop(guards);
        assert_eq!(bound.held(), 0);
        assert!(bound.state.lock().unwrap().groups.is_empty());
        policy.forget_track(3);
        assert!(policy.in_flight_of(3).is_none());
    }

    #[test]
    fn the_bound_is_never_below_one_whole_group() {
        let policy = StreamPolicy::new(u64::MAX, 4000);
        policy.bound_in_flight(3, 10, Box::new(|_| panic!("nothing is dropped")));
        let bytes = stream(5, &[(0, 1000), (0, 1000), (0, 1000)]);
        assert_eq!(feed(&bytes, 100, &policy), Ok(()));
    }

    #[test]
    fn fetch_and_unknown_streams_pass_through() {
        let policy = StreamPolicy::new(1, u64::MAX);
        let mut fetch = vi(0x05);
        fetch.extend(vi(9));
        fetch.extend([0xff; 64]);
        assert_eq!(feed(&fetch, 5, &policy), Ok(()));
    }
}
