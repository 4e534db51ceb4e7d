//! moq-bench-engine: the Rust twin of bench/bench.cpp. The same scenarios,
//! arguments and `RESULT {json}` line, with moq-transport 0.17 used directly
//! and connected the way moq-clock-ietf connects (moq-native-ietf, default
//! settings): the reference the C++ library is measured against.
//!
//!   moq-bench-engine --url URL --ca ca.pem --scenario NAME [--size B] [--count N]
//!                    [--per-group N] [--subscribers N] [--rate N] [--seconds S]
//!                    [--per-session N]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use moq_native_ietf::quic;
use moq_transport::coding::TrackNamespace;
use moq_transport::serve::{self, ServeError, TrackReaderMode};
use moq_transport::session::{Publisher, Session, Subscriber};
use tokio::sync::Notify;

#[derive(Clone)]
struct Args {
    url: String,
    ca: String,
    scenario: String,
    size: usize,
    count: u64,
    per_group: u64,
    subscribers: usize,
    rate: u64,
    seconds: f64,
    per_session: u64,
}

fn parse() -> anyhow::Result<Args> {
    let mut args = Args {
        url: String::new(),
        ca: String::new(),
        scenario: String::new(),
        size: 1024,
        count: 20_000,
        per_group: 100,
        subscribers: 8,
        rate: 1000,
        seconds: 5.0,
        per_session: 90,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => args.url = value,
            "--ca" => args.ca = value,
            "--scenario" => args.scenario = value,
            "--size" => args.size = value.parse()?,
            "--count" => args.count = value.parse()?,
            "--per-group" => args.per_group = value.parse::<u64>()?.max(1),
            "--subscribers" => args.subscribers = value.parse()?,
            "--rate" => args.rate = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--per-session" => args.per_session = value.parse::<u64>()?.max(1),
            _ => bail!("unknown option {flag}"),
        }
    }
    if args.url.is_empty() || args.scenario.is_empty() {
        bail!("--url and --scenario are required");
    }
    if args.size < 16 {
        bail!("--size must be at least 16 (sequence number and send time)");
    }
    Ok(args)
}

// ---------------------------------------------------------------- process figures

fn rusage() -> libc::rusage {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}

fn cpu_seconds() -> f64 {
    let u = rusage();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

fn peak_rss_mib() -> f64 {
    rusage().ru_maxrss as f64 / 1024.0
}

fn rss_kib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let resident: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    resident * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64 / 1024.0
}

/// Nanoseconds since the first call: a process-wide monotonic clock.
fn now_ns() -> i64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as i64
}

/// A fresh payload of `size` bytes starting with the sequence number and the send time.
fn payload(size: usize, seq: u64) -> Bytes {
    let mut data = vec![0x5a_u8; size];
    data[..8].copy_from_slice(&seq.to_ne_bytes());
    data[8..16].copy_from_slice(&now_ns().to_ne_bytes());
    Bytes::from(data)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .map_or(0, |b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
}

// ---------------------------------------------------------------- sessions

struct Connection {
    publisher: Publisher,
    subscriber: Subscriber,
    _run: tokio::task::JoinHandle<()>,
}

async fn connect(args: &Args) -> anyhow::Result<Connection> {
    let mut quic_args = quic::Args {
        bind: "127.0.0.1:0".parse()?,
        ..Default::default()
    };
    if !args.ca.is_empty() {
        quic_args.tls.root = vec![args.ca.clone().into()];
    }
    let endpoint = quic::Endpoint::new(quic_args.load()?)?;
    let url = url::Url::parse(&args.url)?;
    let (session, _cid, transport) = endpoint.client.connect(&url, None).await?;
    let (session, publisher, subscriber) = Session::connect(session, None, transport).await?;
    let run = tokio::spawn(async move {
        let _endpoint = endpoint; // lives as long as the session
        let _ = session.run().await;
    });
    Ok(Connection {
        publisher,
        subscriber,
        _run: run,
    })
}

fn unique_namespace(scenario: &str) -> TrackNamespace {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    TrackNamespace::from_utf8_path(&format!(
        "bench/{scenario}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// What one subscriber received (see bench.cpp's Receiver).
struct Receiver {
    state: Mutex<Received>,
    changed: Notify,
}

struct Received {
    warm: u64,
    received: u64,
    duplicates: u64,
    reorders: u64,
    max_group: Option<u64>,
    seen: Vec<bool>,
    latencies_ns: Vec<i64>,
    record_latency: bool,
    chunks: u64,
}

impl Receiver {
    fn new(count: u64, record_latency: bool) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(Received {
                warm: 0,
                received: 0,
                duplicates: 0,
                reorders: 0,
                max_group: None,
                seen: vec![false; count as usize],
                latencies_ns: Vec::new(),
                record_latency,
                chunks: 0,
            }),
            changed: Notify::new(),
        })
    }

    fn on_object(&self, group_id: u64, payload: &[u8], chunks: u64) {
        let arrived = now_ns();
        let mut s = self.state.lock().unwrap();
        if payload.len() == 4 {
            s.warm += 1;
        } else {
            let seq = read_u64(payload, 0) as usize;
            if seq < s.seen.len() && !s.seen[seq] {
                s.seen[seq] = true;
                s.received += 1;
            } else {
                s.duplicates += 1;
            }
            if s.max_group.is_some_and(|max| group_id < max) {
                s.reorders += 1;
            }
            if s.record_latency {
                s.latencies_ns.push(arrived - read_u64(payload, 8) as i64);
            }
            s.chunks += chunks;
        }
        s.max_group = Some(s.max_group.map_or(group_id, |max| max.max(group_id)));
        // Only when what the waits ask for can have become true (see
        // bench.cpp's Receiver::on_object).
        let wake = (payload.len() == 4 && s.warm == 1) || s.received == s.seen.len() as u64;
        drop(s);
        if wake {
            self.changed.notify_waiters();
        }
    }

    /// Waits until `pred` holds, or `timeout`; returns whether it holds.
    async fn wait(&self, pred: impl Fn(&Received) -> bool, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if pred(&self.state.lock().unwrap()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return pred(&self.state.lock().unwrap());
            }
        }
    }
}

/// Subscribes to "data" (retrying while the announcement has not reached the
/// relay) and reads it, taking subgroups in turn, as moq-clock-ietf does.
async fn subscribe(
    args: &Args,
    ns: &TrackNamespace,
    receiver: Arc<Receiver>,
) -> anyhow::Result<(Connection, serve::TrackReader)> {
    let conn = connect(args).await?;
    let (reader, subscribe) =
        subscribe_when_announced(&mut conn.subscriber.clone(), ns, "data").await?;
    let reading = reader.clone();
    tokio::spawn(async move {
        let _subscribe = subscribe; // unsubscribes when dropped
        let _ = read_track(reading, receiver).await;
    });
    Ok((conn, reader))
}

async fn read_track(reader: serve::TrackReader, receiver: Arc<Receiver>) -> anyhow::Result<()> {
    let TrackReaderMode::Subgroups(mut subgroups) = reader.mode().await? else {
        bail!("not a subgroup track");
    };
    while let Some(mut subgroup) = subgroups.next().await? {
        let group_id = subgroup.group_id;
        while let Some(mut object) = subgroup.next().await? {
            // As SubgroupObjectReader::read_all, counting the chunks.
            let mut chunks = Vec::new();
            while let Some(chunk) = object.read().await? {
                chunks.push(chunk);
            }
            let count = chunks.len() as u64;
            let payload = Bytes::from(chunks.concat());
            receiver.on_object(group_id, &payload, count);
        }
    }
    Ok(())
}

struct Published {
    _conn: Connection,
    subgroups: serve::SubgroupsWriter,
    _tracks: serve::TracksWriter,
}

async fn publish(args: &Args, ns: &TrackNamespace) -> anyhow::Result<Published> {
    let conn = connect(args).await?;
    let (mut tracks, _request, reader) = serve::Tracks::new(ns.clone()).produce();
    let track = tracks.create("data").context("create track")?;
    let subgroups = track.subgroups()?;
    let mut publisher = conn.publisher.clone();
    tokio::spawn(async move {
        let _ = publisher.publish_namespace(reader).await;
    });
    Ok(Published {
        _conn: conn,
        subgroups,
        _tracks: tracks,
    })
}

async fn warm_up(published: &mut Published, receivers: &[Arc<Receiver>]) -> anyhow::Result<()> {
    for _ in 0..40 {
        let mut group = published.subgroups.append(127)?;
        group.write(Bytes::from_static(b"warm"))?;
        group.finish()?;
        let mut all = true;
        for r in receivers {
            all &= r.wait(|s| s.warm > 0, Duration::from_millis(250)).await;
        }
        if all {
            return Ok(());
        }
    }
    bail!("warm-up: a subscriber received nothing in 10 s")
}

async fn write_objects(
    published: &mut Published,
    args: &Args,
    pace: Duration,
) -> anyhow::Result<()> {
    let start = tokio::time::Instant::now();
    let mut group: Option<serve::SubgroupWriter> = None;
    for seq in 0..args.count {
        if !pace.is_zero() {
            tokio::time::sleep_until(start + pace * seq as u32).await;
        }
        if seq % args.per_group == 0 {
            if let Some(g) = group.take() {
                g.finish()?;
            }
            group = Some(published.subgroups.append(127)?);
        }
        group
            .as_mut()
            .expect("a group is open")
            .write(payload(args.size, seq))?;
    }
    if let Some(g) = group {
        g.finish()?;
    }
    Ok(())
}

// ---------------------------------------------------------------- results

#[derive(Default)]
struct Report(Vec<(&'static str, f64)>);

impl Report {
    fn add(&mut self, name: &'static str, value: f64) {
        self.0.push((name, value));
    }
    fn print(&self, args: &Args) {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("\"{k}\":{}", format_g(*v)))
            .collect();
        println!(
            "RESULT {{\"impl\":\"rust\",\"scenario\":\"{}\",{}}}",
            args.scenario,
            fields.join(",")
        );
    }
}

fn format_g(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "0".into()
    }
}

fn percentile(values: &mut [i64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let index = ((p * values.len() as f64) as usize).min(values.len() - 1);
    values[index] as f64
}

async fn run_flow(args: &Args, subscribers: usize, latency: bool) -> anyhow::Result<bool> {
    let ns = unique_namespace(&args.scenario);
    let mut published = publish(args, &ns).await?;
    let mut receivers = Vec::new();
    let mut sessions = Vec::new();
    for _ in 0..subscribers {
        let receiver = Receiver::new(args.count, latency);
        sessions.push(subscribe(args, &ns, receiver.clone()).await?);
        receivers.push(receiver);
    }
    warm_up(&mut published, &receivers).await?;

    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let pace = if latency {
        Duration::from_nanos(1_000_000_000 / args.rate.max(1))
    } else {
        Duration::ZERO
    };
    write_objects(&mut published, args, pace).await?;
    let written = start.elapsed();
    for r in &receivers {
        let mut last = u64::MAX;
        while !r
            .wait(|s| s.received == args.count, Duration::from_secs(10))
            .await
        {
            let now = r.state.lock().unwrap().received;
            if now == last {
                break; // stalled
            }
            last = now;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;

    let (mut delivered, mut duplicates, mut reorders, mut chunks) = (0u64, 0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    for r in &receivers {
        let s = r.state.lock().unwrap();
        delivered += s.received;
        duplicates += s.duplicates;
        reorders += s.reorders;
        chunks += s.chunks;
        latencies.extend_from_slice(&s.latencies_ns);
    }
    let expected = args.count * subscribers as u64;
    let mut report = Report::default();
    report.add("objects", args.count as f64);
    report.add("size", args.size as f64);
    report.add("subscribers", subscribers as f64);
    report.add("seconds", seconds);
    report.add("write_seconds", written.as_secs_f64());
    report.add("objects_per_s", args.count as f64 / seconds);
    report.add("delivered_per_s", delivered as f64 / seconds);
    report.add("cpu_us_per_obj", cpu * 1e6 / (delivered.max(1) as f64));
    report.add("peak_rss_mib", peak_rss_mib());
    report.add(
        "chunks_per_obj",
        if delivered > 0 {
            chunks as f64 / delivered as f64
        } else {
            0.0
        },
    );
    report.add("lost", (expected - delivered) as f64);
    report.add("duplicates", duplicates as f64);
    report.add("reorders", reorders as f64);
    if latency {
        report.add("p50_us", percentile(&mut latencies, 0.50) / 1e3);
        report.add("p90_us", percentile(&mut latencies, 0.90) / 1e3);
        report.add("p99_us", percentile(&mut latencies, 0.99) / 1e3);
        report.add("p999_us", percentile(&mut latencies, 0.999) / 1e3);
    }
    report.print(args);
    Ok(delivered == expected && duplicates == 0)
}

/// Subscribes, retrying while the announcement has not reached the relay.
async fn subscribe_when_announced(
    subscriber: &mut Subscriber,
    ns: &TrackNamespace,
    name: &str,
) -> anyhow::Result<(serve::TrackReader, moq_transport::session::Subscribe)> {
    for _ in 0..200 {
        let (writer, reader) = serve::Track::new(ns.clone(), name).produce();
        let answer =
            tokio::time::timeout(Duration::from_secs(10), subscriber.subscribe_open(writer))
                .await
                .with_context(|| format!("subscribe {name}: no answer within 10 s"))?;
        match answer {
            Ok(subscribe) => return Ok((reader, subscribe)),
            Err(ServeError::NotFound | ServeError::NotFoundWithId(..)) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => bail!("subscribe {name}: {e}"),
        }
    }
    bail!("subscribe {name}: the track never appeared")
}

/// As bench.cpp: `count` tracks, `per_session` per publisher session (each
/// its own namespace) and per subscriber session, everything but the
/// subscriptions set up before the measurement starts.
async fn run_subscriptions(args: &Args) -> anyhow::Result<bool> {
    struct Chunk {
        ns: TrackNamespace,
        _publisher: Connection,
        _tracks: (serve::TracksWriter, Vec<serve::TrackWriter>),
        subscriber: Connection,
    }
    let mut chunks = Vec::new();
    for first in (0..args.count).step_by(args.per_session as usize) {
        let ns = unique_namespace(&args.scenario);
        let publisher = connect(args).await?;
        let (mut tracks, _request, reader) = serve::Tracks::new(ns.clone()).produce();
        let mut writers = Vec::new();
        for i in first..args.count.min(first + args.per_session) {
            writers.push(
                tracks
                    .create(format!("t{i}").as_str())
                    .context("create track")?,
            );
        }
        let mut announcing = publisher.publisher.clone();
        tokio::spawn(async move {
            let _ = announcing.publish_namespace(reader).await;
        });
        let subscriber = connect(args).await?;
        chunks.push(Chunk {
            ns,
            _publisher: publisher,
            _tracks: (tracks, writers),
            subscriber,
        });
    }
    // The C++ announce waits for the relay's OK: wait until every namespace
    // answers, probing from a session of its own.
    let probe = connect(args).await?;
    for chunk in &chunks {
        let first = chunk
            ._tracks
            .1
            .first()
            .map(|t| t.name.to_string())
            .context("a chunk without tracks")?;
        let _probe =
            subscribe_when_announced(&mut probe.subscriber.clone(), &chunk.ns, &first).await?;
    }

    let rss_before = rss_kib();
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let mut subscriptions = Vec::new();
    for i in 0..args.count {
        let chunk = &chunks[(i / args.per_session) as usize];
        let mut subscriber = chunk.subscriber.subscriber.clone();
        let (writer, reader) =
            serve::Track::new(chunk.ns.clone(), format!("t{i}").as_str()).produce();
        let subscribe =
            tokio::time::timeout(Duration::from_secs(10), subscriber.subscribe_open(writer))
                .await
                .with_context(|| format!("subscribe t{i}: no answer within 10 s"))?
                .with_context(|| format!("subscribe t{i}"))?;
        subscriptions.push((subscribe, reader));
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let rss_after = rss_kib();
    let n = args.count as f64;
    let mut report = Report::default();
    report.add("subscriptions", n);
    report.add("sessions", (chunks.len() * 2) as f64);
    report.add("setup_seconds", seconds);
    report.add("setup_us_per_sub", seconds * 1e6 / n);
    report.add("cpu_us_per_sub", cpu * 1e6 / n);
    report.add("rss_kib_per_sub", (rss_after - rss_before) / n);
    report.add("peak_rss_mib", peak_rss_mib());
    report.print(args);
    Ok(true)
}

async fn run_idle(args: &Args) -> anyhow::Result<bool> {
    let _conn = connect(args).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    let seconds = start.elapsed().as_secs_f64();
    let mut report = Report::default();
    report.add("idle_seconds", seconds);
    report.add(
        "idle_cpu_pct",
        (cpu_seconds() - cpu_before) * 100.0 / seconds,
    );
    report.add("rss_mib", rss_kib() / 1024.0);
    report.print(args);
    Ok(true)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse()?;
    let ok = match args.scenario.as_str() {
        "throughput" => run_flow(&args, 1, false).await?,
        "latency" => {
            let mut paced = args.clone();
            paced.count = (args.rate as f64 * args.seconds) as u64;
            run_flow(&paced, 1, true).await?
        }
        "fanout" => run_flow(&args, args.subscribers, false).await?,
        "subscriptions" => run_subscriptions(&args).await?,
        "idle" => run_idle(&args).await?,
        other => bail!("unknown scenario {other}"),
    };
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
