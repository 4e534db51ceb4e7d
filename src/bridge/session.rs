//! Sessions: connect (non-blocking; the blocking form waits in C++), state,
//! close, flush, stats, TRACK_STATUS, and the session's events (engine:
//! `crate::session`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cxx::{CxxString, CxxVector, UniquePtr};

use super::error::{guarded, guarded_status, live, ok, status_of, Status};
use super::named_across_bridges;
use super::names::namespace_of;
use super::pending::{self, PendingBox, PendingResult};
use crate::error::{Error, Result};
use crate::session::{AuthToken, ReconnectPolicy, Session, SessionConfig, SessionState, StateSink};
use crate::tls::TlsOptions;

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    struct ConnectOptions {
        url: String,
        root_cert_files: Vec<String>,
        server_cert_sha256: Vec<String>,
        disable_verify: bool,
        connect_timeout_ms: u64,
        request_timeout_ms: u64,
        bind: String,
        max_object_size: u64,
        max_group_bytes: u64,
        idle_timeout_ms: u64,
        /// 0: no keep-alives.
        keep_alive_interval_ms: u64,
        max_incoming_subgroups: u32,
        /// `moq::SessionConfig::auth_tokens`, sent in SETUP.
        auth_tokens: Vec<AuthTokenFfi>,
        /// `moq::ReconnectPolicy`.
        reconnect: ReconnectParams,
    }

    /// `moq::ReconnectPolicy`.
    struct ReconnectParams {
        enabled: bool,
        initial_delay_ms: u64,
        max_delay_ms: u64,
        max_attempts: u32,
    }

    /// `moq::SessionState`.
    enum SessionStateKind {
        Connected,
        Reconnecting,
        Closed,
    }

    /// `moq::AuthToken`: one AUTHORIZATION TOKEN (type, opaque value).
    struct AuthTokenFfi {
        token_type: u64,
        value: Vec<u8>,
    }

    /// `moq::SessionStats`.
    struct SessionCounters {
        rtt_us: u64,
        bytes_sent: u64,
        bytes_received: u64,
        packets_sent: u64,
        packets_received: u64,
        packets_lost: u64,
        bytes_lost: u64,
        objects_refused: u64,
        streams_stopped: u64,
        backlog_bytes: u64,
        reconnects: u64,
    }

    extern "C++" {
        include!("moq-ffi/src/bridge/error.rs.h");
        include!("moq-ffi/src/bridge/pending.rs.h");
        type Status = crate::bridge::error::ffi::Status;
        type PendingBox = crate::bridge::pending::PendingBox;
        type PendingResult = crate::bridge::pending::PendingResult;
    }

    extern "Rust" {
        type SessionBox;

        fn session_connect_async(
            options: &ConnectOptions,
            events: UniquePtr<SessionEvents>,
        ) -> Box<PendingBox>;
        fn pending_result_session(
            result: Box<PendingResult>,
            status: &mut Status,
        ) -> Box<SessionBox>;

        fn session_state(session: &SessionBox) -> SessionStateKind;
        fn session_close(session: &SessionBox, code: u64, reason: &[u8]) -> Status;
        fn session_stats(session: &SessionBox, status: &mut Status) -> SessionCounters;
        fn session_flush(session: &SessionBox, timeout_ms: u64) -> Status;
        fn session_track_status(
            session: &SessionBox,
            ns: &CxxVector<CxxString>,
            track: &[u8],
        ) -> Status;
    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        /// Receives a session's GOAWAY, changes of connection and terminal event.
        type SessionEvents;

        fn on_closed(self: &SessionEvents, status: &Status);
        fn on_goaway(self: &SessionEvents, new_uri: &str);
        fn on_state_change(self: &SessionEvents, state: SessionStateKind, status: &Status);
    }
}

use ffi::{SessionEvents, SessionStateKind};

pub struct SessionBox(Option<Session>);
named_across_bridges!(SessionBox, "moq::ffi::SessionBox");

// SAFETY: SessionEvents guards its state with a mutex: safe to move to and
// use from runtime threads.
unsafe impl Send for SessionEvents {}
unsafe impl Sync for SessionEvents {}

// C++ may use one handle from several threads at once.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Session>();
};

/// The session of a box that other bridges' entries were given.
pub fn live_session<'a>(session: &'a SessionBox, what: &str) -> Result<&'a Session> {
    live(&session.0, what)
}

fn session_config(options: &ffi::ConnectOptions) -> Result<SessionConfig> {
    let config = SessionConfig {
        tls: TlsOptions {
            root_cert_files: options.root_cert_files.iter().map(PathBuf::from).collect(),
            server_cert_sha256: options.server_cert_sha256.clone(),
            disable_verify: options.disable_verify,
        },
        connect_timeout: Duration::from_millis(options.connect_timeout_ms),
        request_timeout: Duration::from_millis(options.request_timeout_ms),
        bind: options.bind.clone(),
        max_object_size: usize::try_from(options.max_object_size).unwrap_or(usize::MAX),
        max_group_bytes: options.max_group_bytes,
        idle_timeout: Duration::from_millis(options.idle_timeout_ms),
        keep_alive_interval: Duration::from_millis(options.keep_alive_interval_ms),
        max_incoming_subgroups: options.max_incoming_subgroups,
        auth_tokens: options
            .auth_tokens
            .iter()
            .map(|t| AuthToken {
                token_type: t.token_type,
                value: t.value.clone(),
            })
            .collect(),
        reconnect: ReconnectPolicy {
            enabled: options.reconnect.enabled,
            initial_delay: Duration::from_millis(options.reconnect.initial_delay_ms),
            max_delay: Duration::from_millis(options.reconnect.max_delay_ms),
            max_attempts: options.reconnect.max_attempts,
        },
    };
    if config.connect_timeout.is_zero() || config.request_timeout.is_zero() {
        return Err(Error::invalid_argument(
            "connect_timeout and request_timeout must be positive",
        ));
    }
    Ok(config)
}

fn state_to_ffi(state: SessionState) -> SessionStateKind {
    match state {
        SessionState::Connected => SessionStateKind::Connected,
        SessionState::Reconnecting => SessionStateKind::Reconnecting,
        SessionState::Closed => SessionStateKind::Closed,
    }
}

/// Sends the session's GOAWAY and changes of connection to its C++ events
/// (the terminal event goes through the `StateSink` given at connect).
fn forward_events(session: &Session, events: Arc<UniquePtr<SessionEvents>>) {
    let goaway = events.clone();
    session.on_goaway(Box::new(move |uri: String| {
        if let Some(events) = goaway.as_ref().as_ref() {
            events.on_goaway(&uri);
        }
    }));
    session.on_state_change(Box::new(move |state, error| {
        let status = error.map_or_else(ok, |e| status_of::<()>(&Err(e)));
        if let Some(events) = events.as_ref().as_ref() {
            events.on_state_change(state_to_ffi(state), &status);
        }
    }));
}

fn session_connect_async(
    options: &ffi::ConnectOptions,
    events: UniquePtr<SessionEvents>,
) -> Box<PendingBox> {
    pending::start("Session::connect_async", || {
        let config = session_config(options)?;
        let events = Arc::new(events);
        let closed_events = events.clone();
        let on_closed: StateSink = Box::new(move |error: Option<Error>| {
            let status = error.map_or_else(ok, |e| status_of::<()>(&Err(e)));
            if let Some(events) = closed_events.as_ref().as_ref() {
                events.on_closed(&status);
            }
        });
        let request = Session::connect_request(&options.url, config, on_closed)?;
        Ok(async move {
            let session = request.await?;
            forward_events(&session, events);
            Ok(session)
        })
    })
}

#[allow(clippy::boxed_local)] // cxx hands an owned opaque Rust value over as a Box
fn pending_result_session(result: Box<PendingResult>, status: &mut Status) -> Box<SessionBox> {
    Box::new(SessionBox(pending::answer("connect", *result, status)))
}

fn session_state(session: &SessionBox) -> SessionStateKind {
    session
        .0
        .as_ref()
        .map_or(SessionStateKind::Closed, |s| state_to_ffi(s.state()))
}

fn session_close(session: &SessionBox, code: u64, reason: &[u8]) -> Status {
    guarded_status("Session::close", || {
        let session = live_session(session, "Session::close")?;
        let code = u32::try_from(code).map_err(|_| {
            Error::invalid_argument(format!("close code {code} does not fit in 32 bits"))
        })?;
        let reason = std::str::from_utf8(reason)
            .map_err(|_| Error::invalid_argument("close reason is not valid UTF-8"))?;
        if reason.len() > 1024 {
            return Err(Error::invalid_argument(
                "close reason is longer than 1024 bytes; shorten it",
            ));
        }
        session.close(code, reason)
    })
}

fn session_flush(session: &SessionBox, timeout_ms: u64) -> Status {
    guarded_status("Session::flush", || {
        live_session(session, "Session::flush")?.flush(Duration::from_millis(timeout_ms))
    })
}

fn session_stats(session: &SessionBox, status: &mut Status) -> ffi::SessionCounters {
    let result = guarded("Session::stats", || {
        Ok(live_session(session, "Session::stats")?.stats())
    });
    *status = status_of(&result);
    let stats = result.unwrap_or_default();
    ffi::SessionCounters {
        rtt_us: u64::try_from(stats.rtt.as_micros()).unwrap_or(u64::MAX),
        bytes_sent: stats.bytes_sent,
        bytes_received: stats.bytes_received,
        packets_sent: stats.packets_sent,
        packets_received: stats.packets_received,
        packets_lost: stats.packets_lost,
        bytes_lost: stats.bytes_lost,
        objects_refused: stats.objects_refused,
        streams_stopped: stats.streams_stopped,
        backlog_bytes: stats.backlog_bytes,
        reconnects: stats.reconnects,
    }
}

fn session_track_status(session: &SessionBox, ns: &CxxVector<CxxString>, track: &[u8]) -> Status {
    guarded_status("Session::track_status", || {
        live_session(session, "Session::track_status")?.track_status(&namespace_of(ns)?, track)
    })
}
