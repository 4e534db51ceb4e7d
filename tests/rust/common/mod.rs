//! Client-side helpers shared by the engine test files: session config for a
//! test relay, and a subscription handler that forwards to a channel.
#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use moq_ffi::{Error, ObjectHandler, ReceivedObject, Session, SessionConfig, TlsOptions};

use crate::support::Relay;

/// Bound on every wait for the peer in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// A config that trusts the test CA `ca` and binds IPv4 like the relay.
pub fn config_with_ca(ca: &Path) -> SessionConfig {
    SessionConfig {
        tls: TlsOptions {
            root_cert_files: vec![ca.to_path_buf()],
            ..Default::default()
        },
        bind: "127.0.0.1:0".into(),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

pub fn config(relay: &Relay) -> SessionConfig {
    config_with_ca(&relay.ca_file())
}

pub fn connect(relay: &Relay) -> Session {
    Session::connect(&relay.url(), config(relay), Box::new(|_| {})).expect("connect")
}

#[derive(Debug)]
pub enum Event {
    Object(ReceivedObject),
    Closed(Result<(), Error>),
}

/// Forwards subscription (or fetch) events to a channel read with timeouts.
pub struct Channel(pub mpsc::Sender<Event>);

impl ObjectHandler for Channel {
    fn on_object(&mut self, object: ReceivedObject) {
        let _ = self.0.send(Event::Object(object));
    }
    fn on_closed(&mut self, result: Result<(), Error>) {
        let _ = self.0.send(Event::Closed(result));
    }
}

pub fn channel() -> (Box<Channel>, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    (Box::new(Channel(tx)), rx)
}

/// The next object, failing the test on a terminal event or after `WAIT`.
pub fn next_object(rx: &mpsc::Receiver<Event>) -> ReceivedObject {
    match rx.recv_timeout(WAIT).expect("no event within 10 s") {
        Event::Object(o) => o,
        Event::Closed(r) => panic!("subscription closed early: {r:?}"),
    }
}

/// Calls `send` (which should publish one small group) and waits a second
/// for `rx` to yield an object; if none came, once more, waiting up to
/// [`WAIT`]. The relay may drop the first group a fresh subscription should
/// get (DESIGN §1), never more: a regression that loses groups fails here
/// instead of hiding behind more warm-up groups. Returns that object. A
/// closed subscription can never deliver it, so that fails at once.
pub fn warm_up_with(mut send: impl FnMut(), rx: &mpsc::Receiver<Event>) -> ReceivedObject {
    for wait in [Duration::from_secs(1), WAIT] {
        send();
        match rx.recv_timeout(wait) {
            Ok(Event::Object(o)) => return o,
            Ok(Event::Closed(r)) => panic!("closed during warm-up: {r:?}"),
            Err(_) => {}
        }
    }
    panic!("no warm-up object arrived: two groups were lost");
}

/// [`warm_up_with`] sending one-object "warm" groups on `track`. Returns the
/// group id of the object that arrived.
pub fn warm_up(track: &moq_ffi::TrackWriter, rx: &mpsc::Receiver<Event>) -> u64 {
    warm_up_with(
        || {
            let group = track.begin_group(1).unwrap();
            group.write(Bytes::from_static(b"warm")).unwrap();
            group.finish().unwrap();
        },
        rx,
    )
    .group_id
}
