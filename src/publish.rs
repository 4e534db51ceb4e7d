//! Publishing: announce a namespace (PUBLISH_NAMESPACE), create tracks in it,
//! write groups of objects.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use moq_transport::serve::{self, SubgroupWriter, SubgroupsWriter, TracksReader, TracksWriter};
use moq_transport::session::Publisher;

use crate::error::{Code, Error, Result};
use crate::names::{self, Namespace};
use crate::runtime::{block_on, runtime};
use crate::session::{Session, Shared};

/// An accepted PUBLISH_NAMESPACE. Dropping it withdraws the namespace.
pub struct Announcement {
    shared: Arc<Shared>,
    namespace: Namespace,
    tracks: Arc<Mutex<Tracks>>,
    serving: tokio::task::AbortHandle,
}

/// The engine's track table plus the names of tracks that have a live writer.
struct Tracks {
    writer: TracksWriter,
    live: HashSet<String>,
}

impl Session {
    /// Sends PUBLISH_NAMESPACE and waits for the peer's OK, bounded by the
    /// session's request timeout.
    pub fn announce(&self, namespace: &Namespace) -> Result<Announcement> {
        self.shared.check_open("Session::announce")?;
        let (writer, request, reader) = serve::Tracks::new(namespace.to_engine()).produce();
        // Without a TracksRequest, SUBSCRIBEs for tracks that do not exist are
        // answered NotFound at once instead of waiting for someone to create them.
        drop(request);
        let mut publisher = self.publisher.clone();
        let ns_text = namespace.to_string();
        let publish_ns = block_on("Session::announce", self.shared.request_timeout, async {
            let publish_ns = publisher
                .publish_namespace_start(namespace.to_engine())
                .await
                .map_err(|e| Error::from_session(&e, &format!("announcing \"{ns_text}\"")))?;
            publish_ns.ok().await.map_err(|e| {
                Error::from_serve(
                    &e,
                    &format!("the relay refused the namespace \"{ns_text}\""),
                )
            })?;
            Ok(publish_ns)
        })?;
        let serving = runtime()
            .spawn(serve_subscriptions(publish_ns, reader))
            .abort_handle();
        Ok(Announcement {
            shared: self.shared.clone(),
            namespace: namespace.clone(),
            tracks: Arc::new(Mutex::new(Tracks {
                writer,
                live: HashSet::new(),
            })),
            serving,
        })
    }
}

/// Answers the SUBSCRIBEs the peer forwards for this namespace until the
/// announcement is withdrawn (task aborted) or the session ends.
async fn serve_subscriptions(
    publish_ns: moq_transport::session::PublishNamespace,
    tracks: TracksReader,
) {
    let mut serving = FuturesUnordered::new();
    loop {
        tokio::select! {
            next = publish_ns.subscribed() => match next {
                Ok(Some(subscribed)) => {
                    serving.push(Publisher::serve_subscribe(subscribed, tracks.clone()));
                }
                Ok(None) | Err(_) => break,
            },
            Some(result) = serving.next() => {
                if let Err(err) = result {
                    tracing::debug!("serving a subscription ended: {err}");
                }
            }
        }
    }
    // Let the subscriptions already being served finish normally.
    while serving.next().await.is_some() {}
}

impl Announcement {
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// Creates a track in this namespace, published as subgroup streams.
    pub fn create_track(&self, name: &[u8]) -> Result<TrackWriter> {
        self.shared.check_open("Announcement::create_track")?;
        let name = names::track_name(&self.namespace, name)?;
        let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        let full = format!("{}/{name}", self.namespace);
        // The engine silently replaces a track of the same name; refuse instead,
        // so two writers never fight over one track.
        if tracks.live.contains(&name) {
            return Err(Error::new(
                Code::Duplicate,
                format!("track \"{full}\" already exists; destroy its TrackWriter first"),
            ));
        }
        let track = tracks.writer.create(name.as_str()).ok_or_else(|| {
            Error::closed(format!(
                "cannot create \"{full}\": the announcement has ended"
            ))
        })?;
        let subgroups = track
            .subgroups()
            .map_err(|e| Error::from_serve(&e, &format!("creating track \"{full}\"")))?;
        tracks.live.insert(name.clone());
        Ok(TrackWriter {
            shared: self.shared.clone(),
            tracks: self.tracks.clone(),
            namespace: self.namespace.clone(),
            name,
            subgroups: Mutex::new(subgroups),
        })
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        // Dropping the serving task drops the engine's PublishNamespace, which
        // withdraws the namespace on the wire.
        self.serving.abort();
    }
}

/// One track. Dropping it ends the track: subscribers see a normal end.
pub struct TrackWriter {
    shared: Arc<Shared>,
    tracks: Arc<Mutex<Tracks>>,
    namespace: Namespace,
    name: String,
    subgroups: Mutex<SubgroupsWriter>,
}

impl TrackWriter {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts the next group (id = previous + 1, the first is 0) as one subgroup.
    pub fn begin_group(&self, priority: u8) -> Result<GroupWriter> {
        self.shared.check_open("TrackWriter::begin_group")?;
        let mut subgroups = self.subgroups.lock().unwrap_or_else(|e| e.into_inner());
        let writer = subgroups.append(priority).map_err(|e| {
            Error::from_serve(
                &e,
                &format!("starting a group on \"{}/{}\"", self.namespace, self.name),
            )
        })?;
        Ok(GroupWriter {
            shared: self.shared.clone(),
            group_id: writer.group_id,
            writer: Mutex::new(Some(writer)),
        })
    }
}

impl Drop for TrackWriter {
    fn drop(&mut self) {
        // Later SUBSCRIBEs get NotFound rather than a track that never sends.
        let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        tracks.live.remove(&self.name);
        tracks
            .writer
            .remove(&self.namespace.to_engine(), self.name.as_str());
    }
}

/// One group (one subgroup stream). `finish` ends it with a FIN; dropping it
/// does the same.
pub struct GroupWriter {
    shared: Arc<Shared>,
    group_id: u64,
    writer: Mutex<Option<SubgroupWriter>>,
}

impl GroupWriter {
    pub fn group_id(&self) -> u64 {
        self.group_id
    }

    /// Appends one object. Never blocks: the engine buffers.
    pub fn write(&self, payload: Bytes) -> Result<()> {
        self.shared.check_open("GroupWriter::write")?;
        let limit = self.shared.max_object_size;
        if payload.len() > limit {
            return Err(Error::new(
                Code::PayloadTooLarge,
                format!(
                    "payload is {} bytes, the limit is {limit} (SessionConfig::max_object_size); \
                     split it or raise the limit",
                    payload.len()
                ),
            ));
        }
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let writer = writer.as_mut().ok_or_else(|| {
            Error::closed(format!(
                "group {} is finished; begin a new group to write more",
                self.group_id
            ))
        })?;
        writer
            .write(payload)
            .map_err(|e| Error::from_serve(&e, &format!("writing to group {}", self.group_id)))
    }

    /// Ends the group; later writes fail with `Closed`.
    pub fn finish(&self) -> Result<()> {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| Error::closed(format!("group {} is already finished", self.group_id)))?;
        writer
            .finish()
            .map_err(|e| Error::from_serve(&e, &format!("finishing group {}", self.group_id)))
    }
}
