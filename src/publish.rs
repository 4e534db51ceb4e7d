//! Publishing: announce a namespace (PUBLISH_NAMESPACE), create tracks in it
//! (up front or when a subscriber asks for them), write groups of objects.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use moq_transport::data::{ExtensionHeaders, ObjectStatus};
use moq_transport::serve::{
    self, Datagram, DatagramsWriter, ServeError, Subgroup, SubgroupObjectWriter, SubgroupWriter,
    SubgroupsWriter, TracksReader, TracksWriter,
};
use moq_transport::session::{PublishNamespace, SessionError, Subscribed};
use tokio::sync::oneshot;

use crate::dispatch::Strand;
use crate::error::{Code, Error, Result};
use crate::history::{History, HistoryLimits, HistoryRegistration};
use crate::names::{self, Namespace};
use crate::object::{self, Extension, Status};
use crate::runtime::{bounded, runtime, wait_here};
use crate::send_backlog::TrackLedger;
pub use crate::send_backlog::DEFAULT_MAX_BACKLOG_BYTES;
use crate::session::{Link, Session, Shared};

/// An accepted PUBLISH_NAMESPACE. Dropping it withdraws the namespace; the
/// track request handler is not called after the drop returns (from a user
/// thread: none is running either, see [`crate::dispatch::Strand::close`]).
pub struct Announcement {
    publication: Publication,
    serving: tokio::task::AbortHandle,
}

/// Decides about a SUBSCRIBE for a track of the namespace that does not
/// exist: `accept` the request (creating the track) or drop it (the
/// subscriber gets NotFound). Called on the announcement's strand (a
/// callback thread of the library), one request at a time.
pub type TrackRequestHandler = Arc<dyn Fn(TrackRequest) + Send + Sync>;

/// The namespace's tracks, shared by the announcement, its serving task and
/// pending track requests.
#[derive(Clone)]
struct Publication {
    shared: Arc<Shared>,
    namespace: Namespace,
    tracks: Arc<Mutex<Tracks>>,
    on_request: Arc<Mutex<Option<TrackRequestHandler>>>,
    /// Where the request handler runs: off the task that serves the
    /// namespace's subscriptions, so a slow handler holds up no data.
    requests: Strand<()>,
}

/// The engine's track table plus the tracks that have a live writer, with
/// the ledger of what each wrote (none for datagram tracks).
struct Tracks {
    writer: TracksWriter,
    live: HashMap<String, Option<Arc<TrackLedger>>>,
}

impl Session {
    /// Sends PUBLISH_NAMESPACE and waits for the peer's OK, bounded by the
    /// session's request timeout.
    pub fn announce(&self, namespace: &Namespace) -> Result<Announcement> {
        wait_here("Session::announce", self.announce_request(namespace, None)?)
    }

    /// The request behind [`Session::announce`], for its non-blocking form:
    /// checked now, sent and answered (bounded by the request timeout) when
    /// the returned future runs.
    ///
    /// `on_request` answers SUBSCRIBEs to tracks that do not exist; it is in
    /// place before the namespace is announced (without one they get
    /// NotFound at once).
    pub fn announce_request(
        &self,
        namespace: &Namespace,
        on_request: Option<TrackRequestHandler>,
    ) -> Result<impl Future<Output = Result<Announcement>> + Send + 'static> {
        self.shared.check_open("Session::announce")?;
        let namespace = namespace.clone();
        let shared = self.shared.clone();
        let timeout = self.shared.request_timeout;
        Ok(async move {
            let (writer, request, reader) = serve::Tracks::new(namespace.to_engine()).produce();
            // Requests for unknown tracks are answered by `serve_one`, not queued.
            drop(request);
            let (link, publish_ns) = bounded("Session::announce", timeout, async {
                let link = shared.link("Session::announce").await?;
                let publish_ns = publish_namespace(&link, &namespace).await?;
                Ok((link, publish_ns))
            })
            .await?;
            let publication = Publication {
                shared,
                namespace,
                tracks: Arc::new(Mutex::new(Tracks {
                    writer,
                    live: HashMap::new(),
                })),
                on_request: Arc::new(Mutex::new(on_request)),
                requests: Strand::new(()),
            };
            let serving = runtime()
                .spawn(serve_announcement(
                    link,
                    publish_ns,
                    reader,
                    publication.clone(),
                ))
                .abort_handle();
            Ok(Announcement {
                publication,
                serving,
            })
        })
    }
}

/// Why the peer refused a PUBLISH_NAMESPACE, in words that say what to do.
fn announce_refusal(err: &ServeError, namespace: &str) -> Error {
    use moq_transport::message::RequestErrorCode;
    let taken = |code: u64| {
        code == RequestErrorCode::Uninterested as u64
            || code == RequestErrorCode::DuplicateSubscription as u64
    };
    match err {
        // moq-relay-ietf answers UNINTERESTED when another session already
        // publishes the namespace.
        ServeError::Duplicate => Error::new(Code::Duplicate, taken_message(namespace, "duplicate")),
        ServeError::Closed(code) if taken(*code) => Error::new(
            Code::Duplicate,
            taken_message(namespace, &format!("REQUEST_ERROR {code:#x}")),
        ),
        ServeError::Closed(code) if *code == RequestErrorCode::Unauthorized as u64 => {
            Error::closed(format!(
                "the relay refused the namespace \"{namespace}\" as unauthorized (REQUEST_ERROR \
                 {code:#x}): the session's authorization tokens do not cover it"
            ))
        }
        ServeError::Closed(code) => Error::new(
            crate::error::request_error_code(*code),
            format!("the relay refused the namespace \"{namespace}\" (REQUEST_ERROR {code:#x})"),
        ),
        _ => Error::from_serve(
            err,
            &format!("the relay refused the namespace \"{namespace}\""),
        ),
    }
}

fn taken_message(namespace: &str, answer: &str) -> String {
    format!(
        "the relay refused the namespace \"{namespace}\" ({answer}): another session already \
         publishes it. If that was an earlier run of this program that did not close its session, \
         the relay keeps it until its idle timeout (~10 s): call moq::shutdown() before exiting so \
         the CLOSE reaches the relay"
    )
}

/// Sends PUBLISH_NAMESPACE on `link` and waits for the peer's OK.
async fn publish_namespace(link: &Link, namespace: &Namespace) -> Result<PublishNamespace> {
    let text = namespace.to_string();
    let publish_ns = link
        .publisher
        .clone()
        .publish_namespace_start(namespace.to_engine())
        .await
        .map_err(|e| Error::from_session(&e, &format!("announcing \"{text}\"")))?;
    publish_ns
        .ok()
        .await
        .map_err(|e| announce_refusal(&e, &text))?;
    Ok(publish_ns)
}

/// Serves the namespace on the session's connection, and, under a reconnect
/// policy, announces it again on each new connection (its tracks and their
/// writers stay), until the announcement is withdrawn (task aborted), the
/// peer cancels it, or the session ends; then no request can come any more,
/// so the track request handler is released.
async fn serve_announcement(
    mut link: Arc<Link>,
    mut publish_ns: PublishNamespace,
    tracks: TracksReader,
    publication: Publication,
) {
    loop {
        serve_subscriptions(&link, &publish_ns, &tracks, &publication).await;
        drop(publish_ns);
        if !publication.shared.follows_reconnect(&link).await {
            break;
        }
        match reannounce(&publication, link.number).await {
            Some((next, again)) => (link, publish_ns) = (next, again),
            None => break,
        }
    }
    let handler = publication
        .on_request
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    drop(handler);
    publication.requests.close();
}

/// Announces the namespace on the session's next connection after `lost`,
/// trying again (as the reconnect policy waits) while the peer refuses it.
/// `None` once the session has ended.
async fn reannounce(publication: &Publication, lost: u64) -> Option<(Arc<Link>, PublishNamespace)> {
    let namespace = &publication.namespace;
    publication
        .shared
        .again_on_next_link(
            lost,
            &format!("announcing \"{namespace}\" again"),
            crate::log::Level::Warn,
            publication.shared.request_timeout,
            |link| async move { publish_namespace(&link, namespace).await },
        )
        .await
}

/// Answers the SUBSCRIBEs the peer forwards for this namespace on `link`
/// until the namespace or the connection ends; the subscriptions being
/// served then are let finish.
async fn serve_subscriptions(
    link: &Link,
    publish_ns: &PublishNamespace,
    tracks: &TracksReader,
    publication: &Publication,
) {
    let mut serving = FuturesUnordered::new();
    loop {
        tokio::select! {
            next = publish_ns.subscribed() => match next {
                Ok(Some(subscribed)) => {
                    serving.push(serve_one(subscribed, tracks.clone(), publication.clone()));
                }
                Ok(None) | Err(_) => break,
            },
            Some(result) = serving.next() => {
                if let Err(err) = result {
                    crate::log::warn(&format!(
                        "serving a subscription to \"{}\" failed: {err}",
                        publication.namespace
                    ));
                }
            }
            () = link.lost() => break,
            () = publication.shared.ended() => break,
        }
    }
    while serving.next().await.is_some() {}
}

/// Answers the SUBSCRIBEs for namespaces this session does not announce
/// (the engine queues them for the application, unanswered): NotFound at
/// once, so the subscriber learns it and nothing piles up. Aborted when the
/// session ends.
pub(crate) async fn refuse_unannounced(mut publisher: moq_transport::session::Publisher) {
    while let Some(subscribed) = publisher.subscribed().await {
        let _ = subscribed.close(ServeError::not_found_ctx(
            "this publisher does not announce that namespace (or no longer does)",
        ));
    }
}

/// Serves one SUBSCRIBE: from the track if it exists, else from a track the
/// request handler creates for it, else NotFound.
async fn serve_one(
    subscribed: Subscribed,
    mut tracks: TracksReader,
    publication: Publication,
) -> std::result::Result<(), SessionError> {
    let namespace = subscribed.info.track_namespace.clone();
    let name = subscribed.info.track_name.clone();
    if let Some(track) = tracks.get_track_reader(&namespace, &name) {
        let _followed = publication.follow(&subscribed);
        return subscribed.serve(track).await;
    }
    let handler = publication
        .on_request
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let text = String::from_utf8(name.as_bytes().to_vec()).ok();
    if let (Some(handler), Some(text)) = (handler, text) {
        let (decided, decision) = oneshot::channel();
        let request = TrackRequest {
            publication: publication.clone(),
            name: text,
            decided: Some(decided),
        };
        // Dropped unanswered (and so refused) if the announcement is gone.
        publication.requests.post(move |()| handler(request));
        let waited = tokio::time::timeout(publication.shared.request_timeout, decision).await;
        if let Ok(Ok(true)) = waited {
            if let Some(track) = tracks.get_track_reader(&namespace, &name) {
                let _followed = publication.follow(&subscribed);
                return subscribed.serve(track).await;
            }
        }
    }
    subscribed.close(ServeError::not_found_ctx(format!(
        "the publisher has no track \"{}/{}\"",
        publication.namespace,
        String::from_utf8_lossy(name.as_bytes())
    )))?;
    Ok(())
}

impl Announcement {
    pub fn namespace(&self) -> &Namespace {
        &self.publication.namespace
    }

    /// Creates a track in this namespace, published as subgroup streams.
    pub fn create_track(&self, name: &[u8]) -> Result<TrackWriter> {
        self.create_track_with(name, &TrackOptions::default())
    }

    /// `create_track` with options (history for FETCH).
    pub fn create_track_with(&self, name: &[u8], options: &TrackOptions) -> Result<TrackWriter> {
        self.publication
            .shared
            .check_open("Announcement::create_track")?;
        self.publication.create_track(name, options)
    }

    /// Creates a track in this namespace whose objects travel as QUIC
    /// datagrams: unreliable, unordered, each object alone in one datagram.
    pub fn create_datagram_track(&self, name: &[u8]) -> Result<DatagramWriter> {
        let publication = &self.publication;
        publication
            .shared
            .check_open("Announcement::create_datagram_track")?;
        if publication.shared.max_datagram_size() == 0 {
            return Err(Error::new(
                Code::Unsupported,
                "the peer does not accept QUIC datagrams on this connection; publish the track \
                 with create_track (streams) instead",
            ));
        }
        let (entry, track) = publication.register(name, None)?;
        let datagrams = track
            .datagrams()
            .map_err(|e| Error::from_serve(&e, &format!("creating track \"{entry}\"")))?;
        Ok(DatagramWriter {
            shared: publication.shared.clone(),
            entry,
            datagrams: Mutex::new(datagrams),
        })
    }

    /// Replaces (or with None removes) the handler for SUBSCRIBEs to tracks
    /// that do not exist. Without one they get NotFound at once.
    pub fn on_track_requested(&self, handler: Option<TrackRequestHandler>) {
        *self
            .publication
            .on_request
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = handler;
    }
}

impl Publication {
    /// Follows what the engine sends `subscribed` (send_backlog.rs), while
    /// the returned value lives.
    fn follow(&self, subscribed: &Subscribed) -> Option<crate::send_backlog::Served> {
        let name = String::from_utf8_lossy(subscribed.info.track_name.as_bytes()).into_owned();
        let ledger = self
            .tracks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .live
            .get(&name)
            .cloned()
            .flatten()?;
        Some(self.shared.sending.serve(subscribed.info.id, ledger))
    }

    fn create_track(&self, name: &[u8], options: &TrackOptions) -> Result<TrackWriter> {
        if options.max_group_bytes == 0 {
            return Err(Error::invalid_argument(
                "TrackOptions::max_group_bytes must be positive (the most payload one group may \
                 carry)",
            ));
        }
        if options.max_backlog_bytes == 0 {
            return Err(Error::invalid_argument(
                "TrackOptions::max_backlog_bytes must be positive (how far a subscriber may fall \
                 behind before it loses its oldest groups)",
            ));
        }
        let history = match options.history {
            Some(limits) => {
                let history = History::new(limits)?;
                let registration =
                    self.shared
                        .histories
                        .register(&self.namespace, name, &history)?;
                Some(registration)
            }
            None => None,
        };
        let ledger = TrackLedger::new(options.max_backlog_bytes);
        let (entry, track) = self.register(name, Some(ledger.clone()))?;
        let subgroups = track
            .subgroups()
            .map_err(|e| Error::from_serve(&e, &format!("creating track \"{entry}\"")))?;
        Ok(TrackWriter {
            shared: self.shared.clone(),
            entry,
            subgroups: Mutex::new(subgroups),
            history,
            counters: Arc::default(),
            ledger,
            max_group_bytes: options.max_group_bytes,
        })
    }

    /// Adds `name` to the namespace's track table, refusing a name that has a
    /// live writer (the engine would silently replace it).
    fn register(
        &self,
        name: &[u8],
        ledger: Option<Arc<TrackLedger>>,
    ) -> Result<(TrackEntry, serve::TrackWriter)> {
        let name = names::track_name(&self.namespace, name)?;
        let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        let full = format!("{}/{name}", self.namespace);
        if tracks.live.contains_key(&name) {
            return Err(Error::new(
                Code::Duplicate,
                format!("track \"{full}\" already exists; destroy its writer first"),
            ));
        }
        let track = tracks.writer.create(name.as_str()).ok_or_else(|| {
            Error::closed(format!(
                "cannot create \"{full}\": the announcement has ended"
            ))
        })?;
        tracks.live.insert(name.clone(), ledger);
        let entry = TrackEntry {
            tracks: self.tracks.clone(),
            namespace: self.namespace.clone(),
            name,
        };
        Ok((entry, track))
    }
}

/// A subscriber asked for a track that does not exist. `accept` creates it
/// and serves the subscriber from it; dropping the request refuses it (the
/// subscriber gets NotFound). Answer within the session's request timeout.
pub struct TrackRequest {
    publication: Publication,
    name: String,
    decided: Option<oneshot::Sender<bool>>,
}

impl TrackRequest {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the requested track (like `Announcement::create_track_with`).
    pub fn accept(mut self, options: &TrackOptions) -> Result<TrackWriter> {
        self.publication.shared.check_open("TrackRequest::accept")?;
        let track = self
            .publication
            .create_track(self.name.as_bytes(), options)?;
        if let Some(decided) = self.decided.take() {
            let _ = decided.send(true);
        }
        Ok(track)
    }
}

impl Drop for TrackRequest {
    fn drop(&mut self) {
        if let Some(decided) = self.decided.take() {
            let _ = decided.send(false);
        }
    }
}

/// A track's place in its namespace's table. Dropping it removes the track,
/// so later SUBSCRIBEs get NotFound rather than a track that never sends.
struct TrackEntry {
    tracks: Arc<Mutex<Tracks>>,
    namespace: Namespace,
    name: String,
}

impl std::fmt::Display for TrackEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl Drop for TrackEntry {
    fn drop(&mut self) {
        let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        tracks.live.remove(&self.name);
        tracks
            .writer
            .remove(&self.namespace.to_engine(), self.name.as_str());
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        // No request handler call after this (see Strand::close).
        self.publication.requests.close();
        // Dropping the serving task drops the engine's PublishNamespace, which
        // withdraws the namespace on the wire.
        self.serving.abort();
    }
}

/// One track. Dropping it ends the track: subscribers see a normal end.
pub struct TrackWriter {
    shared: Arc<Shared>,
    // Declared before `subgroups` so the track leaves the table before it ends.
    entry: TrackEntry,
    subgroups: Mutex<SubgroupsWriter>,
    /// Retained objects, answering FETCH while the registration lives.
    history: Option<HistoryRegistration>,
    counters: Arc<TrackCounters>,
    /// What it wrote, for the subscribers that fall behind.
    ledger: Arc<TrackLedger>,
    max_group_bytes: u64,
}

/// What a track has published so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackStats {
    /// Groups (subgroups) begun.
    pub groups: u64,
    /// Objects written (markers not counted).
    pub objects: u64,
    /// Payload bytes of those objects.
    pub bytes: u64,
    /// Payload bytes written and not yet handed to QUIC for the subscriber
    /// furthest behind (0 without subscribers).
    pub backlog_bytes: u64,
    /// Groups (subgroups) subscribers lost because they fell more than
    /// `TrackOptions::max_backlog_bytes` behind, over all subscribers.
    pub dropped_groups: u64,
}

/// Shared by a track and its group writers; relaxed atomics, read rarely.
#[derive(Default)]
struct TrackCounters {
    groups: AtomicU64,
    objects: AtomicU64,
    bytes: AtomicU64,
    /// Set by an end-of-track marker: no group may begin after it.
    ended: AtomicBool,
}

impl TrackCounters {
    fn check_not_ended(&self, track: &TrackEntry) -> Result<()> {
        if self.ended.load(Ordering::Acquire) {
            return Err(Error::closed(format!(
                "track \"{track}\" was ended with an end-of-track marker; create a new track \
                 to publish more"
            )));
        }
        Ok(())
    }
}

/// The most payload one group may carry unless the track says otherwise.
pub const DEFAULT_MAX_GROUP_BYTES: u64 = 64 * 1024 * 1024;

/// How a track is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackOptions {
    /// Keep the newest groups within these limits so FETCH (standalone and
    /// joining) can be answered. None: FETCH for this track gets NotFound.
    pub history: Option<HistoryLimits>,
    /// The most payload bytes one group (one subgroup) may carry. The engine
    /// keeps every object of an open group until the group ends, so a group
    /// that never ends would hold all it was given: an object that would
    /// pass this is refused (PayloadTooLarge). Must be positive.
    pub max_group_bytes: u64,
    /// How far one subscriber may fall behind, in payload bytes written and
    /// not yet handed to QUIC for it: past it, its oldest groups are dropped
    /// for it (their streams reset with TOO_FAR_BEHIND, counted in
    /// `TrackStats::dropped_groups`); the newest group is always kept. Must
    /// be positive.
    pub max_backlog_bytes: u64,
}

impl Default for TrackOptions {
    fn default() -> Self {
        Self {
            history: None,
            max_group_bytes: DEFAULT_MAX_GROUP_BYTES,
            max_backlog_bytes: DEFAULT_MAX_BACKLOG_BYTES,
        }
    }
}

impl TrackWriter {
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// Starts the next group (id = previous + 1, the first is 0) as one subgroup.
    pub fn begin_group(&self, priority: u8) -> Result<GroupWriter> {
        self.shared.check_open("TrackWriter::begin_group")?;
        self.counters.check_not_ended(&self.entry)?;
        let mut subgroups = self.subgroups.lock().unwrap_or_else(|e| e.into_inner());
        let writer = subgroups.append(priority).map_err(|e| {
            Error::from_serve(&e, &format!("starting a group on \"{}\"", self.entry))
        })?;
        Ok(self.group_writer(writer))
    }
}

impl TrackWriter {
    /// Opens subgroup `subgroup_id` of group `group_id` explicitly; several
    /// subgroups (of one or several groups) may be open at once.
    pub fn begin_subgroup(
        &self,
        group_id: u64,
        subgroup_id: u64,
        priority: u8,
    ) -> Result<GroupWriter> {
        self.shared.check_open("TrackWriter::begin_subgroup")?;
        self.counters.check_not_ended(&self.entry)?;
        let mut subgroups = self.subgroups.lock().unwrap_or_else(|e| e.into_inner());
        let writer = subgroups
            .create(Subgroup {
                group_id,
                subgroup_id,
                priority,
            })
            .map_err(|e| {
                Error::from_serve(
                    &e,
                    &format!(
                        "opening subgroup {subgroup_id} of group {group_id} on \"{}\"",
                        self.entry
                    ),
                )
            })?;
        Ok(self.group_writer(writer))
    }

    fn group_writer(&self, writer: SubgroupWriter) -> GroupWriter {
        self.counters.groups.fetch_add(1, Ordering::Relaxed);
        let mut group = GroupWriter::from_engine(self.shared.clone(), writer, &self.ledger);
        group.history = self.history();
        group.counters = Some(self.counters.clone());
        group.max_group_bytes = self.max_group_bytes;
        group
    }

    /// Groups, objects and bytes published on this track so far.
    pub fn stats(&self) -> TrackStats {
        TrackStats {
            groups: self.counters.groups.load(Ordering::Relaxed),
            objects: self.counters.objects.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
            backlog_bytes: self.ledger.backlog(),
            dropped_groups: self.ledger.dropped_groups(),
        }
    }

    /// Waits until every subscriber of the track was sent all that was
    /// written to it and the peer acknowledged every finished subgroup, or
    /// `timeout` passes (`Timeout`). Blocks (`WouldBlock` on a library
    /// thread); returns at once without subscribers. Call it before dropping
    /// the track or closing the session when the end must arrive.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.shared.check_open("TrackWriter::flush")?;
        self.ledger
            .flush(timeout, &format!("flushing \"{}\"", self.entry))
    }

    /// The track's retained history, if it keeps one.
    pub fn history(&self) -> Option<History> {
        self.history
            .as_ref()
            .map(|registration| registration.history().clone())
    }
}

/// A track sent as datagrams. Dropping it ends the track.
pub struct DatagramWriter {
    shared: Arc<Shared>,
    entry: TrackEntry,
    datagrams: Mutex<DatagramsWriter>,
}

/// Bytes a MoQT object datagram header can take (type, track alias, group,
/// object, priority), subtracted from the QUIC datagram size.
const DATAGRAM_HEADER_MAX: usize = 1 + 8 + 8 + 8 + 1;

impl DatagramWriter {
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The largest payload that fits in one datagram on this connection.
    pub fn max_payload(&self) -> usize {
        self.shared
            .max_datagram_size()
            .saturating_sub(DATAGRAM_HEADER_MAX)
    }

    /// Sends one object as a datagram. Never blocks. Datagrams may be lost,
    /// and the engine keeps only the latest unsent one per track.
    pub fn write(&self, group_id: u64, object_id: u64, priority: u8, payload: Bytes) -> Result<()> {
        self.shared.check_open("DatagramWriter::write")?;
        let limit = self.max_payload();
        if payload.len() > limit {
            return Err(Error::new(
                Code::PayloadTooLarge,
                format!(
                    "payload is {} bytes, but a datagram on this connection carries at most \
                     {limit}; send it on a subgroup track (create_track) instead",
                    payload.len()
                ),
            ));
        }
        let mut datagrams = self.datagrams.lock().unwrap_or_else(|e| e.into_inner());
        datagrams
            .write(Datagram {
                group_id,
                object_id,
                priority,
                status: ObjectStatus::NormalObject,
                end_of_group: false,
                payload,
                extension_headers: Default::default(),
            })
            .map_err(|e| {
                Error::from_serve(&e, &format!("sending a datagram on \"{}\"", self.entry))
            })
    }
}

/// One group (one subgroup stream). `finish` ends it with a FIN; dropping it
/// does the same.
pub struct GroupWriter {
    shared: Arc<Shared>,
    group_id: u64,
    subgroup_id: u64,
    priority: u8,
    writer: Mutex<GroupState>,
    history: Option<History>,
    counters: Option<Arc<TrackCounters>>,
    /// Payload bytes written to this subgroup, in its track's ledger.
    tally: (Arc<TrackLedger>, Arc<AtomicU64>),
    max_group_bytes: u64,
}

/// The engine's subgroup writer (None once finished), the id the next
/// object gets unless the caller names one, and the payload bytes so far.
struct GroupState {
    writer: Option<SubgroupWriter>,
    next_object_id: u64,
    bytes: u64,
}

// Shared with publish_track.rs (single-track PUBLISH): its writer makes
// engine subgroups itself and hands them out as this same GroupWriter.
impl GroupWriter {
    /// A writer of the engine's subgroup `writer`, counted in its track's
    /// `ledger` (what a lagging subscriber was not sent yet).
    pub(crate) fn from_engine(
        shared: Arc<Shared>,
        writer: SubgroupWriter,
        ledger: &Arc<TrackLedger>,
    ) -> Self {
        let tally = ledger.begin(writer.group_id, writer.subgroup_id);
        Self {
            shared,
            group_id: writer.group_id,
            subgroup_id: writer.subgroup_id,
            priority: writer.priority,
            writer: Mutex::new(GroupState {
                writer: Some(writer),
                next_object_id: 0,
                bytes: 0,
            }),
            history: None,
            counters: None,
            tally: (ledger.clone(), tally),
            max_group_bytes: DEFAULT_MAX_GROUP_BYTES,
        }
    }
}

impl GroupWriter {
    pub fn group_id(&self) -> u64 {
        self.group_id
    }

    /// Appends one object with the next object id. Never blocks: the engine buffers.
    pub fn write(&self, payload: Bytes) -> Result<()> {
        self.write_object(None, payload, &[])
    }

    /// Appends one object with an explicit id (greater than every id written
    /// so far; skipped ids are gaps) and extension headers.
    pub fn write_object(
        &self,
        object_id: Option<u64>,
        payload: Bytes,
        extensions: &[Extension],
    ) -> Result<()> {
        let headers = object::to_engine(extensions)?;
        let kept = self.history.as_ref().and_then(|_| headers.clone());
        let mut object = self.create(object_id, payload.len(), Status::Normal, headers)?;
        // Recorded before it is sent, so any location a subscriber learns of
        // can already be fetched.
        if let Some(history) = &self.history {
            history.record(
                self.group_id,
                self.subgroup_id,
                object.object_id,
                self.priority,
                kept.unwrap_or_default(),
                payload.clone(),
            );
        }
        object
            .write(payload)
            .map_err(|e| Error::from_serve(&e, &format!("writing to group {}", self.group_id)))
    }

    /// Starts an object of exactly `size` bytes, written in chunks through the
    /// returned writer.
    pub fn begin_object(
        &self,
        object_id: Option<u64>,
        size: usize,
        extensions: &[Extension],
    ) -> Result<ObjectWriter> {
        let headers = object::to_engine(extensions)?;
        let kept = self.history.as_ref().and_then(|_| headers.clone());
        let writer = self.create(object_id, size, Status::Normal, headers)?;
        let history = self.history.clone().map(|history| PendingRecord {
            history,
            extensions: kept.unwrap_or_default(),
            subgroup_id: self.subgroup_id,
            priority: self.priority,
            remaining: size,
            chunks: BytesMut::with_capacity(size),
        });
        Ok(ObjectWriter {
            shared: self.shared.clone(),
            group_id: self.group_id,
            writer: Mutex::new((writer, history)),
        })
    }

    /// Writes an end-of-group or end-of-track marker (no payload) with the
    /// next object id, or `object_id`, and finishes the group: later writes
    /// fail with `Closed`. An end-of-track marker also ends the track: no
    /// group may begin on it afterwards.
    pub fn write_marker(&self, status: Status, object_id: Option<u64>) -> Result<()> {
        if status == Status::Normal {
            return Err(Error::invalid_argument(
                "a marker must be EndOfGroup or EndOfTrack; write a normal object with write()",
            ));
        }
        self.create(object_id, 0, status, None)?;
        if status == Status::EndOfTrack {
            if let Some(counters) = &self.counters {
                counters.ended.store(true, Ordering::Release);
            }
        }
        self.finish()
    }

    fn create(
        &self,
        object_id: Option<u64>,
        size: usize,
        status: Status,
        extensions: Option<ExtensionHeaders>,
    ) -> Result<SubgroupObjectWriter> {
        self.shared.check_open("GroupWriter::write")?;
        let limit = self.shared.max_object_size;
        if size > limit {
            return Err(Error::new(
                Code::PayloadTooLarge,
                format!(
                    "payload is {size} bytes, the limit is {limit} (SessionConfig::max_object_size); \
                     split it or raise the limit"
                ),
            ));
        }
        let mut state = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let next = state.next_object_id;
        let id = object_id.unwrap_or(next);
        if id < next {
            return Err(Error::invalid_argument(format!(
                "object id {id} in group {} is not above the last one written ({}); object ids \
                 must increase within a subgroup",
                self.group_id,
                next - 1
            )));
        }
        let bytes = state.bytes.saturating_add(size as u64);
        let writer = state.writer.as_mut().ok_or_else(|| {
            Error::closed(format!(
                "group {} is finished; begin a new group to write more",
                self.group_id
            ))
        })?;
        if bytes > self.max_group_bytes {
            return Err(Error::new(
                Code::PayloadTooLarge,
                format!(
                    "group {} would carry {bytes} bytes, above TrackOptions::max_group_bytes ({}): \
                     the engine keeps a group whole until it ends, so finish it and begin a new \
                     group (or raise the limit)",
                    self.group_id, self.max_group_bytes
                ),
            ));
        }
        let object = writer
            .create_with_id_and_status(id, size, status.to_engine(), extensions)
            .map_err(|e| Error::from_serve(&e, &format!("writing to group {}", self.group_id)))?;
        state.next_object_id = id.saturating_add(1);
        state.bytes = bytes;
        if let (Some(counters), Status::Normal) = (&self.counters, status) {
            counters.objects.fetch_add(1, Ordering::Relaxed);
            counters.bytes.fetch_add(size as u64, Ordering::Relaxed);
        }
        self.tally.1.fetch_add(size as u64, Ordering::Relaxed);
        Ok(object)
    }

    /// Ends the group; later writes fail with `Closed`.
    pub fn finish(&self) -> Result<()> {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .writer
            .take()
            .ok_or_else(|| {
                Error::closed(format!(
                    "group {} is already finished (by finish() or an end marker)",
                    self.group_id
                ))
            })?;
        let finished = writer
            .finish()
            .map_err(|e| Error::from_serve(&e, &format!("finishing group {}", self.group_id)));
        self.tally.0.check();
        finished
    }
}

/// One object written in chunks. Its chunks must add up to the size given to
/// `begin_object`; an object dropped short is reset on the wire.
pub struct ObjectWriter {
    shared: Arc<Shared>,
    group_id: u64,
    writer: Mutex<(SubgroupObjectWriter, Option<PendingRecord>)>,
}

/// A chunked object on its way into a track's history: recorded whole once
/// its last chunk is written.
struct PendingRecord {
    history: History,
    extensions: ExtensionHeaders,
    subgroup_id: u64,
    priority: u8,
    remaining: usize,
    chunks: BytesMut,
}

impl ObjectWriter {
    pub fn write(&self, chunk: Bytes) -> Result<()> {
        self.shared.check_open("ObjectWriter::write")?;
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let (writer, pending) = &mut *guard;
        if let Some(record) = pending.as_mut().filter(|r| chunk.len() <= r.remaining) {
            record.chunks.extend_from_slice(&chunk);
            record.remaining -= chunk.len();
            if record.remaining == 0 {
                record.history.record(
                    self.group_id,
                    record.subgroup_id,
                    writer.object_id,
                    record.priority,
                    std::mem::take(&mut record.extensions),
                    std::mem::take(&mut record.chunks).freeze(),
                );
            }
        }
        writer.write(chunk).map_err(|e| match e {
            ServeError::Size => Error::invalid_argument(format!(
                "chunk overruns object {} of group {}: the chunks must add up to the size given \
                 to begin_object",
                writer.object_id, self.group_id
            )),
            other => Error::from_serve(&other, &format!("writing to group {}", self.group_id)),
        })
    }
}
