//! FETCH against a real moq-relay-ietf: our joining fetch from the
//! moq-clock-ietf publisher, standalone fetch from our own publisher's history,
//! moq-clock-ietf's joining subscriber against our publisher, unknown tracks.

#[path = "common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moq_ffi::fetch::{Fetch, FetchRange};
use moq_ffi::history::HistoryLimits;
use moq_ffi::publish::TrackOptions;

use common::{channel, connect, Event, WAIT};
use moq_ffi::{Code, Error, Namespace, ReceivedObject, Session};
use support::{is_clock_line, start_clock, Relay};

/// Every object until the terminal event, which must come within `WAIT` of
/// the previous event.
fn collect(rx: &mpsc::Receiver<Event>) -> (Vec<ReceivedObject>, Result<(), Error>) {
    let mut objects = Vec::new();
    loop {
        match rx.recv_timeout(WAIT).expect("no fetch event within 10 s") {
            Event::Object(o) => objects.push(o),
            Event::Closed(result) => return (objects, result),
        }
    }
}

fn locations(objects: &[ReceivedObject]) -> Vec<(u64, u64)> {
    objects.iter().map(|o| (o.group_id, o.object_id)).collect()
}

fn fetch_err(session: &Session, ns: &Namespace, track: &[u8], range: FetchRange) -> moq_ffi::Error {
    let (handler, _rx) = channel();
    match session.fetch(ns, track, range, handler) {
        Ok(_) => panic!("fetching {range:?} of {ns}/{track:?} should fail"),
        Err(e) => e,
    }
}

/// True if `base` looks like the clock's "YYYY-MM-DD HH:MM:".
fn is_clock_base(base: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(base) else {
        return false;
    };
    is_clock_line(&format!("{text}00"))
}

// ------------------------------------------------------------------ (a)

/// Our joining fetch against the moq-clock-ietf publisher, which retains its
/// history: the fetch returns the current minute from its base object up to
/// the subscription's joining location, in order.
#[test]
fn joining_fetch_from_the_clock_publisher_returns_the_current_minute() {
    let relay = Relay::start().expect("relay");
    let mut clock = start_clock(&relay, &["--publish"]).expect("clock publisher");
    // A few seconds of history in the current minute.
    assert!(
        clock.wait_for_stdout_lines(is_clock_line, 3, WAIT),
        "the clock publisher printed fewer than 3 times; stderr:\n{}",
        clock.stderr_text()
    );
    let ns = Namespace::parse("clock").unwrap();

    // A relay that is not yet forwarding the track answers SUBSCRIBE before it
    // has any object, and such a subscription cannot be joined. A first
    // session makes the relay forward the track (and keeps it forwarding).
    let warm = connect(&relay);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (_warm_subscription, warm_rx) = loop {
        let (handler, rx) = channel();
        match warm.subscribe(&ns, b"now", handler) {
            Ok(subscription) => break (subscription, rx),
            // The announcement may not have reached the relay yet.
            Err(e) if e.code == Code::NotFound && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(e) => panic!("warm-up subscribe failed: {e}"),
        }
    };
    match warm_rx
        .recv_timeout(WAIT)
        .expect("no live clock object within 10 s")
    {
        Event::Object(_) => {}
        Event::Closed(r) => panic!("warm-up subscription ended: {r:?}"),
    }

    let session = connect(&relay);
    let (live, _live_rx) = channel();
    let subscription = session.subscribe(&ns, b"now", live).expect("subscribe");

    // A subscription of another session cannot be joined from this one.
    let (h, _rx) = channel();
    assert_eq!(
        warm.joining_fetch(&subscription, 0, h).err().unwrap().code,
        Code::InvalidArgument
    );

    let (handler, rx) = channel();
    let fetch: Fetch = session
        .joining_fetch(&subscription, 0, handler)
        .expect("joining fetch");
    let (objects, result) = collect(&rx);
    assert!(result.is_ok(), "joining fetch did not complete: {result:?}");
    assert!(!objects.is_empty(), "the joining fetch returned no object");

    // One group: object 0 is the minute's base, then one "SS" per second,
    // consecutive, ending exactly at the joining location.
    let group = objects[0].group_id;
    assert_eq!(
        locations(&objects),
        (0..objects.len() as u64)
            .map(|o| (group, o))
            .collect::<Vec<_>>()
    );
    assert!(
        is_clock_base(&objects[0].payload),
        "object 0 is {:?}, expected \"YYYY-MM-DD HH:MM:\"",
        objects[0].payload
    );
    let base = std::str::from_utf8(&objects[0].payload).unwrap();
    let mut previous = None;
    for o in &objects[1..] {
        let seconds = std::str::from_utf8(&o.payload).expect("utf-8 seconds");
        assert!(
            is_clock_line(&format!("{base}{seconds}")),
            "object {} is {seconds:?}, expected two-digit seconds",
            o.object_id
        );
        let s: u32 = seconds.parse().unwrap();
        assert!(previous.is_none_or(|p| s > p), "seconds not increasing");
        previous = Some(s);
    }
    let last = objects.last().unwrap();
    assert_eq!(fetch.end_group(), last.group_id);
    assert_eq!(fetch.end_object(), Some(last.object_id));
    assert!(clock.running(), "the clock publisher died");
}

// ------------------------------------------------------------------ (b)

/// Publishes `groups` groups of `per_group` objects "g{g}o{o}"; the track's
/// history records them as they are written.
fn publish_groups(track: &moq_ffi::TrackWriter, groups: u64, per_group: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    for _ in 0..groups {
        let group = track.begin_group(3).unwrap();
        let g = group.group_id();
        for o in 0..per_group {
            let payload = Bytes::from(format!("g{g}o{o}"));
            group.write(payload).unwrap();
        }
        group.finish().unwrap();
        ids.push(g);
    }
    ids
}

#[test]
fn standalone_fetch_from_our_publisher_with_history() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let ns = Namespace::parse("test/fetch").unwrap();
    let announcement = publisher.announce(&ns).expect("announce");
    let track = announcement
        .create_track_with(b"t", &with_history(3, 16 * 1024 * 1024))
        .unwrap();
    let history = track.history().expect("the track keeps history");

    // Groups 0..=4 of 4 objects; the history keeps groups 2, 3, 4. The last
    // object of group 4 is large: it arrives in several pieces.
    let ids = publish_groups(&track, 4, 4);
    assert_eq!(ids, [0, 1, 2, 3]);
    let big: Bytes = (0..3 * 1024 * 1024 + 7)
        .map(|i: usize| (i * 31 % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let group = track.begin_group(3).unwrap();
    assert_eq!(group.group_id(), 4);
    for o in 0..3u64 {
        group.write(Bytes::from(format!("g4o{o}"))).unwrap();
    }
    group.write(big.clone()).unwrap();
    group.finish().unwrap();
    assert_eq!(history.group_span(), Some((2, 4)));

    let subscriber = connect(&relay);

    // Whole groups 2..=4.
    let (handler, rx) = channel();
    let fetch = subscriber
        .fetch(&ns, b"t", FetchRange::groups(2, 4), handler)
        .expect("fetch groups 2..=4");
    assert_eq!((fetch.end_group(), fetch.end_object()), (4, Some(3)));
    assert!(!fetch.end_of_track());
    let (objects, result) = collect(&rx);
    assert!(result.is_ok(), "{result:?}");
    let expected: Vec<(u64, u64)> = (2..=4).flat_map(|g| (0..4).map(move |o| (g, o))).collect();
    assert_eq!(locations(&objects), expected);
    for o in &objects[..objects.len() - 1] {
        assert_eq!(
            o.payload,
            Bytes::from(format!("g{}o{}", o.group_id, o.object_id))
        );
        assert_eq!((o.subgroup_id, o.priority), (0, 3));
    }
    assert!(
        objects.last().unwrap().payload == big,
        "large object differs"
    );
    drop(fetch);

    // Inclusive object range inside the history.
    let (handler, rx) = channel();
    let fetch = subscriber
        .fetch(&ns, b"t", FetchRange::objects(2, 3, 3, 1), handler)
        .expect("fetch 2/3..=3/1");
    assert_eq!((fetch.end_group(), fetch.end_object()), (3, Some(1)));
    let (objects, result) = collect(&rx);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(locations(&objects), [(2, 3), (3, 0), (3, 1)]);
    assert_eq!(&objects[0].payload[..], b"g2o3");

    // A range reaching past what exists gets what is retained, and says so.
    let (handler, rx) = channel();
    let fetch = subscriber
        .fetch(&ns, b"t", FetchRange::objects(3, 2, 9, 0), handler)
        .expect("fetch 3/2..=9/0");
    assert_eq!((fetch.end_group(), fetch.end_object()), (4, Some(3)));
    let (objects, result) = collect(&rx);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(objects.len(), 6);

    // Evicted groups and groups not published yet: not found, and why.
    let err = fetch_err(&subscriber, &ns, b"t", FetchRange::groups(0, 4));
    assert_eq!(err.code, Code::NotFound, "{err}");
    assert!(err.message.contains("no longer retained"), "{err}");
    let err = fetch_err(&subscriber, &ns, b"t", FetchRange::groups(7, 9));
    assert_eq!(err.code, Code::NotFound, "{err}");

    // Checked before anything is sent.
    let err = fetch_err(&subscriber, &ns, b"t", FetchRange::groups(3, 2));
    assert_eq!(err.code, Code::InvalidArgument, "{err}");
    let err = fetch_err(&subscriber, &ns, b"", FetchRange::groups(0, 0));
    assert_eq!(err.code, Code::InvalidArgument, "{err}");

    // Dropping a fetch before reading it cancels it; the session stays usable.
    let (handler, _rx) = channel();
    drop(
        subscriber
            .fetch(&ns, b"t", FetchRange::groups(2, 4), handler)
            .unwrap(),
    );
    let (handler, rx) = channel();
    let _fetch = subscriber
        .fetch(&ns, b"t", FetchRange::groups(4, 4), handler)
        .expect("fetch after a cancelled one");
    let (objects, result) = collect(&rx);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(objects.len(), 4);

    // Once the track is gone, so is its history: the track is unknown to FETCH.
    drop(track);
    let err = fetch_err(&subscriber, &ns, b"t", FetchRange::groups(2, 4));
    assert_eq!(err.code, Code::NotFound, "{err}");
}

// ------------------------------------------------------------------ (c)

/// The clock format, faster: one group per second, object 0 = the minute
/// base "2030-01-01 00:MM:" (MM = group % 60), then ten "SS" objects, one per
/// 100 ms. The track's history records each object before it is written.
fn run_fast_clock(track: moq_ffi::TrackWriter, stop: Arc<AtomicBool>, current: Arc<AtomicU64>) {
    while !stop.load(Ordering::Acquire) {
        let group = track.begin_group(0).unwrap();
        let g = group.group_id();
        current.store(g, Ordering::Release);
        let base = Bytes::from(format!("2030-01-01 00:{:02}:", g % 60));
        group.write(base).unwrap();
        for s in 0..10u64 {
            let payload = Bytes::from(format!("{s:02}"));
            group.write(payload).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            if stop.load(Ordering::Acquire) {
                break;
            }
        }
        group.finish().unwrap();
    }
}

/// `(minute, second)` of a clock line.
fn minute_second(line: &str) -> (u64, u64) {
    (line[14..16].parse().unwrap(), line[17..19].parse().unwrap())
}

#[test]
fn clock_join_groups_subscriber_against_our_publisher_with_history() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let ns = Namespace::parse("clock").unwrap();
    let announcement = publisher.announce(&ns).expect("announce");
    let track = announcement
        .create_track_with(b"now", &with_history(8, 1024 * 1024))
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let current = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, current) = (stop.clone(), current.clone());
        std::thread::spawn(move || run_fast_clock(track, stop, current))
    };
    // Let a few groups go by, so there is history before the joining group.
    let deadline = Instant::now() + WAIT;
    while current.load(Ordering::Acquire) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let joined_at = current.load(Ordering::Acquire);
    assert!(joined_at >= 2, "the publisher thread is stuck");

    // The first joining subscriber meets a relay that is not yet forwarding
    // the track; the second one joins while the relay forwards it (for the
    // first), so its joining location comes from the relay's cache.
    let cold = start_clock(&relay, &["--join-groups", "1"]).expect("clock subscriber");
    let cold_started = cold.wait_for_stdout_lines(is_clock_line, 5, WAIT);
    let warm_joined_at = current.load(Ordering::Acquire);
    let warm = start_clock(&relay, &["--join-groups", "1"]).expect("second clock subscriber");
    let got = cold_started
        && cold.wait_for_stdout_lines(is_clock_line, 25, Duration::from_secs(20))
        && warm.wait_for_stdout_lines(is_clock_line, 15, Duration::from_secs(20));
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    let clock_lines = |clock: &support::Clock| -> Vec<String> {
        clock
            .stdout_lines()
            .into_iter()
            .filter(|l| is_clock_line(l))
            .collect()
    };
    let (cold_lines, warm_lines) = (clock_lines(&cold), clock_lines(&warm));
    assert!(
        got,
        "moq-clock-ietf --join-groups 1 printed {} and {} clock lines ({cold_lines:?}, \
         {warm_lines:?}); stderr:\n{}\n---\n{}",
        cold_lines.len(),
        warm_lines.len(),
        cold.stderr_text(),
        warm.stderr_text()
    );
    check_joined_timeline(&cold_lines, joined_at);
    check_joined_timeline(&warm_lines, warm_joined_at);
}

/// History first: the previous group from its first second, then one
/// timeline without a gap or a repeat, across the history/live boundary and
/// into later groups. `joined_at` is the group being written when the
/// subscriber started.
fn check_joined_timeline(lines: &[String], joined_at: u64) {
    let (first_minute, first_second) = minute_second(&lines[0]);
    assert_eq!(
        first_second, 0,
        "history must start at a group's first second: {lines:?}"
    );
    // Group ids stay below 60 in this test, so the minute is the group id.
    // The joining group is `joined_at` or later, or `joined_at - 1` when the
    // SUBSCRIBE reached the relay before group `joined_at`'s first object did;
    // one group of history goes back one more.
    assert!(
        first_minute + 2 >= joined_at,
        "first line {} is older than one group before the joining group (joined while group \
         {joined_at} was written): {lines:?}",
        lines[0]
    );
    for pair in lines.windows(2) {
        let (m0, s0) = minute_second(&pair[0]);
        let (m1, s1) = minute_second(&pair[1]);
        let next = if s0 == 9 {
            ((m0 + 1) % 60, 0)
        } else {
            (m0, s0 + 1)
        };
        assert_eq!((m1, s1), next, "gap or repeat between {pair:?}: {lines:?}");
    }
    let last_minute = minute_second(&lines[lines.len() - 1]).0;
    assert_ne!(
        last_minute, first_minute,
        "the joined subscriber never left its first group: {lines:?}"
    );
}

// ------------------------------------------------------------------ (d)

#[test]
fn fetch_of_an_unknown_track_is_not_found() {
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let ns = Namespace::parse("test/unknown").unwrap();
    let _announcement = publisher.announce(&ns).expect("announce");
    let subscriber = connect(&relay);

    // A namespace our publisher announced, a track it does not have.
    let err = fetch_err(&subscriber, &ns, b"missing", FetchRange::groups(0, 1));
    assert_eq!(err.code, Code::NotFound, "{err}");
    assert!(err.message.contains("test/unknown/missing"), "{err}");

    // A namespace nobody announced.
    let other = Namespace::parse("nobody/here").unwrap();
    let err = fetch_err(&subscriber, &other, b"x", FetchRange::groups(0, 1));
    assert_eq!(err.code, Code::NotFound, "{err}");
}

#[test]
fn fetched_objects_keep_their_extension_headers() {
    use moq_ffi::object::{Extension, ExtensionValue};
    let relay = Relay::start().expect("relay");
    let publisher = connect(&relay);
    let ns = Namespace::parse("test/fetch-ext").unwrap();
    let announcement = publisher.announce(&ns).expect("announce");
    let track = announcement
        .create_track_with(b"t", &with_history(4, 1024 * 1024))
        .unwrap();
    let extensions = vec![
        Extension {
            key: 2,
            value: ExtensionValue::Number(42),
        },
        Extension {
            key: 3,
            value: ExtensionValue::Bytes(b"meta".to_vec()),
        },
    ];
    let group = track.begin_group(5).unwrap();
    group
        .write_object(None, Bytes::from_static(b"whole"), &extensions)
        .unwrap();
    let chunked = group.begin_object(None, 6, &extensions).unwrap();
    chunked.write(Bytes::from_static(b"chu")).unwrap();
    chunked.write(Bytes::from_static(b"nks")).unwrap();
    group.finish().unwrap();

    let subscriber = connect(&relay);
    let (handler, rx) = channel();
    let _fetch = subscriber
        .fetch(&ns, b"t", FetchRange::groups(0, 0), handler)
        .expect("fetch");
    let (objects, result) = collect(&rx);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(locations(&objects), [(0, 0), (0, 1)]);
    for object in &objects {
        assert_eq!(object.extensions, extensions, "object {}", object.object_id);
        assert!(!object.datagram);
    }
}

/// Track options that keep `max_groups` groups of history for FETCH.
fn with_history(max_groups: usize, max_bytes: usize) -> TrackOptions {
    TrackOptions {
        history: Some(HistoryLimits {
            max_groups,
            max_bytes,
        }),
        ..TrackOptions::default()
    }
}
