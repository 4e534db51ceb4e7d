//! The engine's own diagnostics (moq-transport, quinn, rustls emit `tracing`
//! events) forwarded to the library's log, so a C++ user sees why a stream or
//! a request failed without a Rust logging setup. Only the library's threads
//! (the runtime's, and the caller's thread inside a blocking call) get this
//! dispatcher: a host that has its own `tracing` subscriber keeps it.
//!
//! Events below the log's minimum level (warn by default) are disabled at
//! their call sites, so the engine's many trace/debug events cost nothing.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};

use crate::log::{self, Level};

/// The dispatcher the library's threads use.
pub(crate) fn dispatch() -> &'static Dispatch {
    // Registered twice on purpose. With a single registered dispatcher,
    // tracing decides a call site's interest with the default of whichever
    // thread reaches it first; on a user thread that is "no subscriber", and
    // the call site would stay off for every thread until the level changes.
    // With two, it asks the registered ones (ours).
    static DISPATCH: OnceLock<(Dispatch, Dispatch)> = OnceLock::new();
    &DISPATCH
        .get_or_init(|| (Dispatch::new(Forward), Dispatch::new(Forward)))
        .0
}

thread_local! {
    static THREAD_DEFAULT: RefCell<Option<tracing::dispatcher::DefaultGuard>> =
        const { RefCell::new(None) };
}

/// Makes the engine's events on this (library) thread reach the log.
pub(crate) fn enter_thread() {
    let guard = tracing::dispatcher::set_default(dispatch());
    THREAD_DEFAULT.with(|slot| *slot.borrow_mut() = Some(guard));
}

/// Undoes [`enter_thread`] before the thread exits.
pub(crate) fn leave_thread() {
    let _ = THREAD_DEFAULT.try_with(|slot| slot.borrow_mut().take());
}

/// After the log's minimum level changed: call sites re-ask whether they
/// are enabled.
pub(crate) fn level_changed() {
    // With one dispatcher registered, tracing rebuilds with the calling
    // thread's default only: on a user thread that is "no subscriber", which
    // would switch every call site off.
    tracing::dispatcher::with_default(dispatch(), tracing::callsite::rebuild_interest_cache);
}

fn level_of(metadata: &Metadata<'_>) -> Level {
    // The engine's ServeError constructors log where in the engine's code an
    // error was made ("Not found at src/...") at warn: a note for the
    // engine's developers, not news to the user, who gets the error itself.
    if metadata.target().starts_with("moq_transport::serve::error") {
        return Level::Debug;
    }
    // One level down: the engine warns about what the library handles and
    // reports through its API (a stream it cancelled ended early, a peer
    // closed a stream), which at the user's warn level is only noise.
    match *metadata.level() {
        tracing::Level::ERROR => Level::Warn,
        tracing::Level::WARN => Level::Info,
        _ => Level::Debug,
    }
}

struct Forward;

impl Subscriber for Forward {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event() && log::enabled(level_of(metadata))
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match log::min_level() {
            // The engine's levels sit one above ours (level_of).
            Level::Debug => LevelFilter::TRACE,
            Level::Info => LevelFilter::WARN,
            Level::Warn | Level::Error => LevelFilter::ERROR,
        })
    }

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let level = level_of(metadata);
        if !log::enabled(level) {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        let source = metadata.target().split("::").next().unwrap_or("engine");
        log::log(level, &format!("{source}: {}{}", text.message, text.fields));
    }

    // Spans carry no information the log shows.
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// An event as one line: its message, then its other fields as ` key=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn engine_events_reach_the_log_at_or_above_its_level() {
        let seen: Arc<Mutex<Vec<(Level, String)>>> = Arc::default();
        let sink = seen.clone();
        log::set_sink(Some(Box::new(move |level, message| {
            sink.lock().unwrap().push((level, message.to_owned()));
        })));
        tracing::dispatcher::with_default(dispatch(), || {
            tracing::error!(target: "moq_transport::session", stream = 7, "failed to serve stream");
            tracing::warn!(target: "moq_transport::session", "not shown at the default level");
            tracing::error!(target: "moq_transport::serve::error", "Not found at src/x.rs:1");
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while seen.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        log::set_sink(None);
        // (Other tests of this binary may log meanwhile.)
        let seen: Vec<_> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, message)| message.starts_with("moq_transport"))
            .cloned()
            .collect();
        assert_eq!(
            seen,
            vec![(
                Level::Warn,
                "moq_transport: failed to serve stream stream=7".to_owned()
            )]
        );
    }
}
