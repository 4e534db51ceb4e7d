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
    let _subscription = subscriber
        .subscribe(&ns, b"data", handler)
        .expect("subscribe");

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

fn connect_err(url: &str, config: SessionConfig) -> Error {
    match Session::connect(url, config, Box::new(|_| {})) {
        Ok(_) => panic!("connecting to {url} should fail"),
        Err(e) => e,
    }
}

#[test]
fn bad_urls_are_rejected_before_any_io() {
    for (url, code) in [
        ("", Code::InvalidUrl),
        ("not a url", Code::InvalidUrl),
        ("http://127.0.0.1:4443/", Code::InvalidUrl),
        ("https://", Code::InvalidUrl),
    ] {
        let err = connect_err(url, SessionConfig::default());
        assert_eq!(err.code, code, "{url}: {err}");
        assert!(!err.message.is_empty());
    }
    let err = connect_err(
        "https://127.0.0.1:1/",
        SessionConfig {
            bind: "nonsense".into(),
            ..Default::default()
        },
    );
    assert_eq!(err.code, Code::InvalidArgument, "{err}");
}

#[test]
fn unreachable_port_fails_within_the_connect_timeout() {
    let port = support::pick_free_udp_port().unwrap();
    let started = std::time::Instant::now();
    let err = connect_err(
        &format!("moqt://127.0.0.1:{port}/"),
        SessionConfig {
            connect_timeout: Duration::from_millis(800),
            bind: "127.0.0.1:0".into(),
            ..Default::default()
        },
    );
    assert!(
        matches!(err.code, Code::Timeout | Code::ConnectFailed),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn tls_trust_roots_pins_and_failures() {
    let relay = Relay::start().expect("relay");
    // Wrong CA.
    let mut cfg = config(&relay);
    cfg.tls.root_cert_files = vec![relay.other_ca_file()];
    let err = connect_err(&relay.url(), cfg);
    assert_eq!(err.code, Code::Tls, "{err}");
    // Pin that does not match.
    let mut cfg = config(&relay);
    cfg.tls.root_cert_files.clear();
    cfg.tls.server_cert_sha256 = vec!["00".repeat(32)];
    let err = connect_err(&relay.url(), cfg);
    assert_eq!(err.code, Code::Tls, "{err}");
    assert!(err.message.contains("pin"), "{err}");
    // Malformed pin.
    let mut cfg = config(&relay);
    cfg.tls.server_cert_sha256 = vec!["xyz".into()];
    assert_eq!(connect_err(&relay.url(), cfg).code, Code::InvalidArgument);
    // Matching pin, no roots: connects (raw QUIC too).
    let mut cfg = config(&relay);
    cfg.tls.root_cert_files.clear();
    cfg.tls.server_cert_sha256 = vec![relay.cert_sha256().to_string()];
    Session::connect(&relay.moqt_url(), cfg, Box::new(|_| {})).expect("pinned connect");
    // Verification disabled: connects.
    let mut cfg = config(&relay);
    cfg.tls.root_cert_files.clear();
    cfg.tls.disable_verify = true;
    Session::connect(&relay.url(), cfg, Box::new(|_| {})).expect("insecure connect");
    // A roots file that holds no certificate.
    let mut cfg = config(&relay);
    cfg.tls.root_cert_files = vec![relay.cert_dir().join("key.pem")];
    assert_eq!(connect_err(&relay.url(), cfg).code, Code::InvalidArgument);
}

#[test]
fn writer_limits_and_closed_session() {
    let relay = Relay::start().expect("relay");
    let mut cfg = config(&relay);
    cfg.max_object_size = 1024;
    let (tx, rx) = mpsc::channel();
    let session = Session::connect(
        &relay.url(),
        cfg,
        Box::new(move |e| {
            let _ = tx.send(e);
        }),
    )
    .expect("connect");
    let ns = Namespace::parse("test/limits").unwrap();
    let announcement = session.announce(&ns).expect("announce");
    assert_eq!(
        announcement.create_track(b"").err().unwrap().code,
        Code::InvalidArgument
    );
    let track = announcement.create_track(b"t").unwrap();
    assert_eq!(
        announcement.create_track(b"t").err().unwrap().code,
        Code::Duplicate
    );
    let group = track.begin_group(1).unwrap();
    let err = group.write(Bytes::from(vec![0u8; 1025])).unwrap_err();
    assert_eq!(err.code, Code::PayloadTooLarge, "{err}");
    group
        .write(Bytes::from(vec![0u8; 1024]))
        .expect("at the limit");
    group.finish().unwrap();
    assert_eq!(
        group.write(Bytes::from_static(b"x")).unwrap_err().code,
        Code::Closed
    );

    session.close(0, "bye").unwrap();
    // Exactly one terminal event, with no error, for a local close.
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), None);
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    assert_eq!(session.close(0, "").unwrap_err().code, Code::Closed);
    assert_eq!(track.begin_group(1).err().unwrap().code, Code::Closed);
    assert_eq!(session.announce(&ns).err().unwrap().code, Code::Closed);
    let (handler, _rx) = channel();
    assert_eq!(
        session.subscribe(&ns, b"t", handler).err().unwrap().code,
        Code::Closed
    );
}

#[test]
fn graceful_close_reaches_the_peer_before_any_timeout() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let subscriber = connect(&relay);
    let ns = Namespace::parse("test/close").unwrap();
    let announcement = publisher.announce(&ns).unwrap();
    let track = announcement.create_track(b"t").unwrap();
    let (handler, rx) = channel();
    let _subscription = subscriber.subscribe(&ns, b"t", handler).unwrap();
    let started = std::time::Instant::now();
    publisher.close(0, "done").unwrap();
    while let Event::Object(_) = rx.recv_timeout(WAIT).expect("no terminal event") {}
    // The idle timeout is 10 s: an ending this fast means the relay saw a CLOSE.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(track);
}

#[test]
fn blocking_call_from_a_callback_returns_would_block() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let subscriber = std::sync::Arc::new(connect(&relay));
    let ns = Namespace::parse("test/block").unwrap();
    let announcement = publisher.announce(&ns).unwrap();
    let track = announcement.create_track(b"t").unwrap();

    struct Reentrant {
        session: std::sync::Arc<Session>,
        ns: Namespace,
        tx: mpsc::Sender<Code>,
    }
    impl ObjectHandler for Reentrant {
        fn on_object(&mut self, _object: ReceivedObject) {
            let (handler, _rx) = channel();
            let code = match self.session.subscribe(&self.ns, b"other", handler) {
                Ok(_) => panic!("a blocking call from a callback must fail"),
                Err(e) => e.code,
            };
            let _ = self.tx.send(code);
        }
        fn on_closed(&mut self, _result: Result<(), Error>) {}
    }
    let (tx, rx) = mpsc::channel();
    let _subscription = subscriber
        .subscribe(
            &ns,
            b"t",
            Box::new(Reentrant {
                session: subscriber.clone(),
                ns: ns.clone(),
                tx,
            }),
        )
        .unwrap();
    let mut code = None;
    for _ in 0..20 {
        let group = track.begin_group(1).unwrap();
        group.write(Bytes::from_static(b"x")).unwrap();
        if let Ok(c) = rx.recv_timeout(Duration::from_millis(500)) {
            code = Some(c);
            break;
        }
    }
    assert_eq!(code, Some(Code::WouldBlock));
}

/// Deterministic payload for object `i` of `size` bytes.
fn pattern(i: usize, size: usize) -> Bytes {
    (0..size)
        .map(|j| (j.wrapping_mul(31) ^ i.wrapping_mul(7919)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[test]
fn large_and_many_objects_arrive_complete_in_order() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let subscriber = connect(&relay);
    let ns = Namespace::parse("test/bulk").unwrap();
    let announcement = publisher.announce(&ns).unwrap();
    let track = announcement.create_track(b"bulk").unwrap();
    let (handler, rx) = channel();
    let _subscription = subscriber.subscribe(&ns, b"bulk", handler).unwrap();

    // Warm up until the subscription receives (DESIGN §1).
    let mut warm = false;
    for _ in 0..20 {
        let group = track.begin_group(1).unwrap();
        group.write(Bytes::from_static(b"warm")).unwrap();
        group.finish().unwrap();
        if rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            warm = true;
            break;
        }
    }
    assert!(warm, "no warm-up object arrived");

    for (count, size) in [(2000usize, 1024usize), (20, 1024 * 1024)] {
        let group = track.begin_group(1).unwrap();
        for i in 0..count {
            group.write(pattern(i, size)).unwrap();
        }
        group.finish().unwrap();
        let mut next = 0;
        while next < count {
            let o = next_object(&rx);
            if o.group_id != group.group_id() {
                continue;
            }
            assert_eq!(o.object_id as usize, next);
            assert!(o.payload == pattern(next, size), "object {next} differs");
            next += 1;
        }
    }
}
