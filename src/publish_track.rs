//! Publisher-initiated subscriptions (draft 18 §10.10 PUBLISH): offer one
//! track to the peer without announcing a namespace, and the receiving side,
//! where the peer offers a track to us.
//!
//! Sending: `Session::publish_track` sends PUBLISH and waits for REQUEST_OK;
//! groups are then written exactly as with `TrackWriter` (same `GroupWriter`).
//! moq-relay-ietf 0.8 accepts a PUBLISH as an exact track and serves the
//! SUBSCRIBEs of other sessions from it.
//!
//! Receiving: `Session::on_publish` installs the one listener that answers the
//! peer's PUBLISHes; an accepted track is delivered to an `ObjectHandler`
//! like a subscription.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::FutureExt;
use moq_transport::coding::KeyValuePairs;
use moq_transport::message::PublishDoneCode;
use moq_transport::serve::{self, ServeError, SubgroupsWriter, TrackReader};
use moq_transport::session::{PublishReceived, Published, SessionError};

use tokio::sync::oneshot;

use crate::delivery::Delivery;
use crate::dispatch::Strand;
use crate::error::request_error_code;
use crate::error::{Code, Error, Result};
use crate::inbox::ReceiveBudget;
use crate::names::{self, Namespace};
use crate::publish::GroupWriter;
use crate::runtime::{bounded, catch_panic, runtime, wait_here};
use crate::send_backlog::{TrackLedger, DEFAULT_MAX_BACKLOG_BYTES};
use crate::session::{Link, Session, Shared};
use crate::stream_guard::StreamPolicy;
use crate::subscribe::{deliver, GroupStopper, ObjectHandler};

// ------------------------------------------------------------------ sending

/// A track offered with PUBLISH and accepted by the peer. Write groups with
/// `begin_group`. Dropping it ends the track: the peer gets PUBLISH_DONE
/// (TRACK_ENDED) after the objects already written.
pub struct PublishedTrack {
    shared: Arc<Shared>,
    namespace: Namespace,
    name: String,
    subgroups: Mutex<SubgroupsWriter>,
    /// Set when the peer stopped the subscription (or the session ended)
    /// while this handle is alive.
    ended: Arc<Mutex<Option<Error>>>,
    /// What it wrote, for the peer if it falls behind (send_backlog.rs).
    ledger: Arc<TrackLedger>,
}

impl Session {
    /// Sends PUBLISH for one track (no PUBLISH_NAMESPACE needed) and waits for
    /// the peer's answer, bounded by the session's request timeout.
    ///
    /// Errors: `Duplicate` if this session already publishes the track (or
    /// serves a subscription to it) or the peer already has a publisher for
    /// it; `Unsupported` if the peer does not support PUBLISH; `Timeout`.
    pub fn publish_track(&self, namespace: &Namespace, name: &[u8]) -> Result<PublishedTrack> {
        wait_here(
            "Session::publish_track",
            self.publish_track_request(namespace, name)?,
        )
    }

    /// The request behind [`Session::publish_track`], for its non-blocking
    /// form: checked now, sent and answered (bounded by the request timeout)
    /// when the returned future runs.
    pub fn publish_track_request(
        &self,
        namespace: &Namespace,
        name: &[u8],
    ) -> Result<impl Future<Output = Result<PublishedTrack>> + Send + 'static> {
        self.shared.check_open("Session::publish_track")?;
        let name = names::track_name(namespace, name)?;
        let full = format!("{namespace}/{name}");
        let (writer, reader) = serve::Track::new(namespace.to_engine(), name.as_str()).produce();
        let subgroups = writer
            .subgroups()
            .map_err(|e| Error::from_serve(&e, &format!("creating track \"{full}\"")))?;
        let shared = self.shared.clone();
        let namespace = namespace.clone();
        Ok(async move {
            let (link, published) =
                bounded("Session::publish_track", shared.request_timeout, async {
                    let link = shared.link("Session::publish_track").await?;
                    let published = publish(&link, &reader, &full).await?;
                    Ok((link, published))
                })
                .await?;
            let ended = Arc::new(Mutex::new(None));
            let ledger = TrackLedger::new(DEFAULT_MAX_BACKLOG_BYTES);
            // Not aborted when the handle drops: it sends what was written, then
            // PUBLISH_DONE, and ends with the session at the latest.
            runtime().spawn(serve_published(
                Serving {
                    shared: shared.clone(),
                    reader,
                    full,
                    ledger: ledger.clone(),
                    ended: Arc::downgrade(&ended),
                },
                link,
                published,
            ));
            Ok(PublishedTrack {
                shared,
                namespace,
                name,
                subgroups: Mutex::new(subgroups),
                ended,
                ledger,
            })
        })
    }
}

/// Sends PUBLISH for `reader`'s track on `link` and waits for REQUEST_OK.
/// Dropping the result on a timeout or error withdraws the PUBLISH.
async fn publish(link: &Link, reader: &TrackReader, full: &str) -> Result<Published> {
    let mut published = link
        .publisher
        .clone()
        .publish(reader.clone(), KeyValuePairs::default())
        .await
        .map_err(|e| publish_start_error(&e, full))?;
    published
        .ok()
        .await
        .map_err(|e| publish_refused(&e, full))?;
    Ok(published)
}

/// What the task serving a published track needs besides the connection.
struct Serving {
    shared: Arc<Shared>,
    reader: TrackReader,
    full: String,
    ledger: Arc<TrackLedger>,
    /// The handle's end slot; gone once the handle is dropped, after which
    /// the track is not offered on a new connection.
    ended: Weak<Mutex<Option<Error>>>,
}

/// Serves the track on `link` until it ends. Under a reconnect policy, a
/// track whose connection was lost while its handle lives is offered again
/// (PUBLISH) on each new connection: the writer stays, writes go on, and
/// the peer gets the groups written from then on.
async fn serve_published(serving: Serving, mut link: Arc<Link>, mut published: Published) {
    let error = loop {
        let followed = serving
            .shared
            .sending
            .serve(published.info.track_alias, serving.ledger.clone());
        let result = AssertUnwindSafe(published.serve()).catch_unwind().await;
        drop(followed);
        let full = &serving.full;
        let error = match result {
            Ok(Ok(())) => Error::closed(format!(
                "the peer stopped receiving \"{full}\" (it ended the subscription)"
            )),
            Ok(Err(err)) => Error::from_session(&err, &format!("publishing \"{full}\" ended")),
            Err(_) => {
                break Error::new(
                    Code::Internal,
                    "internal error while publishing (a panic); please report this bug",
                )
            }
        };
        if serving.ended.strong_count() == 0 || !serving.shared.follows_reconnect(&link).await {
            break error;
        }
        let again = serving
            .shared
            .again_on_next_link(
                link.number,
                &format!("publishing \"{full}\" again"),
                crate::log::Level::Warn,
                serving.shared.request_timeout,
                |link| {
                    let (reader, full) = (serving.reader.clone(), full.clone());
                    async move { publish(&link, &reader, &full).await }
                },
            )
            .await;
        match again {
            Some((next, again)) => (link, published) = (next, again),
            None => break error,
        }
    };
    if let Some(ended) = serving.ended.upgrade() {
        *ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }
}

impl PublishedTrack {
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts the next group (id = previous + 1, the first is 0) as one
    /// subgroup. Fails once the peer has stopped receiving the track.
    pub fn begin_group(&self, priority: u8) -> Result<GroupWriter> {
        self.shared.check_open("PublishedTrack::begin_group")?;
        if let Some(err) = self
            .ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Err(err.clone());
        }
        let mut subgroups = self.subgroups.lock().unwrap_or_else(|e| e.into_inner());
        let writer = subgroups.append(priority).map_err(|e| {
            Error::from_serve(
                &e,
                &format!("starting a group on \"{}/{}\"", self.namespace, self.name),
            )
        })?;
        Ok(GroupWriter::from_engine(
            self.shared.clone(),
            writer,
            &self.ledger,
        ))
    }
}

fn publish_start_error(err: &SessionError, full: &str) -> Error {
    match err {
        SessionError::Serve(ServeError::Duplicate) => Error::new(
            Code::Duplicate,
            format!(
                "this session already publishes \"{full}\" (with PUBLISH, or serving a \
                 SUBSCRIBE to it); destroy the other writer first"
            ),
        ),
        _ => Error::from_session(err, &format!("publishing \"{full}\"")),
    }
}

fn publish_refused(err: &ServeError, full: &str) -> Error {
    let context = format!("the peer refused the PUBLISH of \"{full}\"");
    match err {
        ServeError::Closed(code) => {
            let code_kind = request_error_code(*code);
            let hint = match code_kind {
                Code::Duplicate => ": another publisher already offers this track there",
                Code::Unsupported => ": the peer does not support PUBLISH",
                _ => "",
            };
            Error::new(
                code_kind,
                format!("{context} (REQUEST_ERROR code {code:#x}){hint}"),
            )
        }
        _ => Error::from_serve(err, &context),
    }
}

// ------------------------------------------------------------------ receiving

/// Decides about each PUBLISH the peer sends. Called on a callback thread of
/// the library, one PUBLISH at a time, in arrival order.
pub trait PublishHandler: Send + 'static {
    /// Return a handler to accept the track (REQUEST_OK; its objects then go to
    /// that handler exactly as for a subscription, with one `on_closed`), or
    /// `None` to reject it (REQUEST_ERROR UNINTERESTED).
    fn on_publish(&mut self, namespace: &Namespace, track: &str) -> Option<Box<dyn ObjectHandler>>;
}

/// The session's PUBLISH listener. Dropping it stops accepting and stops the
/// delivery of every track it accepted (their handlers get no `on_closed`):
/// as for `Subscription`, no handler call starts after the drop returns, and
/// from a user thread none is running any more.
/// PUBLISHes that arrive while no listener exists wait in the engine,
/// unanswered, until one is installed.
///
/// moq-transport 0.17 has no UNSUBSCRIBE for an accepted PUBLISH, so stopping
/// delivery is local: the peer keeps sending until it ends the track or the
/// session closes.
pub struct PublishListener {
    task: tokio::task::AbortHandle,
    offers: Strand<Box<dyn PublishHandler>>,
    deliveries: Arc<Mutex<Deliveries>>,
    shared: Arc<Shared>,
}

/// The offers being decided and the tracks being delivered. `closed` is set
/// by the listener's drop, under the lock, so nothing starts after it.
#[derive(Default)]
struct Deliveries {
    closed: bool,
    tasks: Vec<tokio::task::AbortHandle>,
    tracks: Vec<Delivery>,
}

impl Session {
    /// Installs the handler for PUBLISH requests from the peer. One listener
    /// per session: a second one while the first lives is `Duplicate`.
    pub fn on_publish(&self, handler: Box<dyn PublishHandler>) -> Result<PublishListener> {
        self.shared.check_open("Session::on_publish")?;
        if self
            .shared
            .publish_listener
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::new(
                Code::Duplicate,
                "this session already has a PUBLISH listener; destroy it before installing \
                 another",
            ));
        }
        let offers = Strand::new(handler);
        let deliveries: Arc<Mutex<Deliveries>> = Arc::default();
        let shared = self.shared.clone();
        let (task_offers, task_deliveries) = (offers.clone(), deliveries.clone());
        let task = runtime().spawn(async move {
            // PUBLISHes come on whichever connection the session has now.
            let mut on = None;
            'links: while let Some(link) = shared.next_link(on).await {
                on = Some(link.number);
                let mut subscriber = link.subscriber.clone();
                let publish = tokio::select! {
                    publish = subscriber.publish_received() => match publish {
                        Some(publish) => publish,
                        None if shared.follows_reconnect(&link).await => continue 'links,
                        None => break,
                    },
                    () = link.lost() => continue 'links,
                    () = shared.ended() => break,
                };
                on = None; // stay on this connection for the next one
                let mut list = task_deliveries.lock().unwrap_or_else(|e| e.into_inner());
                if list.closed {
                    return; // the listener is being dropped
                }
                list.tasks.retain(|t| !t.is_finished());
                let offered = offer(
                    publish,
                    task_offers.clone(),
                    task_deliveries.clone(),
                    shared.stream_policy.clone(),
                );
                list.tasks.retain(|task| !task.is_finished());
                list.tasks.push(runtime().spawn(offered).abort_handle());
            }
            // No PUBLISH can come any more: release the offer handler.
            task_offers.close();
        });
        Ok(PublishListener {
            task: task.abort_handle(),
            offers,
            deliveries,
            shared: self.shared.clone(),
        })
    }
}

impl Drop for PublishListener {
    fn drop(&mut self) {
        self.offers.close();
        self.task.abort();
        let mut deliveries = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        deliveries.closed = true;
        let tracks = std::mem::take(&mut deliveries.tracks);
        for task in deliveries.tasks.drain(..) {
            task.abort();
        }
        drop(deliveries);
        for track in tracks {
            track.close();
        }
        self.shared.publish_listener.store(false, Ordering::Release);
    }
}

/// Asks the offer handler about one PUBLISH (on its strand); if it accepts,
/// answers REQUEST_OK and delivers the track. An offer left unanswered (the
/// handler rejected it, panicked, or the listener is gone) is dropped, which
/// rejects it.
async fn offer(
    mut publish: PublishReceived,
    offers: Strand<Box<dyn PublishHandler>>,
    deliveries: Arc<Mutex<Deliveries>>,
    policy: Arc<StreamPolicy>,
) {
    let fields: Vec<&[u8]> = publish
        .namespace()
        .fields
        .iter()
        .map(|f| f.value.as_slice())
        .collect();
    let names = Namespace::from_parts(&fields).and_then(|ns| {
        let track = names::track_name(&ns, publish.name().as_ref())?;
        Ok((ns, track))
    });
    let (namespace, track) = match names {
        Ok(names) => names,
        Err(err) => {
            crate::log::warn(&format!(
                "rejecting a PUBLISH of {} whose name the library cannot represent: {}",
                publish.namespace(),
                err.message
            ));
            return;
        }
    };
    let full = format!("{namespace}/{track}");
    let (decided, decision) = oneshot::channel();
    offers.post(move |handler| {
        let _ = decided.send(handler.on_publish(&namespace, &track));
    });
    let Ok(Some(objects)) = decision.await else {
        return;
    };
    let delivery = Delivery::new(objects, ReceiveBudget::default(), true);
    {
        let mut list = deliveries.lock().unwrap_or_else(|e| e.into_inner());
        if list.closed {
            drop(list);
            delivery.close();
            return;
        }
        // The tracks that ended are forgotten here, so a peer that keeps
        // publishing short tracks does not grow the list.
        list.tracks.retain(|track| !track.is_done());
        list.tracks.push(delivery.clone());
    }
    let reader = match publish.ok(true) {
        Ok(reader) => reader,
        Err(err) => {
            // The request is already gone (the peer withdrew it, or the
            // session ended): report that to the handler the user gave us.
            delivery.finish(Err(Error::from_serve(
                &err,
                &format!("accepting the PUBLISH of \"{full}\""),
            )));
            return;
        }
    };
    let stopper = GroupStopper::new(policy, publish.track_alias());
    let result = catch_panic(
        "receiving a published track",
        deliver(reader, &delivery, Some(stopper), None),
    )
    .await;
    let result = match result {
        Ok(()) => publish_end(&publish, &full).await,
        Err(err) => Err(err),
    };
    delivery.finish(result);
}

/// How an accepted PUBLISH ended, once its objects have all been delivered.
/// The engine drops the track's writer on PUBLISH_DONE and on loss of the
/// request stream alike; the status it recorded tells them apart.
async fn publish_end(publish: &PublishReceived, full: &str) -> Result<()> {
    match tokio::time::timeout(Duration::from_secs(1), publish.closed()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(ServeError::Closed(code))) if code == PublishDoneCode::InternalError as u64 => {
            Err(Error::closed(format!(
                "\"{full}\" ended without PUBLISH_DONE: the session closed or the publisher's \
                 request stream was lost"
            )))
        }
        Ok(Err(ServeError::Closed(code))) => Err(Error::closed(format!(
            "the publisher ended \"{full}\" (PUBLISH_DONE code {code:#x})"
        ))),
        Ok(Err(err)) => Err(Error::from_serve(&err, &format!("receiving \"{full}\""))),
        Err(_) => Err(Error::closed(format!(
            "\"{full}\" ended without a status from the publisher"
        ))),
    }
}
