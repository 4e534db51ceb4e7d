//! Namespace discovery (SUBSCRIBE_NAMESPACE) and publisher-initiated PUBLISH,
//! against a real moq-relay-ietf, plus the receiving side of PUBLISH against a
//! moq-transport peer run by the test (the relay only sends PUBLISH in answer
//! to SUBSCRIBE_TRACKS, which moq-transport 0.17 cannot send).

#[path = "common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{channel, config_with_ca, connect, warm_up_with, Channel, Event, WAIT};
use moq_ffi::discovery::NamespaceHandler;
use moq_ffi::publish_track::PublishHandler;
use moq_ffi::{Code, Error, Namespace, ObjectHandler, Session};
use support::Relay;

/// How long to watch for an event that must not come.
const QUIET: Duration = Duration::from_millis(700);

fn ns(path: &str) -> Namespace {
    Namespace::parse(path).unwrap()
}

// ------------------------------------------------------------------ namespace events

#[derive(Debug)]
enum NsEvent {
    Added(String),
    Removed(String),
    Closed(Result<(), Error>),
}

struct NsChannel(mpsc::Sender<NsEvent>);

impl NamespaceHandler for NsChannel {
    fn on_added(&mut self, namespace: Namespace) {
        let _ = self.0.send(NsEvent::Added(namespace.to_string()));
    }
    fn on_removed(&mut self, namespace: Namespace) {
        let _ = self.0.send(NsEvent::Removed(namespace.to_string()));
    }
    fn on_closed(&mut self, result: Result<(), Error>) {
        let _ = self.0.send(NsEvent::Closed(result));
    }
}

fn ns_channel() -> (Box<NsChannel>, mpsc::Receiver<NsEvent>) {
    let (tx, rx) = mpsc::channel();
    (Box::new(NsChannel(tx)), rx)
}

fn next_ns(rx: &mpsc::Receiver<NsEvent>, what: &str) -> NsEvent {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("no namespace event within {WAIT:?} (waiting for {what})"))
}

fn expect_quiet(rx: &mpsc::Receiver<NsEvent>) {
    if let Ok(event) = rx.recv_timeout(QUIET) {
        panic!("unexpected namespace event: {event:?}");
    }
}

#[test]
fn namespaces_under_the_prefix_are_added_and_removed() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let watcher = connect(&relay);

    // Announced before the watch starts: reported as part of the snapshot.
    let early = publisher.announce(&ns("disc/early")).expect("announce");

    let (handler, rx) = ns_channel();
    let watch = watcher
        .subscribe_namespace(&ns("disc"), handler)
        .expect("subscribe_namespace");
    assert_eq!(watch.prefix(), &ns("disc"));
    match next_ns(&rx, "disc/early") {
        NsEvent::Added(n) => assert_eq!(n, "disc/early"),
        other => panic!("expected disc/early added, got {other:?}"),
    }

    // Outside the prefix ("disco" is not the field "disc"), then inside it.
    // The relay reports changes in order, so anything outside the prefix that
    // leaked would arrive before the namespace inside it.
    let _other = publisher.announce(&ns("other/x")).expect("announce");
    let _disco = publisher.announce(&ns("disco/y")).expect("announce");
    let room = publisher.announce(&ns("disc/room1/cam")).expect("announce");
    match next_ns(&rx, "disc/room1/cam") {
        NsEvent::Added(n) => assert_eq!(n, "disc/room1/cam"),
        other => panic!("expected disc/room1/cam added, got {other:?}"),
    }

    // Withdrawn when the Announcement is dropped.
    drop(room);
    match next_ns(&rx, "disc/room1/cam removed") {
        NsEvent::Removed(n) => assert_eq!(n, "disc/room1/cam"),
        other => panic!("expected disc/room1/cam removed, got {other:?}"),
    }
    drop(early);
    match next_ns(&rx, "disc/early removed") {
        NsEvent::Removed(n) => assert_eq!(n, "disc/early"),
        other => panic!("expected disc/early removed, got {other:?}"),
    }
    expect_quiet(&rx);

    // After the watch is dropped the handler is never called again, not even
    // with on_closed.
    drop(watch);
    let _late = publisher.announce(&ns("disc/late")).expect("announce");
    match rx.recv_timeout(QUIET) {
        Err(mpsc::RecvTimeoutError::Disconnected) => {} // handler released
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the dropped watch kept its handler"),
        Ok(event) => panic!("event after the watch was dropped: {event:?}"),
    }
}

#[test]
fn overlapping_watch_is_duplicate_until_the_first_is_dropped() {
    let relay = Relay::start().expect("relay");
    let watcher = connect(&relay);
    let publisher = connect(&relay);

    let (handler, _rx) = ns_channel();
    let first = watcher
        .subscribe_namespace(&ns("ov/a"), handler)
        .expect("first watch");
    let (handler, _rx2) = ns_channel();
    let err = watcher
        .subscribe_namespace(&ns("ov"), handler)
        .err()
        .expect("an overlapping prefix must be refused");
    assert_eq!(err.code, Code::Duplicate, "{err}");

    // A disjoint prefix is fine meanwhile.
    let (handler, _rx3) = ns_channel();
    let _disjoint = watcher
        .subscribe_namespace(&ns("elsewhere"), handler)
        .expect("disjoint watch");

    // Dropping the first releases the prefix (the cancel is processed by the
    // session task, so allow it a moment).
    drop(first);
    let deadline = Instant::now() + WAIT;
    let (watch, rx) = loop {
        let (handler, rx) = ns_channel();
        match watcher.subscribe_namespace(&ns("ov"), handler) {
            Ok(watch) => break (watch, rx),
            Err(e) if e.code == Code::Duplicate && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("the prefix was not released after the drop: {e}"),
        }
    };
    // And the new watch works.
    let _a = publisher.announce(&ns("ov/a/b")).expect("announce");
    match next_ns(&rx, "ov/a/b") {
        NsEvent::Added(n) => assert_eq!(n, "ov/a/b"),
        other => panic!("expected ov/a/b added, got {other:?}"),
    }
    drop(watch);
}

#[test]
fn watch_reports_one_terminal_error_when_the_session_closes() {
    let relay = Relay::start().expect("relay");
    let watcher = connect(&relay);
    let (handler, rx) = ns_channel();
    let _watch = watcher
        .subscribe_namespace(&ns("term"), handler)
        .expect("subscribe_namespace");
    watcher.close(0, "bye").expect("close");
    match next_ns(&rx, "on_closed") {
        NsEvent::Closed(Err(e)) => assert_eq!(e.code, Code::Closed, "{e}"),
        other => panic!("expected an on_closed error, got {other:?}"),
    }
    // Exactly one terminal event, then the handler is released.
    match rx.recv_timeout(WAIT) {
        Err(mpsc::RecvTimeoutError::Disconnected) => {}
        other => panic!("expected the handler to be released, got {other:?}"),
    }
    // A closed session refuses new watches.
    let (handler, _rx) = ns_channel();
    let err = watcher
        .subscribe_namespace(&ns("term"), handler)
        .err()
        .expect("closed session");
    assert_eq!(err.code, Code::Closed, "{err}");
}

/// Dropping a watch while the relay is still writing NAMESPACE /
/// NAMESPACE_DONE on its stream must end that request only. (A bare engine
/// drop sent STOP_SENDING with raw code 0 and moq-relay-ietf closed the whole
/// session, in about 1 of 9 tries of this loop.)
#[test]
fn dropping_a_watch_while_the_relay_writes_keeps_the_session() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let churner = std::sync::Arc::new(connect(&relay));
    let (closed_tx, closed_rx) = mpsc::channel();
    let watcher = Session::connect(
        &relay.url(),
        common::config(&relay),
        Box::new(move |e| {
            let _ = closed_tx.send(e);
        }),
    )
    .expect("connect");
    for i in 0..100 {
        let prefix = format!("churn{i}");
        let (handler, rx) = ns_channel();
        let watch = watcher
            .subscribe_namespace(&ns(&prefix), handler)
            .expect("subscribe_namespace");
        let a = publisher
            .announce(&ns(&format!("{prefix}/a")))
            .expect("announce");
        next_ns(&rx, "the first namespace");
        // Keep the relay writing on the watch's stream while it is dropped.
        let churn = {
            let (churner, prefix) = (churner.clone(), prefix.clone());
            std::thread::spawn(move || {
                for k in 0..10 {
                    drop(churner.announce(&ns(&format!("{prefix}/c{k}"))));
                }
            })
        };
        std::thread::sleep(Duration::from_micros((i * 397 % 3000) as u64));
        drop(watch);
        drop(a);
        churn.join().unwrap();
        if let Ok(err) = closed_rx.recv_timeout(Duration::from_millis(50)) {
            panic!("iteration {i}: dropping the watch ended the session: {err:?}");
        }
    }
}

// ------------------------------------------------------------------ objects

/// Waits for the object with `object_id` of `group`, skipping late warm-ups.
fn receive_group(rx: &mpsc::Receiver<Event>, group: u64, count: u64, label: &str) {
    let mut seen = 0;
    while seen < count {
        match rx.recv_timeout(WAIT).expect("no object within 10 s") {
            Event::Object(o) if o.group_id != group => continue,
            Event::Object(o) => {
                assert_eq!(o.object_id, seen);
                assert_eq!(o.payload, Bytes::from(format!("{label} {seen}")));
                seen += 1;
            }
            Event::Closed(r) => panic!("closed early: {r:?}"),
        }
    }
}

fn expect_normal_end(rx: &mpsc::Receiver<Event>) {
    loop {
        match rx.recv_timeout(WAIT).expect("no terminal event") {
            Event::Object(_) => continue,
            Event::Closed(result) => {
                assert!(result.is_ok(), "expected a normal end, got {result:?}");
                return;
            }
        }
    }
}

/// Sends one-object groups until one arrives (the first group after a
/// subscription starts may be missed, DESIGN §1), then drops any backlog.
fn warm_up(send: impl FnMut(), rx: &mpsc::Receiver<Event>) {
    let o = warm_up_with(send, rx);
    assert_eq!(&o.payload[..], b"warm-up");
    while rx.try_recv().is_ok() {}
}

#[test]
fn published_track_reaches_a_subscriber_through_the_relay() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let subscriber = connect(&relay);
    let space = ns("pt/cam");

    // PUBLISH alone, no PUBLISH_NAMESPACE: the relay accepts it as an exact track.
    let track = publisher.publish_track(&space, b"video").expect("publish");
    assert_eq!(track.name(), "video");
    assert_eq!(track.namespace(), &space);

    let (handler, rx) = channel();
    let _subscription = subscriber
        .subscribe(&space, b"video", handler)
        .expect("subscribe to the published track");
    warm_up(
        || {
            let g = track.begin_group(127).unwrap();
            g.write(Bytes::from_static(b"warm-up")).unwrap();
            g.finish().unwrap();
        },
        &rx,
    );

    let group = track.begin_group(127).unwrap();
    for i in 0..50u32 {
        group.write(Bytes::from(format!("pub {i}"))).unwrap();
    }
    group.finish().unwrap();
    assert!(group.write(Bytes::from_static(b"late")).is_err());
    receive_group(&rx, group.group_id(), 50, "pub");

    // Dropping the track ends it: PUBLISH_DONE, which the relay passes on.
    drop(track);
    expect_normal_end(&rx);
}

#[test]
fn second_publisher_of_a_track_is_duplicate() {
    let relay = Relay::start().expect("relay");
    let first = connect(&relay);
    let second = connect(&relay);
    let space = ns("dup/ns");
    let _track = first.publish_track(&space, b"t").expect("publish");

    // The same session again: refused locally.
    let err = first
        .publish_track(&space, b"t")
        .err()
        .expect("same session must be refused");
    assert_eq!(err.code, Code::Duplicate, "{err}");

    // Another session: the relay refuses it (REQUEST_ERROR DUPLICATE_SUBSCRIPTION).
    let err = second
        .publish_track(&space, b"t")
        .err()
        .expect("a second publisher must be refused");
    assert_eq!(err.code, Code::Duplicate, "{err}");

    // Bad names never reach the wire.
    let err = first.publish_track(&space, b"").err().expect("empty name");
    assert_eq!(err.code, Code::InvalidArgument, "{err}");
}

// ------------------------------------------------------------------ PUBLISH from a peer

/// The library connected to moq-test-peer (moq-transport as a server on
/// 127.0.0.1, raw QUIC); the test drives the peer's Publisher and Subscriber.
struct Peer {
    peer: moq_test_peer::Peer,
    _certs: tempfile::TempDir,
    client: Session,
    publisher: moq_transport::session::Publisher,
    subscriber: moq_transport::session::Subscriber,
}

impl Peer {
    fn rt(&self) -> &tokio::runtime::Runtime {
        self.peer.runtime()
    }
}

fn gen_certs() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("moq-peer-certs.")
        .tempdir_in("/tmp")
        .unwrap();
    support::generate_certs(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// Fresh certificates, moq-test-peer started with `options`, and the library
/// connected to it. The certificates must outlive the peer's use of them.
fn connect_peer(
    options: moq_test_peer::PeerOptions,
) -> (moq_test_peer::Peer, tempfile::TempDir, Session) {
    let certs = gen_certs();
    let peer = moq_test_peer::Peer::start(certs.path(), options).expect("test peer");
    let client = Session::connect(
        &peer.url(),
        config_with_ca(&certs.path().join("ca.pem")),
        Box::new(|_| {}),
    )
    .expect("connect to the test peer");
    (peer, certs, client)
}

fn start_peer() -> Peer {
    let (peer, certs, client) = connect_peer(Default::default());
    let accepted = peer.next_client(WAIT).expect("peer accept timed out");
    Peer {
        peer,
        _certs: certs,
        client,
        publisher: accepted.publisher,
        subscriber: accepted.subscriber,
    }
}

/// Accepts tracks named "wanted", rejects the rest; records what it was offered.
struct Offers {
    offered: mpsc::Sender<String>,
    objects: mpsc::Sender<Event>,
}

impl PublishHandler for Offers {
    fn on_publish(&mut self, namespace: &Namespace, track: &str) -> Option<Box<dyn ObjectHandler>> {
        let _ = self.offered.send(format!("{namespace}/{track}"));
        (track == "wanted")
            .then(|| Box::new(Channel(self.objects.clone())) as Box<dyn ObjectHandler>)
    }
}

#[test]
fn publish_from_the_peer_is_offered_accepted_or_rejected() {
    use moq_transport::coding::KeyValuePairs;
    use moq_transport::serve::{ServeError, Track};

    let peer = start_peer();
    let (offered_tx, offered) = mpsc::channel();
    let (objects_tx, rx) = mpsc::channel();
    let listener = peer
        .client
        .on_publish(Box::new(Offers {
            offered: offered_tx,
            objects: objects_tx,
        }))
        .expect("on_publish");
    let (again_tx, _) = mpsc::channel();
    let (again_objects, _) = mpsc::channel();
    let err = peer
        .client
        .on_publish(Box::new(Offers {
            offered: again_tx,
            objects: again_objects,
        }))
        .err()
        .expect("one listener per session");
    assert_eq!(err.code, Code::Duplicate, "{err}");

    let space = moq_transport::coding::TrackNamespace::from_utf8_path("peer/ns");

    // Rejected: the peer's PUBLISH gets REQUEST_ERROR.
    let (_unwanted_writer, unwanted) = Track::new(space.clone(), "unwanted").produce();
    let mut publisher = peer.publisher.clone();
    let refused = peer.rt().block_on(async {
        tokio::time::timeout(WAIT, async {
            let mut published = publisher
                .publish(unwanted, KeyValuePairs::default())
                .await?;
            Ok::<_, moq_transport::session::SessionError>(published.ok().await)
        })
        .await
    });
    let refused = refused
        .expect("no answer to the PUBLISH")
        .expect("PUBLISH sent");
    assert!(
        matches!(refused, Err(ServeError::Closed(_))),
        "expected a REQUEST_ERROR, got {refused:?}"
    );
    assert_eq!(offered.recv_timeout(WAIT).unwrap(), "peer/ns/unwanted");

    // Accepted: objects arrive at the handler, PUBLISH_DONE ends it normally.
    let (writer, wanted) = Track::new(space, "wanted").produce();
    let mut subgroups = writer.subgroups().unwrap();
    let mut publisher = peer.publisher.clone();
    let published = peer.rt().block_on(async {
        tokio::time::timeout(WAIT, async {
            let mut published = publisher.publish(wanted, KeyValuePairs::default()).await?;
            published.ok().await?;
            Ok::<_, moq_transport::session::SessionError>(published)
        })
        .await
    });
    let published = published
        .expect("no answer to the PUBLISH")
        .expect("PUBLISH accepted");
    assert_eq!(offered.recv_timeout(WAIT).unwrap(), "peer/ns/wanted");
    let serving = peer.rt().spawn(published.serve());

    warm_up(
        || {
            let mut g = subgroups.append(127).unwrap();
            g.write(Bytes::from_static(b"warm-up")).unwrap();
        },
        &rx,
    );
    let mut group = subgroups.append(127).unwrap();
    let group_id = group.group_id;
    for i in 0..5u32 {
        group.write(Bytes::from(format!("peer {i}"))).unwrap();
    }
    drop(group);
    receive_group(&rx, group_id, 5, "peer");
    drop(subgroups); // ends the track: the peer sends PUBLISH_DONE
    expect_normal_end(&rx);
    let _ = peer
        .rt()
        .block_on(async { tokio::time::timeout(WAIT, serving).await });

    // Without a listener nothing answers; the peer's PUBLISH stays pending.
    drop(listener);
    let (_w, late) = Track::new(
        moq_transport::coding::TrackNamespace::from_utf8_path("peer/ns"),
        "late",
    )
    .produce();
    let mut publisher = peer.publisher.clone();
    let pending = peer.rt().block_on(async {
        tokio::time::timeout(QUIET, async {
            let mut published = publisher.publish(late, KeyValuePairs::default()).await?;
            Ok::<_, moq_transport::session::SessionError>(published.ok().await)
        })
        .await
    });
    assert!(pending.is_err(), "a PUBLISH was answered with no listener");
    assert!(offered.try_recv().is_err());
}

#[test]
fn publish_to_a_peer_that_refuses_it_fails() {
    let peer = start_peer();
    let mut subscriber = peer.subscriber.clone();
    // The peer rejects every PUBLISH it receives (dropping it answers
    // REQUEST_ERROR UNINTERESTED).
    peer.rt().spawn(async move {
        while let Some(publish) = subscriber.publish_received().await {
            drop(publish);
        }
    });
    let err = peer
        .client
        .publish_track(&ns("peer/out"), b"t")
        .err()
        .expect("the peer refused the PUBLISH");
    assert_eq!(err.code, Code::Closed, "{err}");
    assert!(err.message.contains("refused"), "{err}");
}

#[test]
fn a_subscribe_for_a_namespace_the_client_does_not_announce_is_refused_at_once() {
    use moq_transport::coding::TrackNamespace;
    use moq_transport::serve::Track;

    let peer = start_peer();
    let mut subscriber = peer.subscriber.clone();
    // The engine queues such a SUBSCRIBE for the application; unanswered,
    // the subscriber would wait for ever (and the request would stay queued
    // until the session ends).
    let (writer, _reader) =
        Track::new(TrackNamespace::from_utf8_path("nobody/here"), "t").produce();
    let answer = peer
        .rt()
        .block_on(async { tokio::time::timeout(WAIT, subscriber.subscribe(writer)).await })
        .expect("the SUBSCRIBE was never answered");
    let err = answer.expect_err("nothing is announced, so nothing can be served");
    assert!(
        err.to_string().to_lowercase().contains("not"),
        "expected a not-found refusal, got {err}"
    );
}

// ------------------------------------------------------------------ GOAWAY from a peer

/// Connects to moq-test-peer sending GOAWAY with `uri` (moq-relay-ietf 0.8.0
/// never sends GOAWAY; the peer writes it on its real control stream) and
/// returns what `on_goaway` reported.
fn goaway_from_peer(uri: &str) -> (Session, moq_test_peer::Peer, String) {
    // `_certs` (not `_`) keeps the certificates until the function returns.
    let (peer, _certs, client) = connect_peer(moq_test_peer::PeerOptions {
        goaway_uri: Some(uri.to_string()),
        goaway_after: Duration::from_millis(300),
        ..Default::default()
    });
    let (tx, rx) = mpsc::channel();
    client.on_goaway(Box::new(move |uri| {
        let _ = tx.send(uri);
    }));
    let reported = rx.recv_timeout(WAIT).expect("no GOAWAY reported");
    (client, peer, reported)
}

#[test]
fn goaway_from_the_peer_is_reported_with_its_new_uri() {
    let (client, _peer, uri) = goaway_from_peer("moqt://localhost:4443/next");
    assert_eq!(uri, "moqt://localhost:4443/next");
    // GOAWAY asks the client to move; the session itself still works.
    assert_eq!(client.state(), moq_ffi::SessionState::Connected);

    // A sink registered after the GOAWAY gets it too, on the session's strand.
    let (tx, rx) = mpsc::channel();
    client.on_goaway(Box::new(move |uri| {
        let _ = tx.send(uri);
    }));
    assert_eq!(rx.recv_timeout(WAIT).expect("late sink not called"), uri);
}

#[test]
fn goaway_without_a_uri_is_reported_empty() {
    let (_client, _peer, uri) = goaway_from_peer("");
    assert_eq!(uri, "");
}
