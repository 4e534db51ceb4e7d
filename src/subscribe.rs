//! Subscribing: SUBSCRIBE to a track and deliver every received object, in
//! arrival order and one at a time, to a handler; then one terminal event.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use moq_transport::data::ObjectStatus;
use moq_transport::message::PublishDoneCode;
use moq_transport::serve::{
    self, ServeError, SubgroupReader, SubgroupsReader, TrackReader, TrackReaderMode,
};

use crate::error::{Code, Error, Result};
use crate::names::{self, Namespace};
use crate::runtime::{block_on, runtime};
use crate::session::{Session, Shared};

/// One received object. `payload` shares the received buffer (no copy) when the
/// object arrived in one piece.
#[derive(Debug, Clone)]
pub struct ReceivedObject {
    pub group_id: u64,
    pub subgroup_id: u64,
    pub object_id: u64,
    pub priority: u8,
    pub payload: Bytes,
}

impl ReceivedObject {
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
        }
    }
}

/// Where a subscription's events go. Called on a runtime thread, never two
/// calls at once for one subscription, `on_closed` exactly once and last.
pub trait ObjectHandler: Send + 'static {
    fn on_object(&mut self, object: ReceivedObject);
    /// `Ok` = the publisher ended the track normally.
    fn on_closed(&mut self, result: Result<()>);
}

/// A live subscription. Dropping it unsubscribes; the handler gets no
/// further calls once the drop has returned (the task is aborted).
pub struct Subscription {
    task: tokio::task::AbortHandle,
    _shared: Arc<Shared>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Aborting drops the engine's Subscribe, which sends UNSUBSCRIBE.
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
        mut handler: Box<dyn ObjectHandler>,
    ) -> Result<Subscription> {
        self.shared.check_open("Session::subscribe")?;
        let name = names::track_name(namespace, track)?;
        let full = format!("{namespace}/{name}");
        let (writer, reader) = serve::Track::new(namespace.to_engine(), name.as_str()).produce();
        let mut subscriber = self.subscriber.clone();
        let subscribe = block_on("Session::subscribe", self.shared.request_timeout, async {
            subscriber
                .subscribe_open(writer)
                .await
                .map_err(|e| subscribe_error(&e, &full))
        })?;
        let task = runtime().spawn(async move {
            // A panic in the engine still ends in exactly one terminal event.
            let result = AssertUnwindSafe(deliver(reader, handler.as_mut()))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    Err(Error::new(
                        Code::Internal,
                        "internal error while receiving the track (a panic); please report this bug",
                    ))
                });
            // Unsubscribe (if still subscribed) before reporting the end.
            drop(subscribe);
            handler.on_closed(result);
        });
        Ok(Subscription {
            task: task.abort_handle(),
            _shared: self.shared.clone(),
        })
    }
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
        other => Err(Error::from_serve(&other, "the subscription ended")),
    }
}

async fn deliver(reader: TrackReader, handler: &mut dyn ObjectHandler) -> Result<()> {
    let mode = match reader.mode().await {
        Ok(mode) => mode,
        Err(err) => return track_end(err),
    };
    match mode {
        TrackReaderMode::Subgroups(subgroups) => deliver_subgroups(subgroups, handler).await,
        TrackReaderMode::Datagrams(mut datagrams) => loop {
            match datagrams.read().await {
                Ok(Some(datagram)) => {
                    if datagram.status != ObjectStatus::NormalObject {
                        continue;
                    }
                    handler.on_object(ReceivedObject {
                        group_id: datagram.group_id,
                        subgroup_id: 0,
                        object_id: datagram.object_id,
                        priority: datagram.priority,
                        payload: datagram.payload,
                    })
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
    loop {
        let Some(mut object) = subgroup.next().await? else {
            return Ok(None);
        };
        if object.status != ObjectStatus::NormalObject {
            continue; // end-of-group / end-of-track markers carry no payload
        }
        // One chunk (the common case) is handed over as is: no copy.
        let mut first: Option<Bytes> = None;
        let mut rest: Option<BytesMut> = None;
        while let Some(chunk) = object.read().await? {
            match (&mut first, &mut rest) {
                (None, _) => first = Some(chunk),
                (Some(head), None) => {
                    let mut joined = BytesMut::with_capacity(object.size);
                    joined.extend_from_slice(head);
                    joined.extend_from_slice(&chunk);
                    rest = Some(joined);
                }
                (Some(_), Some(joined)) => joined.extend_from_slice(&chunk),
            }
        }
        let payload = match (first, rest) {
            (_, Some(joined)) => joined.freeze(),
            (Some(single), None) => single,
            (None, None) => Bytes::new(),
        };
        return Ok(Some(ReceivedObject {
            group_id: subgroup.group_id,
            subgroup_id: subgroup.subgroup_id,
            object_id: object.object_id,
            priority: subgroup.priority,
            payload,
        }));
    }
}

/// Reads every subgroup stream as it arrives; objects of one subgroup stay in
/// order, and the handler is only ever called from this one task.
async fn deliver_subgroups(
    mut subgroups: SubgroupsReader,
    handler: &mut dyn ObjectHandler,
) -> Result<()> {
    let mut open = FuturesUnordered::new();
    let mut end: Option<Result<()>> = None;
    loop {
        if end.is_some() && open.is_empty() {
            break;
        }
        tokio::select! {
            next = subgroups.next(), if end.is_none() => match next {
                Ok(Some(subgroup)) => open.push(next_object(subgroup)),
                Ok(None) => end = Some(Ok(())),
                Err(err) => end = Some(track_end(err)),
            },
            Some((subgroup, result)) = open.next() => match result {
                Ok(Some(object)) => {
                    handler.on_object(object);
                    open.push(next_object(subgroup));
                }
                Ok(None) => {}
                Err(err) => tracing::debug!(
                    group = subgroup.group_id,
                    "subgroup stream ended early: {err}"
                ),
            },
            else => break,
        }
    }
    end.unwrap_or(Ok(()))
}
