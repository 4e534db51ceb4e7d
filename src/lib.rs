//! Engine and cxx bridge of moq, the C++ library for IETF Media over QUIC
//! Transport (draft 18, through moq-transport 0.17).
//!
//! The modules other than `bridge` know nothing of C++: they are the engine,
//! usable and tested from Rust directly. `bridge` converts and dispatches.

mod bridge;
pub mod bytes;
mod delivery;
pub mod discovery;
pub mod dispatch;
mod engine_log;
pub mod error;
pub mod fetch;
pub mod history;
pub mod inbox;
pub mod log;
pub mod names;
pub mod object;
pub mod pending;
pub mod publish;
pub mod publish_track;
mod quic_adapter;
mod reorder;
pub mod runtime;
mod send_backlog;
pub mod session;
mod stream_guard;
pub mod subscribe;
pub mod tls;
mod tsan;

pub use error::{Code, Error, Result};
pub use inbox::{InboxStats, Overflow, ReceiveBudget};
pub use names::Namespace;
pub use publish::{Announcement, GroupWriter, TrackWriter};
pub use session::{
    validate_auth_tokens, AuthToken, Session, SessionConfig, SessionState, SessionStats,
    CAT_TOKEN_TYPE, MAX_AUTH_TOKENS, MAX_AUTH_TOKEN_BYTES,
};
pub use subscribe::{
    Filter, GroupOrder, ObjectHandler, ReceivedObject, SubscribeOptions, Subscription,
};
pub use tls::TlsOptions;

/// Locks `mutex`, also after a panic poisoned it: every panic is caught at
/// the boundary (no unwinding into C++), and the state behind these mutexes
/// stays usable for the handles that outlive it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
