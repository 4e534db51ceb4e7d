//! The library's log: a few messages the user must be able to see (TLS
//! verification disabled, a callback that threw). The C++ side installs the
//! sink; by default warnings and errors go to stderr.

use std::sync::RwLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

type Sink = Box<dyn Fn(Level, &str) + Send + Sync>;

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Replaces the log sink; `None` restores the default (stderr, warnings and up).
pub fn set_sink(sink: Option<Sink>) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
}

pub fn log(level: Level, message: &str) {
    let sink = SINK.read().unwrap_or_else(|e| e.into_inner());
    match sink.as_ref() {
        Some(sink) => sink(level, message),
        None if level >= Level::Warn => eprintln!("moq [{level:?}]: {message}"),
        None => {}
    }
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}
