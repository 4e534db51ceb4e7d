//! The library's log: a few messages the user must be able to see (TLS
//! verification disabled, a callback that threw, a subscription the library
//! could not serve). The C++ side installs the sink; by default warnings and
//! errors go to stderr.
//!
//! The sink is user code, so it runs like every callback: on a callback
//! thread (its own strand, messages in order), never on a thread that drives
//! QUIC and never under the library's locks. At most [`MAX_PENDING`]
//! messages wait for it; beyond that they are dropped and counted, and the
//! count is reported with the next message that gets through.
//!
//! Messages below the minimum level (warn by default) are not made at all,
//! the engine's included (see engine_log.rs).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::dispatch::Strand;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn from_u8(value: u8) -> Level {
        match value {
            0 => Level::Debug,
            1 => Level::Info,
            2 => Level::Warn,
            _ => Level::Error,
        }
    }
}

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);

/// Messages below `level` are dropped where they are made.
pub fn set_min_level(level: Level) {
    if MIN_LEVEL.swap(level as u8, Ordering::Relaxed) != level as u8 {
        crate::engine_log::level_changed();
    }
}

pub fn min_level() -> Level {
    Level::from_u8(MIN_LEVEL.load(Ordering::Relaxed))
}

/// Whether a message at `level` would be logged.
pub fn enabled(level: Level) -> bool {
    level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// What the user installs: called with each message, on the log's strand.
pub type LogSink = Box<dyn Fn(Level, &str) + Send + Sync>;

type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Messages waiting for the sink at most.
const MAX_PENDING: usize = 1024;

/// Messages dropped because the sink fell behind, not reported yet.
static DROPPED: AtomicU64 = AtomicU64::new(0);

fn strand() -> &'static Strand<()> {
    static STRAND: OnceLock<Strand<()>> = OnceLock::new();
    STRAND.get_or_init(|| Strand::new(()))
}

/// Replaces the log sink; `None` restores the default (stderr).
pub fn set_sink(sink: Option<LogSink>) {
    let sink: Option<Sink> = sink.map(Arc::from);
    let old = std::mem::replace(&mut *SINK.write().unwrap_or_else(|e| e.into_inner()), sink);
    // The old sink may be user code: dropped outside the lock.
    drop(old);
}

pub fn log(level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    let sink = SINK.read().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(sink) = sink else {
        eprintln!("moq [{level:?}]: {message}");
        return;
    };
    let strand = strand();
    if strand.pending() >= MAX_PENDING {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let message = message.to_owned();
    strand.post(move |()| {
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            sink(
                Level::Warn,
                &format!("{dropped} log messages were dropped: the log handler fell behind"),
            );
        }
        sink(level, &message);
    });
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}
