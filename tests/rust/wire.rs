//! What our publisher puts on the wire, read back by a plain `moq-transport`
//! subscriber: moq-test-peer's engine, connected directly (no relay in between
//! that could repair or hide anything). Group ids, subgroup ids, object ids,
//! statuses and payloads must be exactly what was written, each object once.

#[path = "common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use bytes::Bytes;
use common::{config_with_ca, WAIT};
use moq_ffi::object::Status;
use moq_ffi::{Namespace, Session};
use moq_transport::coding::TrackNamespace;
use moq_transport::serve::{ServeError, Track, TrackReaderMode};
use std::collections::BTreeMap;
use tokio::sync::mpsc;

/// One object as the plain subscriber saw it: (group, subgroup, object) →
/// (status, payload).
type Location = (u64, u64, u64);
type Seen = (Status, Bytes);

/// Reads every subgroup of `mode` (all streams at once, as they arrive) into
/// `out`, then sends `None` once the track has ended.
async fn read_track(mode: TrackReaderMode, out: mpsc::UnboundedSender<Option<(Location, Seen)>>) {
    let TrackReaderMode::Subgroups(mut subgroups) = mode else {
        panic!("the publisher did not send subgroups");
    };
    let mut streams = tokio::task::JoinSet::new();
    loop {
        match subgroups.next().await {
            Ok(Some(mut subgroup)) => {
                let out = out.clone();
                streams.spawn(async move {
                    let (group, sub) = (subgroup.group_id, subgroup.subgroup_id);
                    while let Ok(Some(mut object)) = subgroup.next().await {
                        let payload = object.read_all().await.expect("object payload");
                        let status = match object.status {
                            moq_transport::data::ObjectStatus::NormalObject => Status::Normal,
                            moq_transport::data::ObjectStatus::EndOfGroup => Status::EndOfGroup,
                            moq_transport::data::ObjectStatus::EndOfTrack => Status::EndOfTrack,
                        };
                        let _ = out.send(Some(((group, sub, object.object_id), (status, payload))));
                    }
                });
            }
            Ok(None) | Err(ServeError::Closed(_)) | Err(ServeError::Done) => break,
            Err(e) => panic!("the track ended with an error: {e}"),
        }
    }
    while streams.join_next().await.is_some() {}
    let _ = out.send(None);
}

#[test]
fn clock_groups_subgroups_and_object_ids_arrive_exactly_as_written() {
    let certs = tempfile::Builder::new()
        .prefix("moq-wire-certs.")
        .tempdir_in("/tmp")
        .unwrap();
    support::generate_certs(certs.path()).unwrap_or_else(|e| panic!("{e}"));
    let options = moq_test_peer::PeerOptions {
        accept_namespaces: true,
        ..Default::default()
    };
    let peer = moq_test_peer::Peer::start(certs.path(), options).expect("moq-test-peer");
    let client = Session::connect(
        &peer.url(),
        config_with_ca(&certs.path().join("ca.pem")),
        Box::new(|_| {}),
    )
    .expect("connect to the peer");
    let accepted = peer.next_client(WAIT).expect("the peer saw no client");

    let ns = Namespace::parse("wire/clock").unwrap();
    let announcement = client.announce(&ns).expect("announce");
    let track = announcement.create_track(b"now").expect("track");

    // The plain subscriber subscribes before anything is written, so every
    // object is sent to it.
    let (writer, reader) =
        Track::new(TrackNamespace::from_utf8_path("wire/clock"), "now").produce();
    let mut subscriber = accepted.subscriber.clone();
    let subscribe = peer
        .runtime()
        .block_on(async { tokio::time::timeout(WAIT, subscriber.subscribe_open(writer)).await })
        .expect("SUBSCRIBE not answered within 10 s")
        .expect("SUBSCRIBE refused");
    let (tx, mut rx) = mpsc::unbounded_channel();
    peer.runtime().spawn(async move {
        let mode = reader.mode().await.expect("track mode");
        read_track(mode, tx).await;
    });

    // What we write, and so what must arrive.
    let mut expected: BTreeMap<Location, Seen> = BTreeMap::new();
    // Three clock minutes, as examples/clock writes them: object 0 is the
    // minute, then one object per second.
    for minute in 0..3u64 {
        let group = track.begin_group(0).expect("group");
        assert_eq!(group.group_id(), minute, "group ids count up from 0");
        let base = Bytes::from(format!("2026-12-02 10:0{minute}:"));
        group.write(base.clone()).unwrap();
        expected.insert((minute, 0, 0), (Status::Normal, base));
        for second in 1..=5u64 {
            let payload = Bytes::from(format!("{second:02}"));
            group.write(payload.clone()).unwrap();
            expected.insert((minute, 0, second), (Status::Normal, payload));
        }
        group.finish().unwrap();
    }
    // A group in two explicit subgroups, with gaps in the object ids and an
    // end-of-group marker.
    let first = track.begin_subgroup(3, 0, 0).expect("subgroup 0");
    let second = track.begin_subgroup(3, 7, 0).expect("subgroup 7");
    for id in [0u64, 2, 5] {
        let payload = Bytes::from(format!("3/0/{id}"));
        first.write_object(Some(id), payload.clone(), &[]).unwrap();
        expected.insert((3, 0, id), (Status::Normal, payload));
    }
    for id in [1u64, 3] {
        let payload = Bytes::from(format!("3/7/{id}"));
        second.write_object(Some(id), payload.clone(), &[]).unwrap();
        expected.insert((3, 7, id), (Status::Normal, payload));
    }
    first.write_marker(Status::EndOfGroup, Some(6)).unwrap(); // also finishes it
    expected.insert((3, 0, 6), (Status::EndOfGroup, Bytes::new()));
    second.finish().unwrap();
    drop(track); // ends the track

    let mut received: BTreeMap<Location, Seen> = BTreeMap::new();
    let mut order: BTreeMap<(u64, u64), Vec<u64>> = BTreeMap::new();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let event = peer
            .runtime()
            .block_on(async { tokio::time::timeout(left, rx.recv()).await });
        match event {
            Ok(Some(Some((location, seen)))) => {
                order
                    .entry((location.0, location.1))
                    .or_default()
                    .push(location.2);
                if let Some(before) = received.insert(location, seen) {
                    panic!("object {location:?} arrived twice (first {before:?})");
                }
            }
            Ok(Some(None)) | Ok(None) => break,
            Err(_) => panic!(
                "the track did not end within 10 s; received so far: {:?}",
                received.keys().collect::<Vec<_>>()
            ),
        }
    }
    assert_eq!(
        received, expected,
        "what arrived differs from what was written"
    );
    for ((group, subgroup), ids) in &order {
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(
            ids, &sorted,
            "objects of subgroup {subgroup} of group {group} arrived out of order"
        );
    }
    drop(subscribe);
    drop(announcement);
    client.close(0, "done").unwrap();
}
