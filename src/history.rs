//! FETCH, publisher side: keep a bounded history of what a track published,
//! and answer the peer's FETCH requests (standalone or joining, usually
//! forwarded by a relay) from it.
//!
//! - [`History`] retains the newest whole groups of one track, bounded by a
//!   number of groups and a number of payload bytes; the oldest groups go
//!   first. Payloads are shared `Bytes`: retaining costs no copy.
//! - [`HistoryRegistry`] maps (namespace, track) to its `History`; a track's
//!   registration ends when its [`HistoryRegistration`] is dropped.
//! - [`serve_fetches`] answers one session's FETCHes from a registry, the way
//!   `moq-clock-ietf`'s history does: the retained objects of the requested
//!   range, DOES_NOT_EXIST for a track without history, INVALID_RANGE for a
//!   range that is not (or no longer) retained.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use moq_transport::coding::{KeyValuePairs, Location, TrackName, TrackNamespace};
use moq_transport::data::{ExtensionHeaders, FetchRecord, FetchRecordObject};
use moq_transport::message::{GroupOrder, RequestErrorCode};
use moq_transport::session::{FetchOkInfo, FetchRequested, Publisher, SessionError};
use tokio::task::JoinSet;

use crate::error::{Code, Error, Result};
use crate::names::{self, Namespace};

/// How long one FETCH response may take before it is abandoned (a stalled
/// requester must not hold the history snapshot forever). The relay gives up
/// on a FETCH after 30 s as well.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bounds of a [`History`]. Both apply; whole groups are evicted, oldest
/// first, until the history is within both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Groups retained, including the one being written. At least 1.
    pub max_groups: usize,
    /// Payload bytes retained. At least 1. A group larger than this on its
    /// own is not retained at all (a partial group would be served as if it
    /// were complete).
    pub max_bytes: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            max_groups: 8,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
struct Stored {
    subgroup_id: u64,
    priority: u8,
    extensions: ExtensionHeaders,
    payload: Bytes,
}

#[derive(Debug)]
struct State {
    limits: HistoryLimits,
    /// group id -> object id -> object.
    groups: BTreeMap<u64, BTreeMap<u64, Stored>>,
    bytes: usize,
    /// Groups below this were evicted (or refused): a FETCH that starts there
    /// is told the range is no longer retained, rather than being given a
    /// history with a silent hole at its start.
    floor: u64,
}

/// The retained history of one track. Cheap to clone (shared); safe to use
/// from any thread. `record` never blocks on the network.
#[derive(Debug, Clone)]
pub struct History {
    inner: Arc<Mutex<State>>,
}

/// Why a requested range cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unavailable {
    /// Starts in a group that was evicted.
    NoLongerRetained,
    /// Nothing retained in the range (not yet published, or never existed).
    Empty,
}

type Snapshot = Vec<(Location, Stored)>;

impl History {
    pub fn new(limits: HistoryLimits) -> Result<History> {
        if limits.max_groups == 0 || limits.max_bytes == 0 {
            return Err(Error::invalid_argument(format!(
                "history limits must be at least 1 group and 1 byte, got {} groups and {} bytes",
                limits.max_groups, limits.max_bytes
            )));
        }
        Ok(History {
            inner: Arc::new(Mutex::new(State {
                limits,
                groups: BTreeMap::new(),
                bytes: 0,
                floor: 0,
            })),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Retains one published object; call it for every object written to the
    /// track, before or right after writing it (before, if a SUBSCRIBE_OK
    /// must never advertise an object the history does not have yet).
    ///
    /// Returns whether the object is retained. It is not when: its group was
    /// already evicted or is older than every retained group while the
    /// history is full; the object ID is already recorded in the group (the
    /// first one is kept); or its group alone exceeds `max_bytes` (the whole
    /// group is then dropped and the rest of it refused).
    pub fn record(
        &self,
        group_id: u64,
        subgroup_id: u64,
        object_id: u64,
        priority: u8,
        extensions: ExtensionHeaders,
        payload: Bytes,
    ) -> bool {
        let mut state = self.state();
        let state = &mut *state;
        if group_id < state.floor {
            return false;
        }
        if !state.groups.contains_key(&group_id)
            && state.groups.len() >= state.limits.max_groups
            && state
                .groups
                .first_key_value()
                .is_some_and(|(&first, _)| group_id < first)
        {
            return false; // would be evicted at once
        }
        let group = state.groups.entry(group_id).or_default();
        if group.contains_key(&object_id) {
            return false;
        }
        state.bytes += payload.len();
        group.insert(
            object_id,
            Stored {
                subgroup_id,
                priority,
                extensions,
                payload,
            },
        );
        while state.groups.len() > state.limits.max_groups || state.bytes > state.limits.max_bytes {
            let Some((evicted, objects)) = state.groups.pop_first() else {
                break;
            };
            state.bytes -= objects.values().map(|o| o.payload.len()).sum::<usize>();
            state.floor = state.floor.max(evicted.saturating_add(1));
            if evicted == group_id {
                // The group being written does not fit on its own.
                return false;
            }
        }
        true
    }

    #[cfg(test)]
    fn group_count(&self) -> usize {
        self.state().groups.len()
    }

    #[cfg(test)]
    fn retained_bytes(&self) -> usize {
        self.state().bytes
    }

    /// Oldest and newest retained group, if any.
    pub fn group_span(&self) -> Option<(u64, u64)> {
        let state = self.state();
        let first = *state.groups.first_key_value()?.0;
        let last = *state.groups.last_key_value()?.0;
        Some((first, last))
    }

    /// The retained objects from `start` to `last` (both inclusive), groups in
    /// the requested order, objects ascending within a group. Payloads are
    /// shared, so a later eviction cannot change a response being sent.
    fn snapshot(
        &self,
        start: Location,
        last: Location,
        descending: bool,
    ) -> std::result::Result<Snapshot, Unavailable> {
        let state = self.state();
        if start.group_id < state.floor {
            return Err(Unavailable::NoLongerRetained);
        }
        if last < start {
            return Err(Unavailable::Empty);
        }
        let mut groups: Vec<Snapshot> = Vec::new();
        for (&group, objects) in state.groups.range(start.group_id..=last.group_id) {
            let selected: Snapshot = objects
                .iter()
                .map(|(&object, stored)| (Location::new(group, object), stored))
                .filter(|(location, _)| *location >= start && *location <= last)
                .map(|(location, stored)| (location, stored.clone()))
                .collect();
            if !selected.is_empty() {
                groups.push(selected);
            }
        }
        if descending {
            groups.reverse();
        }
        let objects: Snapshot = groups.into_iter().flatten().collect();
        if objects.is_empty() {
            return Err(Unavailable::Empty);
        }
        Ok(objects)
    }
}

type Key = (Vec<Vec<u8>>, Vec<u8>);

fn engine_key(namespace: &TrackNamespace, track: &TrackName) -> Key {
    (
        namespace.fields.iter().map(|f| f.value.clone()).collect(),
        track.as_bytes().to_vec(),
    )
}

/// Which tracks have a history, by (namespace, track name). Cheap to clone
/// (shared). One registry serves one session's FETCHes ([`serve_fetches`]).
#[derive(Debug, Clone, Default)]
pub struct HistoryRegistry {
    inner: Arc<Mutex<HashMap<Key, History>>>,
}

impl HistoryRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, History>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `history` answer FETCHes for `namespace`/`track` until the
    /// returned registration is dropped. `Duplicate` if the track already has
    /// a registered history.
    pub fn register(
        &self,
        namespace: &Namespace,
        track: &[u8],
        history: &History,
    ) -> Result<HistoryRegistration> {
        let name = names::track_name(namespace, track)?;
        let key = engine_key(&namespace.to_engine(), &name.as_str().into());
        let mut map = self.map();
        if map.contains_key(&key) {
            return Err(Error::new(
                Code::Duplicate,
                format!(
                    "track \"{namespace}/{name}\" already has a history registered; drop its \
                     HistoryRegistration first"
                ),
            ));
        }
        map.insert(key.clone(), history.clone());
        Ok(HistoryRegistration {
            registry: Arc::downgrade(&self.inner),
            key,
            history: history.clone(),
        })
    }

    /// The history registered for `namespace`/`track`, if any.
    #[cfg(test)]
    fn get(&self, namespace: &Namespace, track: &[u8]) -> Option<History> {
        let key = engine_key(&namespace.to_engine(), &TrackName::new(track.to_vec()));
        self.map().get(&key).cloned()
    }

    fn lookup(&self, namespace: &TrackNamespace, track: &TrackName) -> Option<History> {
        self.map().get(&engine_key(namespace, track)).cloned()
    }
}

/// Keeps a track's history registered; dropping it unregisters (FETCHes for
/// the track then get DOES_NOT_EXIST).
#[derive(Debug)]
pub struct HistoryRegistration {
    registry: Weak<Mutex<HashMap<Key, History>>>,
    key: Key,
    history: History,
}

impl HistoryRegistration {
    pub fn history(&self) -> &History {
        &self.history
    }
}

impl Drop for HistoryRegistration {
    fn drop(&mut self) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let mut map = registry.lock().unwrap_or_else(|e| e.into_inner());
        // Only remove our own entry.
        if map
            .get(&self.key)
            .is_some_and(|h| Arc::ptr_eq(&h.inner, &self.history.inner))
        {
            map.remove(&self.key);
        }
    }
}

/// Answers every FETCH the session's peer sends, from `registry`, until the
/// future is dropped or its task aborted (the session does that when it
/// ends), which also abandons the responses in progress. Enables FETCH on
/// the publisher first: without this running, FETCHes are refused with
/// NOT_SUPPORTED.
///
/// Run exactly one per session: every clone of a session's `Publisher`
/// shares one queue of FETCH requests, so two servers would split them.
pub async fn serve_fetches(mut publisher: Publisher, registry: HistoryRegistry) {
    publisher.accept_fetch();
    // Dropping the set (abort) abandons the responses in progress; their
    // data streams are reset.
    let mut responses = JoinSet::new();
    loop {
        tokio::select! {
            request = publisher.fetch_requested() => {
                let Some(request) = request else { break };
                let registry = registry.clone();
                responses.spawn(async move {
                    let id = request.id();
                    match tokio::time::timeout(RESPONSE_TIMEOUT, respond(request, &registry)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(err)) => tracing::debug!(request_id = id, "FETCH response ended: {err}"),
                        Err(_) => tracing::debug!(request_id = id, "FETCH response timed out"),
                    }
                });
            }
            Some(result) = responses.join_next(), if !responses.is_empty() => {
                if let Err(err) = result {
                    if err.is_panic() {
                        tracing::error!("a FETCH response panicked; please report this bug");
                    }
                }
            }
        }
    }
    // The session ended: nothing more can be sent.
    responses.abort_all();
}

/// Answers one FETCH.
async fn respond(request: FetchRequested, registry: &HistoryRegistry) -> Result<()> {
    let session_err = |e: SessionError| Error::from_session(&e, "answering a FETCH");
    let serve_err =
        |e: moq_transport::serve::ServeError| Error::from_serve(&e, "answering a FETCH");
    // A joining FETCH resolves against our own subscription (no relay in
    // between); if it cannot, resolve() has already answered REQUEST_ERROR.
    let Some(range) = request.resolve().await.map_err(session_err)? else {
        return Ok(());
    };
    let Some(history) = registry.lookup(&range.track_namespace, &range.track_name) else {
        request
            .reject(
                RequestErrorCode::DoesNotExist,
                "no such track, or it retains no history",
            )
            .map_err(serve_err)?;
        return Ok(());
    };
    let descending = request.group_order() == Some(GroupOrder::Descending);
    let last = inclusive_end(range.end_location);
    let objects = match history.snapshot(range.start_location, last, descending) {
        Ok(objects) => objects,
        Err(why) => {
            let reason = match why {
                Unavailable::NoLongerRetained => "the requested history is no longer retained",
                Unavailable::Empty => "no retained objects in the requested range",
            };
            request
                .reject(RequestErrorCode::InvalidRange, reason)
                .map_err(serve_err)?;
            return Ok(());
        }
    };
    let largest = objects
        .iter()
        .map(|(location, _)| *location)
        .max()
        .expect("snapshot is not empty");
    let mut writer = request
        .respond(FetchOkInfo {
            end_of_track: false,
            end_location: end_after(largest),
            params: KeyValuePairs::default(),
            track_extensions: Default::default(),
        })
        .await
        .map_err(session_err)?;
    for (location, stored) in objects {
        writer
            .write_record(&FetchRecord::Object(FetchRecordObject {
                group_id: location.group_id,
                subgroup_id: Some(stored.subgroup_id),
                object_id: location.object_id,
                publisher_priority: stored.priority,
                extension_headers: stored.extensions.clone(),
                payload_length: stored.payload.len() as u64,
            }))
            .await
            .map_err(session_err)?;
        if !stored.payload.is_empty() {
            writer
                .write_payload(&stored.payload)
                .await
                .map_err(session_err)?;
        }
    }
    writer.finish().await.map_err(session_err)
}

/// Draft-18 FETCH end (last + 1; object 0 = whole group) to the last location.
fn inclusive_end(end: Location) -> Location {
    Location::new(
        end.group_id,
        end.object_id.checked_sub(1).unwrap_or(u64::MAX),
    )
}

/// The draft-18 end encoding of a response whose last object is `last`.
fn end_after(last: Location) -> Location {
    Location::new(last.group_id, last.object_id.checked_add(1).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(max_groups: usize, max_bytes: usize) -> History {
        History::new(HistoryLimits {
            max_groups,
            max_bytes,
        })
        .unwrap()
    }

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    fn locations(snapshot: &Snapshot) -> Vec<(u64, u64)> {
        snapshot
            .iter()
            .map(|(l, _)| (l.group_id, l.object_id))
            .collect()
    }

    #[test]
    fn limits_must_be_positive() {
        assert_eq!(
            History::new(HistoryLimits {
                max_groups: 0,
                max_bytes: 1
            })
            .unwrap_err()
            .code,
            Code::InvalidArgument
        );
        assert!(History::new(HistoryLimits {
            max_groups: 1,
            max_bytes: 0
        })
        .is_err());
    }

    #[test]
    fn evicts_whole_groups_oldest_first() {
        let h = history(2, 1000);
        for g in 0..4 {
            for o in 0..3 {
                assert!(h.record(g, 0, o, 1, Default::default(), b("xy")));
            }
        }
        assert_eq!(h.group_span(), Some((2, 3)));
        assert_eq!(h.retained_bytes(), 12);
        // Evicted groups stay refused; the start of an evicted range is reported.
        assert!(!h.record(1, 0, 9, 1, Default::default(), b("late")));
        assert_eq!(
            h.snapshot(Location::new(1, 0), Location::new(3, 2), false)
                .unwrap_err(),
            Unavailable::NoLongerRetained
        );
        let all = h
            .snapshot(Location::new(2, 0), Location::new(3, u64::MAX), false)
            .unwrap();
        assert_eq!(
            locations(&all),
            [(2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2)]
        );
    }

    #[test]
    fn byte_limit_evicts_and_refuses_an_oversized_group() {
        let h = history(8, 6);
        assert!(h.record(1, 0, 0, 1, Default::default(), b("ab")));
        assert!(h.record(1, 0, 1, 1, Default::default(), b("cd")));
        assert!(h.record(2, 0, 0, 1, Default::default(), b("ef")));
        assert!(h.record(2, 0, 1, 1, Default::default(), b("gh"))); // evicts group 1
        assert_eq!(h.group_span(), Some((2, 2)));
        assert_eq!(h.retained_bytes(), 4);
        // Group 2 alone grows past the limit: it is dropped whole, and the
        // rest of it refused; group 3 is retained again.
        assert!(!h.record(2, 0, 2, 1, Default::default(), b("ijk")));
        assert_eq!(h.group_count(), 0);
        assert!(!h.record(2, 0, 3, 1, Default::default(), b("l")));
        assert!(h.record(3, 0, 0, 1, Default::default(), b("m")));
        assert_eq!(h.retained_bytes(), 1);
    }

    #[test]
    fn duplicates_and_too_old_groups_are_refused() {
        let h = history(2, 100);
        assert!(h.record(5, 0, 0, 1, Default::default(), b("a")));
        assert!(!h.record(5, 0, 0, 1, Default::default(), b("b")));
        assert!(h.record(7, 0, 0, 1, Default::default(), b("c")));
        // Full, and older than everything retained: refused, nothing evicted.
        assert!(!h.record(4, 0, 0, 1, Default::default(), b("d")));
        assert_eq!(h.group_span(), Some((5, 7)));
        // Within the span: retained.
        assert!(h.record(6, 0, 0, 1, Default::default(), b("e")));
        assert_eq!(h.group_span(), Some((6, 7)));
    }

    #[test]
    fn ranges_are_inclusive_and_descending_keeps_object_order() {
        let h = history(8, 1000);
        for g in 3..6 {
            for o in 0..3 {
                h.record(g, 0, o, 1, Default::default(), b("x"));
            }
        }
        let s = h
            .snapshot(Location::new(3, 1), Location::new(4, 1), true)
            .unwrap();
        assert_eq!(locations(&s), [(4, 0), (4, 1), (3, 1), (3, 2)]);
        assert_eq!(
            h.snapshot(Location::new(6, 0), Location::new(9, 0), false)
                .unwrap_err(),
            Unavailable::Empty
        );
        assert_eq!(
            inclusive_end(Location::new(4, 0)),
            Location::new(4, u64::MAX)
        );
        assert_eq!(inclusive_end(Location::new(4, 3)), Location::new(4, 2));
        assert_eq!(end_after(Location::new(4, u64::MAX)), Location::new(4, 0));
    }

    #[test]
    fn snapshots_survive_eviction() {
        let h = history(1, 1000);
        h.record(1, 0, 0, 1, Default::default(), b("keep"));
        let s = h
            .snapshot(Location::new(1, 0), Location::new(1, 0), false)
            .unwrap();
        h.record(2, 0, 0, 1, Default::default(), b("next"));
        assert_eq!(h.group_span(), Some((2, 2)));
        assert_eq!(&s[0].1.payload[..], b"keep");
    }

    #[test]
    fn registrations_are_unique_and_end_on_drop() {
        let registry = HistoryRegistry::new();
        let ns = Namespace::parse("a/b").unwrap();
        let h = history(1, 10);
        let reg = registry.register(&ns, b"t", &h).unwrap();
        assert_eq!(
            registry.register(&ns, b"t", &h).unwrap_err().code,
            Code::Duplicate
        );
        assert!(registry.get(&ns, b"t").is_some());
        assert!(registry.get(&ns, b"u").is_none());
        assert_eq!(
            registry.register(&ns, b"", &h).unwrap_err().code,
            Code::InvalidArgument
        );
        drop(reg);
        assert!(registry.get(&ns, b"t").is_none());
        let _again = registry.register(&ns, b"t", &history(1, 10)).unwrap();
        assert!(registry.get(&ns, b"t").is_some());
    }
}
