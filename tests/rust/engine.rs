//! Engine tests against a real moq-relay-ietf started on 127.0.0.1.

#[path = "support/mod.rs"]
mod support;

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use moq_ffi::{
    Code, Error, Namespace, ObjectHandler, ReceivedObject, Session, SessionConfig, TlsOptions,
};
use support::Relay;

const WAIT: Duration = Duration::from_secs(10);

fn config(relay: &Relay) -> SessionConfig {
    SessionConfig {
        tls: TlsOptions {
            root_cert_files: vec![relay.ca_file()],
            ..Default::default()
        },
        bind: "127.0.0.1:0".into(),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

fn connect(relay: &Relay) -> Session {
    Session::connect(&relay.url(), config(relay), Box::new(|_| {})).expect("connect")
}

enum Event {
    Object(ReceivedObject),
    Closed(Result<(), Error>),
}

/// Forwards subscription events to a channel the test reads with timeouts.
struct Channel(mpsc::Sender<Event>);

impl ObjectHandler for Channel {
    fn on_object(&mut self, object: ReceivedObject) {
        let _ = self.0.send(Event::Object(object));
    }
    fn on_closed(&mut self, result: Result<(), Error>) {
        let _ = self.0.send(Event::Closed(result));
    }
}

fn channel() -> (Box<Channel>, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    (Box::new(Channel(tx)), rx)
}

fn next_object(rx: &mpsc::Receiver<Event>) -> ReceivedObject {
    match rx.recv_timeout(WAIT).expect("no event within 10 s") {
        Event::Object(o) => o,
        Event::Closed(r) => panic!("subscription closed early: {r:?}"),
    }
}

#[test]
fn publish_subscribe_round_trip_and_normal_end() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let subscriber = connect(&relay);
    let ns = Namespace::parse("test/roundtrip").unwrap();
    let announcement = publisher.announce(&ns).expect("announce");
    let track = announcement.create_track(b"data").expect("track");

    let (handler, rx) = channel();
    let _subscription = subscriber.subscribe(&ns, b"data", handler).expect("subscribe");

    // The first group after subscribing may be missed (DESIGN §1): send
    // warm-up groups until one arrives, then the real ones.
    let mut first = None;
    for _ in 0..20 {
        let group = track.begin_group(127).unwrap();
        group.write(Bytes::from_static(b"warm-up")).unwrap();
        group.finish().unwrap();
        if let Ok(Event::Object(o)) = rx.recv_timeout(Duration::from_millis(500)) {
            first = Some(o);
            break;
        }
    }
    let first = first.expect("no warm-up object arrived");
    assert_eq!(&first.payload[..], b"warm-up");
    while rx.try_recv().is_ok() {}

    let group = track.begin_group(127).unwrap();
    for i in 0..100u32 {
        group.write(Bytes::from(format!("object {i}"))).unwrap();
    }
    group.finish().unwrap();
    let mut seen = 0;
    while seen < 100 {
        let o = next_object(&rx);
        if o.group_id != group.group_id() {
            continue; // a late warm-up group
        }
        assert_eq!(o.object_id, seen);
        assert_eq!(o.payload, Bytes::from(format!("object {seen}")));
        seen += 1;
    }

    // Destroying the track ends it normally for the subscriber.
    drop(track);
    loop {
        match rx.recv_timeout(WAIT).expect("no terminal event") {
            Event::Object(_) => continue,
            Event::Closed(result) => {
                assert!(result.is_ok(), "expected a normal end, got {result:?}");
                break;
            }
        }
    }
}

#[test]
fn unknown_track_is_not_found() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let subscriber = connect(&relay);
    let ns = Namespace::parse("test/nf").unwrap();
    let _announcement = publisher.announce(&ns).expect("announce");
    let (handler, _rx) = channel();
    let err = subscriber
        .subscribe(&ns, b"missing", handler)
        .err()
        .expect("subscribe must fail");
    assert_eq!(err.code, Code::NotFound, "{err}");

    let (handler, _rx) = channel();
    let other = Namespace::parse("nobody/here").unwrap();
    let err = subscriber
        .subscribe(&other, b"x", handler)
        .err()
        .expect("subscribe must fail");
    assert_eq!(err.code, Code::NotFound, "{err}");
}
