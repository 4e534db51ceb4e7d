//! Subscribing: SUBSCRIBE to a track and deliver every received object, in
//! arrival order and one at a time, to a handler (or queue it for the user to
//! take); then one terminal event. Delivery (threads, budget): delivery.rs.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use moq_transport::coding::TrackNamespace;
use moq_transport::coding::{KeyValuePairs, Location};
use moq_transport::message::{
    FilterType, GroupOrder as EngineGroupOrder, PublishDoneCode, SubscriptionFilter,
};
use moq_transport::serve::{
    self, ServeError, SubgroupReader, SubgroupsReader, TrackReader, TrackReaderMode,
};
use moq_transport::session::Subscribe as EngineSubscribe;

use crate::bytes::PayloadJoiner;
use crate::delivery::Delivery;
use crate::error::{Code, Error, Result};
use crate::inbox::{InboxStats, ReceiveBudget};
use crate::names::{self, Namespace};
use crate::object::{self, Extension, ExtensionValue, Status};
use crate::reorder::{Arrival, Reorder};
use crate::runtime::{bounded, catch_panic, runtime, wait_here};
use crate::session::{Link, Session, Shared};
use crate::stream_guard::StreamPolicy;

/// One received object. `payload` shares the received buffer (no copy) when the
/// object arrived in one piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedObject {
    pub group_id: u64,
    pub subgroup_id: u64,
    pub object_id: u64,
    pub priority: u8,
    pub payload: Bytes,
    /// Arrived as a QUIC datagram (not on a subgroup stream).
    pub datagram: bool,
    /// Normal, or an end-of-group / end-of-track marker (empty payload).
    pub status: Status,
    pub extensions: Vec<Extension>,
    /// How many pieces the payload arrived in (QUIC stream reads joined into
    /// this object); 1 for a datagram.
    pub chunks: u32,
}

impl ReceivedObject {
    /// What it holds in memory, as a receive budget counts it: the payload
    /// and the decoded extensions (a 1 MiB extension block of tiny values
    /// decodes to many times that).
    pub(crate) fn memory(&self) -> usize {
        self.payload.len()
            + self
                .extensions
                .iter()
                .map(|e| {
                    std::mem::size_of::<Extension>()
                        + match &e.value {
                            ExtensionValue::Bytes(bytes) => bytes.len(),
                            ExtensionValue::Number(_) => 0,
                        }
                })
                .sum::<usize>()
    }

    /// An object with the given location; fields added later get defaults.
    pub fn new(
        group_id: u64,
        subgroup_id: u64,
        object_id: u64,
        priority: u8,
        payload: Bytes,
    ) -> Self {
        Self {
            group_id,
            subgroup_id,
            object_id,
            priority,
            payload,
            datagram: false,
            status: Status::Normal,
            extensions: Vec::new(),
            chunks: 1,
        }
    }
}

/// Which objects a subscription starts (and possibly ends) with (draft 18 §10.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// From the latest object the publisher has (the relay's default).
    #[default]
    LatestObject,
    /// From the start of the next group.
    NextGroup,
    /// From `group`/`object` on, open-ended.
    AbsoluteStart { group: u64, object: u64 },
    /// From `start_group`/`start_object` to the end of `end_group` (inclusive).
    AbsoluteRange {
        start_group: u64,
        start_object: u64,
        end_group: u64,
    },
}

/// Delivery order of groups the publisher has several of at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupOrder {
    /// Whatever the publisher prefers.
    #[default]
    Publisher,
    Ascending,
    Descending,
}

/// Default [`SubscribeOptions::reorder_window`].
pub const DEFAULT_REORDER_WINDOW: Duration = Duration::from_secs(1);

/// SUBSCRIBE parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOptions {
    pub filter: Filter,
    pub group_order: GroupOrder,
    /// false: the publisher holds objects back until forwarding is enabled.
    pub forward: bool,
    /// Subscriber priority: lower is more important.
    pub priority: u8,
    /// Drop objects not delivered within this time (None = no limit).
    pub delivery_timeout: Option<Duration>,
    /// Let the relay hold the SUBSCRIBE this long for a publisher that has not
    /// appeared yet, instead of answering not-found at once.
    pub rendezvous_timeout: Option<Duration>,
    /// Queue objects for [`Subscription::try_next`] / [`Subscription::next`]
    /// instead of calling the handler's `on_object` (which is then unused;
    /// `on_closed` is still the terminal event).
    pub pull: bool,
    /// What may wait between the network and the user, and what happens
    /// when it is full.
    pub budget: ReceiveBudget,
    /// With `GroupOrder::Ascending`: how long objects of later groups wait
    /// for the group being delivered to end before it is skipped.
    pub reorder_window: Duration,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            filter: Filter::default(),
            group_order: GroupOrder::default(),
            forward: true,
            priority: 128,
            delivery_timeout: None,
            rendezvous_timeout: None,
            pull: false,
            budget: ReceiveBudget::default(),
            reorder_window: DEFAULT_REORDER_WINDOW,
        }
    }
}

impl SubscribeOptions {
    fn validate(&self) -> Result<()> {
        self.budget.validate()?;
        match self.filter {
            Filter::AbsoluteRange {
                start_group,
                end_group,
                ..
            } if end_group < start_group => Err(Error::invalid_argument(format!(
                "subscription range ends at group {end_group}, before its start group \
                 {start_group}"
            ))),
            _ => Ok(()),
        }
    }

    fn to_params(&self) -> Result<KeyValuePairs> {
        let mut params = KeyValuePairs::default();
        let (filter_type, start_location, end_group_id) = match self.filter {
            Filter::LatestObject => (FilterType::LargestObject, None, None),
            Filter::NextGroup => (FilterType::NextGroupStart, None, None),
            Filter::AbsoluteStart { group, object } => (
                FilterType::AbsoluteStart,
                Some(Location::new(group, object)),
                None,
            ),
            Filter::AbsoluteRange {
                start_group,
                start_object,
                end_group,
            } => (
                FilterType::AbsoluteRange,
                Some(Location::new(start_group, start_object)),
                Some(end_group),
            ),
        };
        params
            .set_subscription_filter(&SubscriptionFilter {
                filter_type,
                start_location,
                end_group_id,
            })
            .map_err(|e| Error::invalid_argument(format!("subscription filter: {e}")))?;
        params.set_group_order(match self.group_order {
            GroupOrder::Publisher => EngineGroupOrder::Publisher,
            GroupOrder::Ascending => EngineGroupOrder::Ascending,
            GroupOrder::Descending => EngineGroupOrder::Descending,
        });
        params.set_forward(self.forward);
        params.set_subscriber_priority(self.priority);
        if let Some(timeout) = self.delivery_timeout {
            params.set_delivery_timeout(millis(timeout));
        }
        if let Some(timeout) = self.rendezvous_timeout {
            params.set_rendezvous_timeout(millis(timeout));
        }
        Ok(params)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where a subscription's events go. Called on a callback thread of the
/// library (dispatch.rs), never two calls at once for one subscription,
/// `on_closed` exactly once and last (unless the subscription is dropped
/// first); dropped after that, or when the subscription is dropped.
pub trait ObjectHandler: Send + 'static {
    fn on_object(&mut self, object: ReceivedObject);
    /// `Ok` = the publisher ended the track normally.
    fn on_closed(&mut self, result: Result<()>);
}

/// A live subscription. Dropping it unsubscribes; the handler gets no
/// further calls once the drop has returned (from a callback thread: none
/// starts after it), see [`crate::dispatch::Strand::close`].
pub struct Subscription {
    task: tokio::task::AbortHandle,
    delivery: Delivery,
    // Read by fetch.rs: a joining FETCH names the subscription by its request
    // ID and must be sent on the same session (and connection).
    pub(crate) shared: Arc<Shared>,
    /// The SUBSCRIBE's request ID and the number of the connection it was
    /// sent on; both change when the subscription is made again after a
    /// reconnect.
    current: Arc<Mutex<(u64, u64)>>,
}

impl Subscription {
    /// Pull mode: the next queued object, if any. Never blocks.
    pub fn try_next(&self) -> Option<ReceivedObject> {
        self.delivery.try_take()
    }

    /// Pull mode: waits up to `timeout` for the next object (`Duration::MAX`:
    /// without end). `Closed` (or `Lagging`) once the subscription has ended
    /// and nothing is queued; `Timeout`; `WouldBlock` on a library thread;
    /// `InvalidArgument` in push mode.
    pub fn next(&self, timeout: Duration) -> Result<ReceivedObject> {
        if self.delivery.is_push() {
            return Err(Error::invalid_argument(
                "Subscription::next is for pull mode; this subscription delivers to a callback",
            ));
        }
        if crate::runtime::on_runtime_thread() {
            return Err(Error::new(
                Code::WouldBlock,
                "Subscription::next waits and cannot be called from a moq callback thread; use \
                 try_next there",
            ));
        }
        self.delivery.wait_take(timeout)
    }

    /// Objects received, dropped to stay in the budget, and so on.
    pub fn stats(&self) -> InboxStats {
        self.delivery.stats()
    }

    /// The live SUBSCRIBE's request ID and the number of its connection.
    pub(crate) fn request(&self) -> (u64, u64) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // No callback after this (see Strand::close); aborting the task drops
        // the engine's Subscribe, which sends UNSUBSCRIBE.
        self.delivery.close();
        self.task.abort();
    }
}

impl Session {
    /// Sends SUBSCRIBE and waits for the publisher's answer, bounded by the
    /// session's request timeout; then delivers objects to `handler`.
    pub fn subscribe(
        &self,
        namespace: &Namespace,
        track: &[u8],
        handler: Box<dyn ObjectHandler>,
    ) -> Result<Subscription> {
        self.subscribe_with(namespace, track, &SubscribeOptions::default(), handler)
    }

    /// `subscribe` with SUBSCRIBE parameters.
    pub fn subscribe_with(
        &self,
        namespace: &Namespace,
        track: &[u8],
        options: &SubscribeOptions,
        handler: Box<dyn ObjectHandler>,
    ) -> Result<Subscription> {
        wait_here(
            "Session::subscribe",
            self.subscribe_request(namespace, track, options, handler)?,
        )
    }

    /// The request behind [`Session::subscribe_with`], for its non-blocking
    /// form: checked now, sent and answered (bounded by the request timeout,
    /// plus the rendezvous timeout) when the returned future runs.
    pub fn subscribe_request(
        &self,
        namespace: &Namespace,
        track: &[u8],
        options: &SubscribeOptions,
        handler: Box<dyn ObjectHandler>,
    ) -> Result<impl Future<Output = Result<Subscription>> + Send + 'static> {
        self.shared.check_open("Session::subscribe")?;
        let name = names::track_name(namespace, track)?;
        options.validate()?;
        // Checked now; made again for each connection (send_subscribe).
        options.to_params()?;
        // A rendezvous holds the answer back until the publisher appears.
        let timeout = self.shared.request_timeout + options.rendezvous_timeout.unwrap_or_default();
        let track = TrackRef {
            full: format!("{namespace}/{name}"),
            namespace: namespace.to_engine(),
            name,
        };
        let shared = self.shared.clone();
        let options = options.clone();
        Ok(async move {
            let (link, subscribed) = bounded("Session::subscribe", timeout, async {
                let link = shared.link("Session::subscribe").await?;
                let subscribed = send_subscribe(&link, &track, &options, &shared).await?;
                Ok((link, subscribed))
            })
            .await?;
            let current = Arc::new(Mutex::new((subscribed.subscribe.info.id, link.number)));
            let delivery = Delivery::new(handler, options.budget, !options.pull)
                .pausing(shared.read_gate.clone());
            let feed = delivery.clone();
            let task = runtime().spawn(receive(
                shared.clone(),
                link,
                subscribed,
                track,
                options,
                feed,
                current.clone(),
            ));
            Ok(Subscription {
                task: task.abort_handle(),
                delivery,
                shared,
                current,
            })
        })
    }
}

/// The track a subscription names, as the engine wants it.
struct TrackRef {
    full: String,
    namespace: TrackNamespace,
    name: String,
}

/// An answered SUBSCRIBE: the engine's request (dropping it unsubscribes),
/// the track it fills, and the stopper of the groups the delivery drops.
struct Subscribed {
    subscribe: EngineSubscribe,
    reader: TrackReader,
    stopper: Option<GroupStopper>,
}

/// Sends SUBSCRIBE on `link` with `options` and waits for the answer.
async fn send_subscribe(
    link: &Link,
    track: &TrackRef,
    options: &SubscribeOptions,
    shared: &Shared,
) -> Result<Subscribed> {
    let params = options.to_params()?;
    let (writer, reader) =
        serve::Track::new(track.namespace.clone(), track.name.as_str()).produce();
    let subscribe = link
        .subscriber
        .clone()
        .subscribe_open_with_params(writer, params)
        .await
        .map_err(|e| subscribe_error(&e, &track.full))?;
    let stopper = subscribe
        .subscribe_ok()
        .map(|ok| GroupStopper::new(shared.stream_policy.clone(), ok.track_alias));
    Ok(Subscribed {
        subscribe,
        reader,
        stopper,
    })
}

/// Delivers the track until it ends; under a reconnect policy, a
/// subscription whose connection was lost is made again on the next
/// connection, from the group after the last one it received (so nothing is
/// delivered twice), and the gap is counted, not reported as an end.
async fn receive(
    shared: Arc<Shared>,
    mut link: Arc<Link>,
    mut subscribed: Subscribed,
    track: TrackRef,
    options: SubscribeOptions,
    feed: Delivery,
    current: Arc<Mutex<(u64, u64)>>,
) {
    let result = loop {
        let Subscribed {
            subscribe,
            reader,
            stopper,
        } = subscribed;
        let order = (options.group_order == GroupOrder::Ascending)
            .then(|| Reorder::new(options.reorder_window, options.budget.max_bytes));
        // A panic in the engine still ends in exactly one terminal event.
        let result = catch_panic(
            "receiving the track",
            deliver(reader, &feed, stopper, order),
        )
        .await;
        // Unsubscribe (if still subscribed) before going on.
        drop(subscribe);
        if result.is_ok() || !shared.follows_reconnect(&link).await {
            break result;
        }
        let floor = feed.connection_lost();
        match resubscribe(&shared, link.number, &track, &options, floor).await {
            Some((next, again)) => {
                *current.lock().unwrap_or_else(|e| e.into_inner()) =
                    (again.subscribe.info.id, next.number);
                feed.resumed();
                (link, subscribed) = (next, again);
            }
            None => break result,
        }
    };
    feed.finish(result);
}

/// Subscribes again on the session's next connection after `lost`, from
/// group `floor` on (`None`: as first asked), trying again (as the reconnect
/// policy waits) while the publisher is not back yet. `None` once the
/// session has ended.
async fn resubscribe(
    shared: &Shared,
    lost: u64,
    track: &TrackRef,
    options: &SubscribeOptions,
    floor: Option<u64>,
) -> Option<(Arc<Link>, Subscribed)> {
    let mut options = options.clone();
    if let Some(floor) = floor {
        options.filter = match options.filter {
            Filter::AbsoluteRange { end_group, .. } => Filter::AbsoluteRange {
                start_group: floor,
                start_object: 0,
                end_group: end_group.max(floor),
            },
            _ => Filter::NextGroup,
        };
    }
    let timeout = shared.request_timeout + options.rendezvous_timeout.unwrap_or_default();
    let options = &options;
    shared
        .again_on_next_link(
            lost,
            &format!("subscribing to \"{}\" again", track.full),
            crate::log::Level::Info,
            timeout,
            |link| async move { send_subscribe(&link, track, options, shared).await },
        )
        .await
}

fn subscribe_error(err: &ServeError, full: &str) -> Error {
    match err {
        ServeError::NotFound | ServeError::NotFoundWithId(..) => Error::new(
            Code::NotFound,
            format!("track \"{full}\" not found: no publisher offers it ({err})"),
        ),
        ServeError::Duplicate => Error::new(
            Code::Duplicate,
            format!(
                "this session is already subscribed to \"{full}\"; MoQT allows one subscription \
                 per track per session: share it, or use a second session"
            ),
        ),
        _ => Error::from_serve(err, &format!("subscribing to \"{full}\"")),
    }
}

/// How a track's end maps to the terminal event.
fn track_end(err: ServeError) -> Result<()> {
    match err {
        ServeError::Closed(code) if code == PublishDoneCode::TrackEnded as u64 => Ok(()),
        ServeError::Done => Ok(()),
        ServeError::Closed(code) => Err(Error::closed(format!(
            "the publisher ended the subscription (PUBLISH_DONE code {code:#x})"
        ))),
        ServeError::Cancel => Err(Error::closed(
            "the subscription ended: the session closed or the track was cancelled",
        )),
        // The engine's words for a reader more than 1024 subgroups behind:
        // the subscriber's lag, not a bug.
        ServeError::Internal(ref message)
            if message.contains("fell behind") || message.contains("pending stream limit") =>
        {
            Err(Error::new(
                Code::Lagging,
                format!(
                    "the subscriber fell too far behind the track (more than 1024 subgroups \
                     unread): {message}"
                ),
            ))
        }
        other => Err(Error::from_serve(&other, "the subscription ended")),
    }
}

/// Stops the streams of the groups a delivery dropped (stream_guard.rs), so
/// the engine does not buffer the rest of them for nobody.
pub(crate) struct GroupStopper {
    policy: Arc<StreamPolicy>,
    alias: u64,
}

impl GroupStopper {
    pub(crate) fn new(policy: Arc<StreamPolicy>, alias: u64) -> Self {
        Self { policy, alias }
    }

    fn dropped(&self, group: u64) {
        self.policy.drop_group(self.alias, group);
    }

    /// Bounds what the track's open streams hold by `delivery`'s budget,
    /// and tells it of the groups dropped for that.
    fn bound_in_flight(&self, delivery: &Delivery) {
        if let Some(limit) = delivery.in_flight_limit() {
            let delivery = delivery.clone();
            self.policy.bound_in_flight(
                self.alias,
                limit,
                Box::new(move |group| delivery.dropped_in_flight(group)),
            );
        }
    }
}

impl Drop for GroupStopper {
    fn drop(&mut self) {
        // The alias may name another track later.
        self.policy.forget_track(self.alias);
    }
}

/// Delivers every object of `reader`, in ascending group order if `order`
/// is given (reorder.rs); shared with incoming PUBLISH.
pub(crate) async fn deliver(
    reader: TrackReader,
    delivery: &Delivery,
    stopper: Option<GroupStopper>,
    order: Option<Reorder>,
) -> Result<()> {
    if let Some(stopper) = &stopper {
        stopper.bound_in_flight(delivery);
    }
    let mode = match reader.mode().await {
        Ok(mode) => mode,
        Err(err) => return track_end(err),
    };
    match mode {
        TrackReaderMode::Subgroups(subgroups) => {
            deliver_subgroups(subgroups, delivery, stopper.as_ref(), order).await
        }
        TrackReaderMode::Datagrams(mut datagrams) => loop {
            match datagrams.read().await {
                Ok(Some(datagram)) => {
                    delivery
                        .object(ReceivedObject {
                            datagram: true,
                            status: Status::from_engine(datagram.status),
                            extensions: object::from_engine(&datagram.extension_headers),
                            ..ReceivedObject::new(
                                datagram.group_id,
                                0,
                                datagram.object_id,
                                datagram.priority,
                                datagram.payload,
                            )
                        })
                        .await?;
                }
                Ok(None) => return Ok(()),
                Err(err) => return track_end(err),
            }
        },
        TrackReaderMode::Stream(_) => Err(Error::new(
            Code::Unsupported,
            "the publisher sends this track in stream mode, which draft 18 no longer has",
        )),
    }
}

type NextObject = (
    SubgroupReader,
    std::result::Result<Option<ReceivedObject>, ServeError>,
);

async fn next_object(mut subgroup: SubgroupReader) -> NextObject {
    let result = read_object(&mut subgroup).await;
    (subgroup, result)
}

async fn read_object(
    subgroup: &mut SubgroupReader,
) -> std::result::Result<Option<ReceivedObject>, ServeError> {
    let Some(mut object) = subgroup.next().await? else {
        return Ok(None);
    };
    let mut payload = PayloadJoiner::default();
    let mut chunks = 0u32;
    while let Some(chunk) = object.read().await? {
        payload.push(chunk);
        chunks = chunks.saturating_add(1);
    }
    Ok(Some(ReceivedObject {
        status: Status::from_engine(object.status),
        extensions: object::from_engine(&object.extension_headers),
        chunks,
        ..ReceivedObject::new(
            subgroup.group_id,
            subgroup.subgroup_id,
            object.object_id,
            subgroup.priority,
            payload.finish(),
        )
    }))
}

/// Reads every subgroup stream as it arrives; objects of one subgroup stay in
/// order, and with `order` groups do too. A subgroup whose group the inbox
/// dropped (or the order gave up) is not read further, and its stream is
/// stopped.
async fn deliver_subgroups(
    mut subgroups: SubgroupsReader,
    delivery: &Delivery,
    stopper: Option<&GroupStopper>,
    mut order: Option<Reorder>,
) -> Result<()> {
    let mut open = FuturesUnordered::new();
    let mut end: Option<Result<()>> = None;
    let stop = |group: u64| {
        if let Some(stopper) = stopper {
            stopper.dropped(group);
        }
    };
    loop {
        if end.is_some() && open.is_empty() {
            break;
        }
        let deadline = order.as_ref().and_then(Reorder::deadline);
        tokio::select! {
            next = subgroups.next(), if end.is_none() => match next {
                Ok(Some(subgroup)) => {
                    if let Some(order) = order.as_mut() {
                        order.stream_started(subgroup.group_id);
                    }
                    open.push(next_object(subgroup));
                }
                Ok(None) => end = Some(Ok(())),
                Err(err) => end = Some(track_end(err)),
            },
            Some((subgroup, result)) = open.next() => {
                let group = subgroup.group_id;
                match result {
                    Ok(Some(object)) => {
                        let arrival = match order.as_mut() {
                            Some(order) => order.arrive(object),
                            None => Arrival::Deliver(object),
                        };
                        let object = match arrival {
                            Arrival::Deliver(object) => Some(object),
                            Arrival::Held => None,
                            Arrival::Late { first } => {
                                if first {
                                    delivery.group_skipped();
                                }
                                stop(group);
                                let released = order.as_mut().map(|o| o.stream_ended(group));
                                hand_over(delivery, &stop, released.unwrap_or_default()).await?;
                                continue;
                            }
                        };
                        let go_on = match object {
                            Some(object) => delivery.object(object).await?,
                            None => true,
                        };
                        if go_on {
                            open.push(next_object(subgroup));
                        } else {
                            stop(group);
                            let released = order.as_mut().map(|o| o.stream_ended(group));
                            hand_over(delivery, &stop, released.unwrap_or_default()).await?;
                        }
                        if let Some(order) = order.as_mut().filter(|o| o.overdue()) {
                            skip_current(order, delivery, &stop).await?;
                        }
                    }
                    // Ended, or reset by the publisher or the relay, or
                    // refused here for its size: counted
                    // (SubscriptionStats::streams_reset).
                    ended => {
                        if ended.is_err() {
                            delivery.stream_reset();
                        }
                        delivery.check_lag()?;
                        let released = order.as_mut().map(|o| o.stream_ended(group));
                        hand_over(delivery, &stop, released.unwrap_or_default()).await?;
                    }
                }
            },
            () = sleep_until_some(deadline), if deadline.is_some() => {
                if let Some(order) = order.as_mut() {
                    skip_current(order, delivery, &stop).await?;
                }
            }
            else => break,
        }
    }
    end.unwrap_or(Ok(()))
}

/// Hands over objects whose turn came (reorder.rs); a group the inbox drops
/// has its streams stopped.
async fn hand_over(
    delivery: &Delivery,
    stop: &impl Fn(u64),
    objects: Vec<ReceivedObject>,
) -> Result<()> {
    for object in objects {
        let group = object.group_id;
        if !delivery.object(object).await? {
            stop(group);
        }
    }
    Ok(())
}

/// The group being delivered did not end in time: give it up and move on.
async fn skip_current(order: &mut Reorder, delivery: &Delivery, stop: &impl Fn(u64)) -> Result<()> {
    let (skipped, first, released) = order.skip_current();
    if let Some(group) = skipped {
        if first {
            delivery.group_skipped();
        }
        stop(group);
    }
    hand_over(delivery, stop, released).await
}

async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
