//! A client MoQT session: connect (WebTransport or raw QUIC), drive
//! `Session::run` for the session's whole life, close gracefully.

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use moq_transport::session::{self as engine, transport, Publisher, Subscriber, Transport};
use url::Url;
use web_transport_quinn::quinn;

use crate::dispatch::Strand;
use crate::error::{Code, Error, Result};
use crate::history::HistoryRegistry;
pub use crate::quic_adapter::GoawaySink;
use crate::quic_adapter::{GoawayNotice, QuicAdapter, ReadGate};
use crate::runtime::{bounded, runtime, wait_here};
use crate::send_backlog::SendTracker;
use crate::stream_guard::StreamPolicy;
use crate::tls::{self, TlsOptions};

/// Default largest object payload accepted by `GroupWriter::write`.
pub const DEFAULT_MAX_OBJECT_SIZE: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub tls: TlsOptions,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Local address to bind, e.g. "127.0.0.1:0". Empty: any address of the
    /// relay's address family.
    pub bind: String,
    pub max_object_size: usize,
    /// The most payload and extension bytes one received subgroup may carry
    /// in all: the engine keeps every object of a subgroup until the
    /// subgroup ends, so a peer that never ends a group would otherwise grow
    /// this process without limit. Beyond it the subgroup's stream is
    /// stopped (the objects before are delivered) and the refusal counted.
    pub max_group_bytes: u64,
    /// A session whose peer has sent nothing for this long is closed
    /// (QUIC idle timeout; the peer's, if shorter, wins). It also bounds how
    /// long the handshake waits on silence.
    pub idle_timeout: Duration,
    /// How often to send a keep-alive when there is nothing else to send,
    /// so a quiet session does not time out; zero sends none. Must be below
    /// `idle_timeout`.
    pub keep_alive_interval: Duration,
    /// Subgroup streams the peer may have open towards this session at once
    /// (QUIC's limit on incoming unidirectional streams). quinn keeps
    /// receive state for each for the session's life, so this bounds a
    /// long-lived session's memory; a peer with more groups in flight waits
    /// for one to end. 1 to [`MAX_INCOMING_SUBGROUPS`].
    pub max_incoming_subgroups: u32,
    /// Authorization tokens presented in the client SETUP (draft 18
    /// §10.3.1.4), each as its own AUTHORIZATION TOKEN option with alias type
    /// USE_VALUE. Checked by [`validate_auth_tokens`] before connecting.
    pub auth_tokens: Vec<AuthToken>,
    /// What to do when the connection is lost after `connect` succeeded.
    pub reconnect: ReconnectPolicy,
}

/// Reconnecting after a lost connection (off by default: the session then
/// ends with the connection). On, the session keeps its identity: it
/// connects again to the same URL with the same configuration, waiting
/// `initial_delay` before the first attempt and doubling the wait after each
/// failed one up to `max_delay` (each wait drawn between half and all of it,
/// so many clients do not come back in step), and restores what it had
/// (announcements, subscriptions) on the new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    pub enabled: bool,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// Failed attempts in a row after which the session ends with the last
    /// attempt's error; 0: never give up.
    pub max_attempts: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_attempts: 0,
        }
    }
}

impl ReconnectPolicy {
    fn validate(&self) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        if self.initial_delay.is_zero() || self.initial_delay > self.max_delay {
            return Err(Error::invalid_argument(format!(
                "ReconnectPolicy: initial_delay ({} ms) must be above 0 and at most max_delay                  ({} ms)",
                self.initial_delay.as_millis(),
                self.max_delay.as_millis()
            )));
        }
        if self.max_delay > MAX_IDLE_TIMEOUT {
            return Err(Error::invalid_argument(
                "ReconnectPolicy::max_delay must be at most a day",
            ));
        }
        Ok(())
    }

    /// The wait before attempt `attempt` (0-based): the doubled delay,
    /// capped, then drawn between half and all of it.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let doubled = self
            .initial_delay
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
        let capped = doubled.min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(jitter())
    }
}

/// A number in [0, 1), different in every call and every process.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// One AUTHORIZATION TOKEN for SETUP: a token type from the IANA "MOQT Auth
/// Token Type" registry (0x1 = Common Access Token, what moq-relay-ietf
/// verifies) and the opaque token value.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken {
    pub token_type: u64,
    pub value: Vec<u8>,
}

impl std::fmt::Debug for AuthToken {
    // The value is a bearer credential: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthToken")
            .field("token_type", &self.token_type)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .finish()
    }
}

/// Token type of a Common Access Token (draft-ietf-moq-c4m §7.1).
pub const CAT_TOKEN_TYPE: u64 = moq_transport::setup::CAT_TOKEN_TYPE;

/// Most tokens one SETUP may carry: moq-transport receivers (and so
/// moq-relay-ietf) close a session that presents more.
pub const MAX_AUTH_TOKENS: usize = moq_transport::setup::MAX_SETUP_TOKENS;

/// Most bytes all token values together may take: the SETUP message and each
/// of its options are limited to 65535 bytes on the wire, and SETUP carries
/// other options too.
pub const MAX_AUTH_TOKEN_BYTES: usize = 60_000;

/// Checks tokens before anything is sent: count, non-empty values, no exact
/// duplicates (§10.2.2 forbids repeating a (type, value) pair), and a total
/// size that fits the SETUP message.
pub fn validate_auth_tokens(tokens: &[AuthToken]) -> Result<()> {
    if tokens.len() > MAX_AUTH_TOKENS {
        return Err(Error::invalid_argument(format!(
            "{} authorization tokens given; at most {MAX_AUTH_TOKENS} fit in one SETUP \
             (relays refuse more): present only the tokens this relay needs",
            tokens.len()
        )));
    }
    let mut total = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        if token.value.is_empty() {
            return Err(Error::invalid_argument(format!(
                "authorization token {i} (type {:#x}) has an empty value: give the token's \
                 bytes, or leave it out",
                token.token_type
            )));
        }
        if tokens[..i].contains(token) {
            return Err(Error::invalid_argument(format!(
                "authorization token {i} (type {:#x}) repeats an earlier token: each (type, \
                 value) pair may appear only once",
                token.token_type
            )));
        }
        total = total.saturating_add(token.value.len());
    }
    if total > MAX_AUTH_TOKEN_BYTES {
        return Err(Error::invalid_argument(format!(
            "authorization tokens take {total} bytes; at most {MAX_AUTH_TOKEN_BYTES} fit in the \
             SETUP message"
        )));
    }
    Ok(())
}

/// MoQT session error code UNAUTHORIZED (draft 18 §15.10.1).
const UNAUTHORIZED: u32 = 0x2;

/// The message for a session the peer closed with UNAUTHORIZED.
fn unauthorized_message(target: &str, reason: &str, with_tokens: bool) -> String {
    let hint = if with_tokens {
        "the relay did not accept the authorization tokens in SessionConfig::auth_tokens \
         (expired, wrong audience or scope, or not signed by a key it trusts)"
    } else {
        "the relay requires an authorization token: set SessionConfig::auth_tokens"
    };
    format!("{target} refused the session as unauthorized ({reason}): {hint}")
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            bind: String::new(),
            max_object_size: DEFAULT_MAX_OBJECT_SIZE,
            max_group_bytes: crate::publish::DEFAULT_MAX_GROUP_BYTES,
            idle_timeout: Duration::from_secs(10),
            keep_alive_interval: Duration::from_secs(4),
            max_incoming_subgroups: DEFAULT_MAX_INCOMING_SUBGROUPS,
            auth_tokens: Vec::new(),
            reconnect: ReconnectPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Connected,
    /// The connection was lost and the reconnect policy is trying again.
    Reconnecting,
    Closed,
}

/// Receives the session's one terminal event: `Closed` with `None` after a
/// local close, or with the error that ended it.
pub type StateSink = Box<dyn FnOnce(Option<Error>) + Send>;

/// Receives the session's changes of connection under a reconnect policy:
/// `Reconnecting` with the error that lost the connection, then `Connected`
/// once a new connection is up (its state restored by each handle as it
/// gets to it). The terminal event goes to the [`StateSink`] only.
pub type StateChangeSink = Box<dyn FnMut(SessionState, Option<Error>) + Send>;

/// One connection of a session: what a reconnect replaces. Handles take the
/// current one for each request, and the ones that last (announcements,
/// subscriptions) follow the session from one link to the next.
pub(crate) struct Link {
    /// 0 for the first connection, then one more for each reconnect.
    pub(crate) number: u64,
    pub(crate) transport: transport::Session,
    connection: quinn::Connection,
    pub(crate) publisher: Publisher,
    pub(crate) subscriber: Subscriber,
    /// Largest QUIC datagram the connection can send.
    pub(crate) max_datagram_size: usize,
    /// Becomes true when this connection has ended.
    ended: tokio::sync::watch::Sender<bool>,
}

impl Link {
    /// Completes once this connection has ended.
    pub(crate) async fn lost(&self) {
        let mut ended = self.ended.subscribe();
        let _ = ended.wait_for(|ended| *ended).await;
    }

    /// Whether the connection under this link is gone (so an error a handle
    /// saw on it means "connection lost", not "refused by the peer").
    pub(crate) fn is_lost(&self) -> bool {
        *self.ended.borrow() || self.connection.close_reason().is_some()
    }
}

/// State shared by the session and every handle made from it, so a handle can
/// refuse work once the session is gone.
pub(crate) struct Shared {
    /// The current connection; `None` while reconnecting (and after the end).
    link: tokio::sync::watch::Sender<Option<Arc<Link>>>,
    /// The session's strand: its GOAWAY, state changes and terminal event
    /// run there, in order, on a callback thread (dispatch.rs).
    events: Strand<()>,
    /// The peer's GOAWAY, to release its sink at the terminal event.
    goaway: Arc<GoawayNotice>,
    /// Holds back the session's incoming data streams (Overflow::Pause).
    pub(crate) read_gate: Arc<ReadGate>,
    /// Stops incoming data streams that carry too much, or that nobody wants
    /// any more (stream_guard.rs).
    pub(crate) stream_policy: Arc<StreamPolicy>,
    /// What each subscriber this session serves was not sent yet
    /// (send_backlog.rs).
    pub(crate) sending: Arc<SendTracker>,
    closed: AtomicBool,
    /// Becomes true with `closed`, for tasks that must end with the session.
    ended: tokio::sync::watch::Sender<bool>,
    terminal: Mutex<Option<StateSink>>,
    state_changes: Mutex<Option<StateChangeSink>>,
    pub(crate) reconnect: ReconnectPolicy,
    /// Connections made after the first.
    reconnects: AtomicU64,
    pub(crate) request_timeout: Duration,
    pub(crate) max_object_size: usize,
    /// Tracks that retain history, for answering FETCH.
    pub(crate) histories: HistoryRegistry,
    /// Whether a PublishListener (Session::on_publish) is alive: one at a time.
    pub(crate) publish_listener: AtomicBool,
}

impl Shared {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Completes once the session has ended (at once if it has).
    pub(crate) async fn ended(&self) {
        let mut ended = self.ended.subscribe();
        let _ = ended.wait_for(|ended| *ended).await;
    }

    pub(crate) fn check_open(&self, what: &str) -> Result<()> {
        if self.is_closed() {
            Err(Error::closed(format!(
                "{what}: the session is closed; connect a new session"
            )))
        } else {
            Ok(())
        }
    }

    /// Whether a handle whose work on `link` just ended should follow the
    /// session to its next connection: the reconnect policy is on, the
    /// session goes on, and the end came from losing `link` (not from the
    /// peer refusing or ending that work). The connection's loss may be
    /// noticed a moment after the work's end it caused, so this waits
    /// briefly for it.
    pub(crate) async fn follows_reconnect(&self, link: &Link) -> bool {
        if !self.reconnect.enabled || self.is_closed() {
            return false;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), link.lost()).await;
        link.is_lost() && !self.is_closed()
    }

    /// Ends the session with `last` if `failures` failed attempts in a row
    /// reach the reconnect policy's limit.
    fn gives_up(self: &Arc<Self>, failures: u32, last: &Error) -> bool {
        let max = self.reconnect.max_attempts;
        if max == 0 || failures < max {
            return false;
        }
        self.end(Some(Error::new(
            last.code,
            format!(
                "reconnecting gave up after {failures} attempt(s); the last one failed: {}",
                last.message
            ),
        )));
        true
    }

    /// Makes a handle's request again on the session's next connection after
    /// `lost` (announce, subscribe, watch), each try bounded by `timeout`;
    /// while the peer refuses, logs it at `level` and tries again as the
    /// reconnect policy waits (at once on a newer connection if this one is
    /// lost too). `None` once the session has ended.
    pub(crate) async fn again_on_next_link<T, F, Fut>(
        &self,
        lost: u64,
        what: &str,
        level: crate::log::Level,
        timeout: Duration,
        mut request: F,
    ) -> Option<(Arc<Link>, T)>
    where
        F: FnMut(Arc<Link>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            let link = self.next_link(Some(lost)).await?;
            match bounded(what, timeout, request(link.clone())).await {
                Ok(answer) => return Some((link, answer)),
                Err(err) => {
                    crate::log::log(
                        level,
                        &format!(
                            "{what} after a reconnect failed ({}); trying again",
                            err.message
                        ),
                    );
                    if !link.is_lost() {
                        tokio::select! {
                            () = tokio::time::sleep(self.reconnect.delay(attempt)) => {}
                            () = self.ended() => return None,
                        }
                        attempt = attempt.saturating_add(1);
                    }
                }
            }
        }
    }

    /// Largest QUIC datagram the current connection can send (0: none, or
    /// no connection now).
    pub(crate) fn max_datagram_size(&self) -> usize {
        self.current_link().map_or(0, |link| link.max_datagram_size)
    }

    /// The current connection, if the session has one now.
    pub(crate) fn current_link(&self) -> Option<Arc<Link>> {
        self.link.borrow().clone()
    }

    /// The connection to make a request on: the current one, or, while the
    /// session reconnects, the next one (the caller bounds the wait).
    /// `Closed` once the session has ended.
    pub(crate) async fn link(&self, what: &str) -> Result<Arc<Link>> {
        self.next_link(None)
            .await
            .ok_or_else(|| Error::closed(format!("{what}: the session is closed")))
    }

    /// Waits for a connection other than `after` (any, if `None`) that is
    /// not lost; `None` once the session has ended.
    pub(crate) async fn next_link(&self, after: Option<u64>) -> Option<Arc<Link>> {
        let mut links = self.link.subscribe();
        let mut ended = self.ended.subscribe();
        loop {
            if self.is_closed() {
                return None;
            }
            let usable = links
                .borrow_and_update()
                .clone()
                .filter(|link| Some(link.number) != after && !link.is_lost());
            if usable.is_some() {
                return usable;
            }
            tokio::select! {
                changed = links.changed() => if changed.is_err() { return None },
                _ = ended.wait_for(|ended| *ended) => return None,
            }
        }
    }

    /// Closes the session gracefully: the peer sees `code` and `reason`, and
    /// the terminal event reports no error. Never blocks.
    pub(crate) fn close(self: &Arc<Self>, what: &str, code: u32, reason: &str) -> Result<()> {
        self.check_open(what)?;
        // Claim the terminal event before closing, so the run task's
        // "connection closed" cannot win the race and report an error the user
        // caused. It is delivered on a library thread, like every callback.
        self.end(None);
        // Closing a WebTransport session spawns the CLOSE capsule write, so it
        // runs on the runtime: this call may come from any thread, even from a
        // static destructor at exit, when no runtime context can be entered.
        // While reconnecting there is no connection to close.
        if let Some(link) = self.link.send_replace(None) {
            let reason = reason.to_owned();
            runtime().spawn(async move { link.transport.close(code, &reason) });
        }
        Ok(())
    }

    /// Marks the session closed and delivers the terminal event with
    /// `error` (`None`: a local close), once: the first caller's. It runs on
    /// the session's strand after a GOAWAY or state change reported before
    /// it; none is reported after it, and every sink is released then.
    fn end(self: &Arc<Self>, error: Option<Error>) {
        self.closed.store(true, Ordering::Release);
        self.ended.send_replace(true);
        let sink = self
            .terminal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(sink) = sink {
            let shared = self.clone();
            self.events.post_final(move |()| {
                // After every state change reported before (same strand):
                // none is reported any more, so the sink goes.
                let changes = shared
                    .state_changes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                drop(changes);
                sink(error)
            });
            self.goaway.clear();
        }
    }

    /// Reports a change of connection to the state-change sink, on the
    /// session's strand.
    fn report(self: &Arc<Self>, state: SessionState, error: Option<Error>) {
        let shared = self.clone();
        self.events.post(move |()| {
            // Taken out while it runs, so no library lock is held then.
            let sink = shared
                .state_changes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(mut sink) = sink {
                sink(state, error);
                let mut slot = shared
                    .state_changes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                // Put back unless replaced meanwhile, or the session ended.
                if slot.is_none() && !shared.is_closed() {
                    *slot = Some(sink);
                }
            }
        });
    }
}

/// Connection counters from QUIC (this session's connection only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    pub bytes_lost: u64,
    /// Incoming objects refused for their size or extension block.
    pub objects_refused: u64,
    /// Incoming data streams this side stopped: refused objects, and groups
    /// the subscriber dropped to stay within its budget.
    pub streams_stopped: u64,
    /// Payload bytes written for the subscribers this session serves and
    /// not yet handed to QUIC.
    pub backlog_bytes: u64,
    /// Connections made by the reconnect policy after the first.
    pub reconnects: u64,
}

/// A client session. Under a reconnect policy it outlives its connections
/// (see [`Link`]); else it ends with its one connection.
pub struct Session {
    pub(crate) shared: Arc<Shared>,
}

/// What connecting again needs: the first connect's checked input.
struct Dial {
    url: Url,
    bind: Option<SocketAddr>,
    config: SessionConfig,
}

impl Dial {
    fn with_tokens(&self) -> bool {
        !self.config.auth_tokens.is_empty()
    }

    /// One attempt, bounded by the connect timeout.
    async fn connect(&self, shared: &Shared) -> Result<Connected> {
        let target = self.url.to_string();
        let timeout = self.config.connect_timeout;
        let transport = transport_config(&self.config, &self.url)?;
        bounded("Session::connect", timeout, async {
            connect(
                &self.url,
                self.bind,
                &self.config.tls,
                &self.config.auth_tokens,
                transport,
                Gear {
                    goaway: shared.goaway.clone(),
                    read_gate: shared.read_gate.clone(),
                    policy: shared.stream_policy.clone(),
                    sending: shared.sending.clone(),
                },
                timeout,
            )
            .await
        })
        .await
        .map_err(|e| match e.code {
            Code::Timeout => Error::new(
                Code::Timeout,
                format!(
                    "connecting to {target} got no answer within {} ms: is a relay listening \
                     there, and is the address reachable?",
                    timeout.as_millis()
                ),
            ),
            _ => e,
        })
    }
}

impl Session {
    /// Connects and completes the MoQT SETUP exchange. Blocks, bounded by
    /// `config.connect_timeout`.
    pub fn connect(url: &str, config: SessionConfig, on_closed: StateSink) -> Result<Session> {
        wait_here(
            "Session::connect",
            Self::connect_request(url, config, on_closed)?,
        )
    }

    /// The request behind [`Session::connect`], for its non-blocking form
    /// ([`crate::pending::Pending`]): the input is checked now, the returned
    /// future connects (bounded by `config.connect_timeout`) and starts the
    /// session. The reconnect policy applies once this first connect has
    /// succeeded.
    pub fn connect_request(
        url: &str,
        config: SessionConfig,
        on_closed: StateSink,
    ) -> Result<impl Future<Output = Result<Session>> + Send + 'static> {
        let url = parse_url(url)?;
        let bind = parse_bind(&config.bind)?;
        validate_auth_tokens(&config.auth_tokens)?;
        transport_config(&config, &url)?;
        config.reconnect.validate()?;
        if config.max_group_bytes == 0 {
            return Err(Error::invalid_argument(
                "SessionConfig::max_group_bytes must be positive (the most one received \
                 subgroup may carry)",
            ));
        }
        let shared = Arc::new(Shared {
            link: tokio::sync::watch::Sender::new(None),
            events: Strand::new(()),
            goaway: Arc::new(GoawayNotice::default()),
            read_gate: Arc::new(ReadGate::default()),
            stream_policy: Arc::new(StreamPolicy::new(
                config.max_object_size as u64,
                config.max_group_bytes,
            )),
            sending: SendTracker::new(),
            closed: AtomicBool::new(false),
            ended: tokio::sync::watch::Sender::new(false),
            terminal: Mutex::new(Some(on_closed)),
            state_changes: Mutex::new(None),
            reconnect: config.reconnect,
            reconnects: AtomicU64::new(0),
            request_timeout: config.request_timeout,
            max_object_size: config.max_object_size,
            histories: HistoryRegistry::new(),
            publish_listener: AtomicBool::new(false),
        });
        let dial = Dial { url, bind, config };
        Ok(async move {
            let connected = dial.connect(&shared).await?;
            let run = start_link(&shared, connected, 0, dial.with_tokens());
            runtime().spawn(supervise(shared.clone(), dial, run));
            register_open(&shared);
            Ok(Session { shared })
        })
    }

    pub fn state(&self) -> SessionState {
        if self.shared.is_closed() {
            SessionState::Closed
        } else if self
            .shared
            .current_link()
            .is_some_and(|link| !link.is_lost())
        {
            SessionState::Connected
        } else {
            SessionState::Reconnecting
        }
    }

    /// QUIC statistics of the session's current connection (zero while it
    /// reconnects). Cheap; never blocks.
    pub fn stats(&self) -> SessionStats {
        let mut stats = SessionStats {
            objects_refused: self.shared.stream_policy.objects_refused(),
            streams_stopped: self.shared.stream_policy.streams_stopped(),
            backlog_bytes: self.shared.sending.backlog(),
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
            ..SessionStats::default()
        };
        if let Some(link) = self.shared.current_link() {
            let quic = link.connection.stats();
            stats.rtt = link.connection.rtt();
            stats.bytes_sent = quic.udp_tx.bytes;
            stats.bytes_received = quic.udp_rx.bytes;
            stats.packets_sent = quic.udp_tx.datagrams;
            stats.packets_received = quic.udp_rx.datagrams;
            stats.packets_lost = quic.path.lost_packets;
            stats.bytes_lost = quic.path.lost_bytes;
        }
        stats
    }

    /// Registers the sink for changes of connection under the reconnect
    /// policy (see [`StateChangeSink`]); it runs on the session's strand and
    /// is released at the terminal event. A later call replaces it.
    pub fn on_state_change(&self, sink: StateChangeSink) {
        let old = {
            let mut slot = self
                .shared
                .state_changes
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if self.shared.is_closed() {
                return;
            }
            slot.replace(sink)
        };
        drop(old); // outside the lock: it may own anything
    }

    /// Waits until every subscriber this session serves was sent all the
    /// payload written for it and the peer acknowledged every finished
    /// subgroup, or `timeout` passes (`Timeout`). Blocks (`WouldBlock` on a
    /// library thread).
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.shared.check_open("Session::flush")?;
        self.shared.sending.flush(timeout, "Session::flush")
    }

    /// Registers the sink for the peer's GOAWAY (draft 18 §9.4): the peer
    /// asks this client to move to the new session URI it names ("" = the
    /// same URL) and will close this session. The sink runs at most once, on
    /// the session's strand (a callback thread; if the GOAWAY already came,
    /// as soon as it is registered), never after the session's terminal
    /// event, and it is released at that event. The session keeps working
    /// until the peer closes it. A later call replaces the sink.
    pub fn on_goaway(&self, sink: GoawaySink) {
        if self.shared.is_closed() {
            return;
        }
        let events = self.shared.events.clone();
        self.shared.goaway.listen(Box::new(move |uri| {
            events.post(move |()| sink(uri));
        }));
    }

    /// TRACK_STATUS is not available: moq-transport 0.17 sends the request
    /// but never delivers the reply, so this reports `Unsupported` instead of
    /// waiting for an answer that cannot come.
    pub fn track_status(&self, namespace: &crate::names::Namespace, track: &[u8]) -> Result<()> {
        self.shared.check_open("Session::track_status")?;
        let name = crate::names::track_name(namespace, track)?;
        Err(Error::new(
            Code::Unsupported,
            format!(
                "TRACK_STATUS for \"{namespace}/{name}\" is not supported: the engine \
                 (moq-transport 0.17) never delivers TRACK_STATUS replies. Subscribe with the \
                 latest_object filter to learn the largest location instead"
            ),
        ))
    }

    /// Closes the session: the peer sees a graceful close with `code` and
    /// `reason`. The terminal event fires with no error. Never blocks.
    pub fn close(&self, code: u32, reason: &str) -> Result<()> {
        self.shared.close("Session::close", code, reason)
    }
}

/// Drops the requests the engine queued for the application that nobody
/// took. Each holds the engine's Publisher, which holds the queues: left
/// there at the end of the session, they would keep each other alive.
fn drop_queued_requests(publisher: &mut Publisher) {
    while let Some(Some(_)) = publisher.subscribed().now_or_never() {}
    while let Some(Some(_)) = publisher.fetch_requested().now_or_never() {}
    while let Some(Some(_)) = publisher.track_status_requested().now_or_never() {}
    while let Some(Some(_)) = publisher.subscribed_namespace().now_or_never() {}
    while let Some(Some(_)) = publisher.subscribed_tracks().now_or_never() {}
}

/// Every session not yet closed, for [`shutdown`].
static OPEN_SESSIONS: Mutex<Vec<std::sync::Weak<Shared>>> = Mutex::new(Vec::new());

fn register_open(shared: &Arc<Shared>) {
    let mut open = OPEN_SESSIONS.lock().unwrap_or_else(|e| e.into_inner());
    open.retain(|s| s.upgrade().is_some_and(|s| !s.is_closed()));
    open.push(Arc::downgrade(shared));
}

/// Ends the library's work before the process exits: closes every session
/// still open (the peer sees a graceful close), then waits, up to `timeout`,
/// until every task has finished, so the CLOSE of each session, also of those
/// closed or destroyed just before, has left. Returns `Timeout` if work
/// remains (it goes on in the background). The library stays usable.
pub fn shutdown(timeout: Duration) -> Result<()> {
    let open: Vec<Arc<Shared>> = OPEN_SESSIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .filter_map(|s| s.upgrade())
        .collect();
    for shared in open {
        let _ = shared.close("shutdown", 0, "shutting down");
    }
    let deadline = std::time::Instant::now() + timeout;
    let metrics = runtime().metrics();
    loop {
        let alive = metrics.num_alive_tasks();
        if alive == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::new(
                Code::Timeout,
                format!(
                    "shutdown: {alive} task(s) of the library still running after {} ms (a \
                     session still closing, or a handle still alive)",
                    timeout.as_millis()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // No callback of the session after this (see Strand::close): its
        // terminal event is not reported to the owner who destroyed it.
        self.shared.events.close();
        self.shared.goaway.clear();
        if !self.shared.is_closed() {
            let _ = self.close(0, "session handle destroyed");
        }
    }
}

struct Connected {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    transport: transport::Session,
    session: engine::Session,
    publisher: Publisher,
    subscriber: Subscriber,
    /// The WebTransport session, to read the peer's close code.
    wt: web_transport_quinn::Session,
}

/// What every connection of a session shares with the session: its data
/// streams are watched by the same GOAWAY notice, read gate, stream policy
/// and send tracker, whichever connection carries them.
struct Gear {
    goaway: Arc<GoawayNotice>,
    read_gate: Arc<ReadGate>,
    policy: Arc<StreamPolicy>,
    sending: Arc<SendTracker>,
}

/// The life of one connection: completes with the error that ended it.
type LinkRun = std::pin::Pin<Box<dyn Future<Output = Error> + Send>>;

/// Makes `connected` the session's current connection: answers FETCH and
/// unannounced SUBSCRIBEs on it, and returns its life to wait on. If the
/// session was closed meanwhile, the connection is closed at once.
fn start_link(
    shared: &Arc<Shared>,
    connected: Connected,
    number: u64,
    with_tokens: bool,
) -> LinkRun {
    let Connected {
        endpoint,
        connection,
        transport,
        session,
        publisher,
        subscriber,
        wt,
    } = connected;
    let link = Arc::new(Link {
        number,
        max_datagram_size: transport.max_datagram_size(),
        transport: transport.clone(),
        connection,
        publisher: publisher.clone(),
        subscriber,
        ended: tokio::sync::watch::Sender::new(false),
    });
    // Answer FETCH from tracks with history; started before any announce,
    // or early FETCHes would be refused as unsupported. It holds a
    // Publisher, whose FETCH queue never closes on its own: the run task
    // stops it when the connection ends, which releases the connection.
    let fetches = runtime()
        .spawn(crate::history::serve_fetches(
            publisher.clone(),
            shared.histories.clone(),
        ))
        .abort_handle();
    // SUBSCRIBEs for namespaces this session does not announce.
    let unannounced = runtime()
        .spawn(crate::publish::refuse_unannounced(publisher.clone()))
        .abort_handle();
    shared.link.send_replace(Some(link.clone()));
    if shared.is_closed() {
        // Closed while this connection was being made: close() found none.
        shared.link.send_replace(None);
        transport.close(0, "session closed");
    }
    let target = wt.request().url.to_string();
    let mut queued = publisher;
    Box::pin(async move {
        let result = AssertUnwindSafe(session.run()).catch_unwind().await;
        link.ended.send_replace(true);
        fetches.abort();
        unannounced.abort();
        drop_queued_requests(&mut queued);
        drop(queued);
        // The endpoint's last handle: once it goes, quinn's endpoint task
        // ends as soon as the connection has drained (after sending the
        // CLOSE), whether or not the user still holds the Session.
        drop(endpoint);
        match result {
            Ok(Ok(())) => Error::closed("the session ended"),
            Ok(Err(err)) => match peer_close(&wt).await {
                Some((UNAUTHORIZED, reason)) => Error::new(
                    Code::ConnectFailed,
                    unauthorized_message(&target, &reason, with_tokens),
                ),
                _ => session_end_error(&err, &link.transport).await,
            },
            Err(_) => {
                link.transport.close(0, "internal error");
                Error::new(
                    Code::Internal,
                    "internal error in the session task (a panic); please report this bug",
                )
            }
        }
    })
}

/// Moves the session to the URI a GOAWAY named (`""`: the same URL):
/// connects there first, makes the new connection the current one, then
/// closes the old one, whose announcements and subscriptions follow to the
/// new one as after a lost connection. Later reconnects go to the new URI
/// too. `None` (staying on the old connection until the peer closes it) if
/// the new connection cannot be made.
async fn migrate(shared: &Arc<Shared>, dial: &mut Dial, uri: &str, number: u64) -> Option<LinkRun> {
    shared.goaway.taken();
    if !uri.is_empty() {
        match parse_url(uri) {
            Ok(url) => dial.url = url,
            Err(err) => crate::log::warn(&format!(
                "the peer's GOAWAY names \"{uri}\", which is not a URL to connect to ({}); \
                 moving to {} again instead",
                err.message, dial.url
            )),
        }
    }
    let connected = tokio::select! {
        connected = dial.connect(shared) => connected,
        () = shared.ended() => return None,
    };
    let connected = match connected {
        Ok(connected) => connected,
        Err(err) => {
            crate::log::warn(&format!(
                "moving to {} after the peer's GOAWAY failed ({}); staying until the peer \
                 closes, then reconnecting there",
                dial.url, err.message
            ));
            return None;
        }
    };
    let old = shared.current_link();
    shared.goaway.new_connection();
    let run = start_link(shared, connected, number, dial.with_tokens());
    shared.reconnects.fetch_add(1, Ordering::Relaxed);
    if let Some(old) = old {
        old.ended.send_replace(true);
        old.transport
            .close(0, "moved to a new session after GOAWAY");
    }
    crate::log::log(
        crate::log::Level::Info,
        &format!("moved to {} after the peer's GOAWAY", dial.url),
    );
    Some(run)
}

/// Drives the session's connections: waits for each to end, then ends the
/// session, or, under a reconnect policy, reports `Reconnecting`, connects
/// again (waiting as the policy says) and reports `Connected`.
async fn supervise(shared: Arc<Shared>, mut dial: Dial, mut run: LinkRun) {
    let mut number = 0;
    // Failed attempts in a row. A connection the peer refuses right after
    // SETUP (a relay that no longer accepts the tokens) counts as one: the
    // policy's limit holds however the refusal comes.
    let mut failures = 0u32;
    loop {
        // Under a reconnect policy, a GOAWAY moves the session before the
        // peer closes the connection.
        let goaway = async {
            if shared.reconnect.enabled {
                shared.goaway.next().await
            } else {
                std::future::pending().await
            }
        };
        let error = tokio::select! {
            error = run.as_mut() => error,
            uri = goaway => {
                if let Some(moved) = migrate(&shared, &mut dial, &uri, number + 1).await {
                    number += 1;
                    // The old connection is closing: let it end on its own.
                    runtime().spawn(std::mem::replace(&mut run, moved));
                }
                continue;
            }
        };
        shared.link.send_replace(None);
        if shared.is_closed() {
            return; // closed here: the terminal event is reported already
        }
        if !shared.reconnect.enabled || error.code == Code::Internal {
            shared.end(Some(error));
            return;
        }
        if error.code == Code::ConnectFailed {
            failures += 1;
        } else {
            failures = 0;
        }
        if shared.gives_up(failures, &error) {
            return;
        }
        crate::log::warn(&format!(
            "the connection to {} was lost ({}); reconnecting",
            dial.url, error.message
        ));
        shared.report(SessionState::Reconnecting, Some(error));
        let connected = loop {
            let delay = shared.reconnect.delay(failures);
            let tried = tokio::select! {
                tried = async {
                    tokio::time::sleep(delay).await;
                    dial.connect(&shared).await
                } => tried,
                () = shared.ended() => return,
            };
            match tried {
                Ok(connected) => break connected,
                Err(err) => {
                    failures += 1;
                    if shared.gives_up(failures, &err) {
                        return;
                    }
                    crate::log::warn(&format!(
                        "reconnect attempt {failures} failed: {}",
                        err.message
                    ));
                }
            }
        };
        number += 1;
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
        run = start_link(&shared, connected, number, dial.with_tokens());
        shared.report(SessionState::Connected, None);
    }
}

/// The code and reason the peer closed the session with, if it did (waits
/// briefly for the close to arrive).
async fn peer_close(wt: &web_transport_quinn::Session) -> Option<(u32, String)> {
    use web_transport_quinn::{SessionError, WebTransportError};
    let err = tokio::time::timeout(Duration::from_millis(200), wt.closed())
        .await
        .ok()?;
    match err {
        SessionError::WebTransportError(WebTransportError::Closed(code, reason)) => {
            Some((code, reason))
        }
        SessionError::ConnectionError(quinn::ConnectionError::ApplicationClosed(close)) => {
            let code = u32::try_from(close.error_code.into_inner()).ok()?;
            Some((code, String::from_utf8_lossy(&close.reason).into_owned()))
        }
        _ => None,
    }
}

pub fn parse_url(text: &str) -> Result<Url> {
    if text.is_empty() {
        return Err(Error::new(
            Code::InvalidUrl,
            "URL is empty: use https://host:port/path (WebTransport) or moqt://host:port/path \
             (raw QUIC)",
        ));
    }
    let url = Url::parse(text).map_err(|e| {
        Error::new(
            Code::InvalidUrl,
            format!(
                "\"{text}\" is not a valid URL ({e}): use https://host:port/path or \
                 moqt://host:port/path"
            ),
        )
    })?;
    match url.scheme() {
        "https" | "moqt" => {}
        other => {
            return Err(Error::new(
                Code::InvalidUrl,
                format!(
                    "unsupported URL scheme \"{other}\": use https:// for WebTransport or \
                     moqt:// for raw QUIC"
                ),
            ))
        }
    }
    if url.host().is_none() {
        return Err(Error::new(
            Code::InvalidUrl,
            format!("\"{text}\" has no host: use https://host:port/path"),
        ));
    }
    Ok(url)
}

fn parse_bind(bind: &str) -> Result<Option<SocketAddr>> {
    if bind.is_empty() {
        return Ok(None);
    }
    bind.parse().map(Some).map_err(|_| {
        Error::invalid_argument(format!(
            "bind address \"{bind}\" is not an IP:port, e.g. \"127.0.0.1:0\" or \"[::]:0\""
        ))
    })
}

/// The longest idle timeout accepted: a day (QUIC allows far more, but a
/// dead peer would then hold a session for longer than anyone waits).
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The QUIC transport a session's connections to `url` use; checks the
/// settings of `config` that shape it.
fn transport_config(config: &SessionConfig, url: &Url) -> Result<quinn::TransportConfig> {
    let (idle_timeout, keep_alive_interval) = (config.idle_timeout, config.keep_alive_interval);
    let subgroups = config.max_incoming_subgroups;
    if subgroups == 0 || subgroups > MAX_INCOMING_SUBGROUPS {
        return Err(Error::invalid_argument(format!(
            "SessionConfig::max_incoming_subgroups is {subgroups}; it must be between 1 and \
             {MAX_INCOMING_SUBGROUPS}"
        )));
    }
    if idle_timeout.is_zero() || idle_timeout > MAX_IDLE_TIMEOUT {
        return Err(Error::invalid_argument(format!(
            "SessionConfig::idle_timeout is {} ms; it must be above 0 and at most a day",
            idle_timeout.as_millis()
        )));
    }
    if keep_alive_interval >= idle_timeout {
        return Err(Error::invalid_argument(format!(
            "SessionConfig::keep_alive_interval ({} ms) must be below idle_timeout ({} ms), or \
             zero for none: a quiet session would otherwise time out",
            keep_alive_interval.as_millis(),
            idle_timeout.as_millis()
        )));
    }
    let mut transport = quinn::TransportConfig::default();
    // Defaults as the moq-native clients: a dead peer is noticed after 10 s
    // of silence; keep-alives every 4 s stop a quiet session from timing out.
    transport.max_idle_timeout(Some(quinn::IdleTimeout::try_from(idle_timeout).map_err(
        |_| Error::invalid_argument("SessionConfig::idle_timeout is too long for QUIC"),
    )?));
    transport.keep_alive_interval((!keep_alive_interval.is_zero()).then_some(keep_alive_interval));
    // Packets start at QUIC's 1,200-byte floor, which every path carries, and
    // grow to what the path takes, up to Ethernet's 1,452-byte UDP payload
    // (quinn's default bound); a black hole drops them back to the floor.
    // Larger packets mean fewer packets, and fewer chunks for the peer to
    // read, per object. (moq-native turns discovery off.)
    transport.mtu_discovery_config(Some(quinn::MtuDiscoveryConfig::default()));
    // A draft-18 request holds a bidirectional stream while it lasts: the
    // relay opens one to a publisher per subscription it forwards (and per
    // FETCH). Each open subgroup of every subscription is a unidirectional
    // stream. QUIC's default of 100 each would cap a publisher at 100
    // subscribed tracks and a subscriber at 100 open subgroups, so allow
    // more; but not without bound: quinn keeps receive state for every
    // stream the peer may open (recycled from stream to stream, each keeping
    // the reassembly capacity it once needed), so these limits, not the
    // traffic, set a long-lived session's memory.
    transport.max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_INCOMING_REQUESTS));
    // The peer's control streams are unidirectional too and stay open:
    // MoQT's, and over WebTransport HTTP/3's.
    let control_streams = if url.scheme() == "moqt" { 1 } else { 2 };
    transport.max_concurrent_uni_streams(quinn::VarInt::from_u32(subgroups + control_streams));
    // What the peer may send before we read it, across all streams. quinn's
    // default is unlimited (only each stream is bounded), so a subscriber
    // that stops reading (Overflow::Pause) would still buffer every open
    // stream's data; bounded, QUIC flow control holds the peer back.
    transport.receive_window(quinn::VarInt::from_u32(RECEIVE_WINDOW));
    Ok(transport)
}

/// Bytes the peer may send ahead of what the session has read: enough for
/// ~2.5 Gbit/s at 100 ms round trip.
const RECEIVE_WINDOW: u32 = 32 * 1024 * 1024;

/// Request streams the peer may have open towards us at once: twice the
/// engine's own cap of 128 live inbound requests.
const MAX_INCOMING_REQUESTS: u32 = 256;

/// `SessionConfig::max_incoming_subgroups` by default: 256 tracks each with
/// a group in flight, 2.5 times QUIC's default. Each allowed stream keeps
/// quinn's receive state, whose reassembly capacity only grows: the soak's
/// subscriber (10,000 objects/s of 1 KiB for five minutes) ended with 4.5
/// MiB of heap in use, still growing, with 4,096 slots, 2.6-3.5 MiB with
/// 1,024, and stayed at 0.7-1.0 MiB with 64.
pub const DEFAULT_MAX_INCOMING_SUBGROUPS: u32 = 256;

/// The largest `SessionConfig::max_incoming_subgroups` accepted.
pub const MAX_INCOMING_SUBGROUPS: u32 = 65_536;

/// Every address of the URL's host of the bind address's family (any, if
/// none is bound), in the resolver's order.
async fn resolve(url: &Url, bind: Option<SocketAddr>) -> Result<Vec<SocketAddr>> {
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(Error::new(Code::InvalidUrl, "URL has no host")),
    };
    let port = url.port().unwrap_or(443);
    let addrs = match resolver_override(&host) {
        Some(addrs) => addrs,
        None => {
            let lookup = tokio::task::spawn_blocking(move || {
                (host.as_str(), port)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>())
            })
            .await
            .map_err(|e| Error::new(Code::Internal, format!("address lookup task failed: {e}")))?;
            lookup.map_err(|e| {
                Error::new(
                    Code::ConnectFailed,
                    format!("cannot resolve the host of {url}: {e}"),
                )
            })?
        }
    };
    let wanted_v4 = bind.map(|b| b.is_ipv4());
    let addrs: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| wanted_v4.is_none_or(|v4| a.is_ipv4() == v4))
        .collect();
    // One local socket serves every attempt: keep the first address's family.
    let family = addrs.first().map(SocketAddr::is_ipv4).ok_or_else(|| {
        Error::new(
            Code::ConnectFailed,
            format!("{url} has no address of the bind address's family"),
        )
    })?;
    Ok(addrs
        .into_iter()
        .filter(|a| a.is_ipv4() == family)
        .collect())
}

/// Addresses the tests make a host name resolve to (feature `test-hooks`),
/// since a real resolver gives them one address for localhost.
#[cfg(feature = "test-hooks")]
static RESOLVER_OVERRIDES: Mutex<Vec<(String, Vec<SocketAddr>)>> = Mutex::new(Vec::new());

/// Test-only: makes `host` resolve to `addrs` (empty: the real resolver again).
#[cfg(feature = "test-hooks")]
pub fn override_resolver(host: &str, addrs: Vec<SocketAddr>) {
    let mut overrides = RESOLVER_OVERRIDES.lock().unwrap_or_else(|e| e.into_inner());
    overrides.retain(|(h, _)| h != host);
    if !addrs.is_empty() {
        overrides.push((host.to_owned(), addrs));
    }
}

#[cfg(feature = "test-hooks")]
fn resolver_override(host: &str) -> Option<Vec<SocketAddr>> {
    let overrides = RESOLVER_OVERRIDES.lock().unwrap_or_else(|e| e.into_inner());
    overrides
        .iter()
        .find(|(h, _)| h == host)
        .map(|(_, addrs)| addrs.clone())
}

#[cfg(not(feature = "test-hooks"))]
fn resolver_override(_host: &str) -> Option<Vec<SocketAddr>> {
    None
}

/// The QUIC handshake with each address in turn until one answers, each
/// given an equal share of `timeout` (the last one what is left). The error
/// is the first that is not a timeout (a TLS refusal says more), else the
/// last.
async fn handshake(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    remotes: &[SocketAddr],
    server_name: &str,
    url: &Url,
    timeout: Duration,
) -> Result<quinn::Connection> {
    let deadline = tokio::time::Instant::now() + timeout;
    let share = timeout / u32::try_from(remotes.len()).unwrap_or(u32::MAX).max(1);
    let mut failure: Option<Error> = None;
    for (i, remote) in remotes.iter().enumerate() {
        let last = i + 1 == remotes.len();
        let until = if last {
            deadline
        } else {
            (tokio::time::Instant::now() + share).min(deadline)
        };
        let connecting = endpoint
            .connect_with(config.clone(), *remote, server_name)
            .map_err(|e| {
                Error::new(Code::ConnectFailed, format!("cannot connect to {url}: {e}"))
            })?;
        let error = match tokio::time::timeout_at(until, connecting).await {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(e)) => connection_error(&e, url),
            Err(_) => Error::new(
                Code::Timeout,
                format!(
                    "no QUIC answer from {remote} ({url}): is a relay listening there, and is \
                     the address reachable?"
                ),
            ),
        };
        if remotes.len() > 1 {
            crate::log::log(
                crate::log::Level::Info,
                &format!("connecting to {remote} for {url} failed: {}", error.message),
            );
        }
        if failure.as_ref().is_none_or(|f| f.code == Code::Timeout) {
            failure = Some(error);
        }
    }
    Err(failure.unwrap_or_else(|| Error::new(Code::ConnectFailed, format!("{url}: no address"))))
}

async fn connect(
    url: &Url,
    bind: Option<SocketAddr>,
    tls_options: &TlsOptions,
    auth_tokens: &[AuthToken],
    transport: quinn::TransportConfig,
    gear: Gear,
    handshake_timeout: Duration,
) -> Result<Connected> {
    let raw_quic = url.scheme() == "moqt";
    let alpn: &[u8] = if raw_quic {
        moq_transport::setup::DraftVersion::Draft18.alpn_bytes()
    } else {
        web_transport_quinn::ALPN.as_bytes()
    };
    let tls = tls::client_config(tls_options, alpn)?;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| Error::new(Code::Tls, format!("TLS config unusable for QUIC: {e}")))?;
    let mut client_config = quinn::ClientConfig::new(Arc::new(crypto));
    client_config.transport_config(Arc::new(transport));

    let remotes = resolve(url, bind).await?;
    let local = bind.unwrap_or(if remotes[0].is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    });
    let endpoint = quinn::Endpoint::client(local).map_err(|e| {
        Error::new(
            Code::ConnectFailed,
            format!("cannot bind the local UDP socket {local}: {e}"),
        )
    })?;
    let server_name = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => unreachable!("checked by parse_url"),
    };
    let connection = handshake(
        &endpoint,
        client_config,
        &remotes,
        &server_name,
        url,
        handshake_timeout,
    )
    .await?;

    let (wt, kind) = if raw_quic {
        (
            web_transport_quinn::Session::raw(
                connection,
                url.clone(),
                web_transport_quinn::proto::ConnectResponse::default(),
            ),
            Transport::RawQuic,
        )
    } else {
        let mut request = web_transport_quinn::proto::ConnectRequest::new(url.clone());
        for alpn in moq_transport::setup::SUPPORTED_ALPNS {
            request = request.with_protocol(alpn.to_string());
        }
        let session = web_transport_quinn::Session::connect(connection, request)
            .await
            .map_err(|e| {
                Error::new(
                    Code::ConnectFailed,
                    format!("WebTransport CONNECT to {url} failed: {e}"),
                )
            })?;
        (session, Transport::WebTransport)
    };
    let connection = (*wt).clone();
    let wt_errors = wt.clone();
    let session_url = wt.request().url.clone();
    let transport = transport::Session::new(
        QuicAdapter::new(wt, gear.goaway, gear.read_gate, gear.policy, gear.sending),
        session_url,
    );
    let tokens = auth_tokens
        .iter()
        .map(|t| moq_transport::setup::AuthorizationToken::new(t.token_type, t.value.clone()))
        .collect();
    let connected = engine::Session::connect_with_config_and_tokens(
        transport.clone(),
        None,
        kind,
        engine::SessionConfig::default(),
        tokens,
    )
    .await;
    let (session, publisher, subscriber) = match connected {
        Ok(connected) => connected,
        Err(e) => {
            if let Some((UNAUTHORIZED, reason)) = peer_close(&wt_errors).await {
                return Err(Error::new(
                    Code::ConnectFailed,
                    unauthorized_message(url.as_str(), &reason, !auth_tokens.is_empty()),
                ));
            }
            let mut err = Error::from_session(&e, "MoQT SETUP failed");
            if err.code == Code::Closed {
                err.code = Code::ConnectFailed;
            }
            return Err(err);
        }
    };
    Ok(Connected {
        endpoint,
        connection,
        transport,
        session,
        publisher,
        subscriber,
        wt: wt_errors,
    })
}

fn connection_error(err: &quinn::ConnectionError, url: &Url) -> Error {
    match err {
        quinn::ConnectionError::TransportError(te) if u64::from(te.code) & !0xff == 0x100 => {
            Error::new(
                Code::Tls,
                format!(
                    "TLS handshake with {url} failed: {te}. Check TlsConfig: trust the \
                         server's CA with root_cert_files or pin its certificate with \
                         server_cert_sha256"
                ),
            )
        }
        quinn::ConnectionError::ConnectionClosed(close)
            if u64::from(close.error_code) & !0xff == 0x100 =>
        {
            Error::new(
                Code::Tls,
                format!("the server at {url} rejected the TLS handshake: {close}"),
            )
        }
        quinn::ConnectionError::TimedOut => Error::new(
            Code::Timeout,
            format!("connecting to {url} timed out: no QUIC answer from the server"),
        ),
        other => Error::new(
            Code::ConnectFailed,
            format!("cannot connect to {url}: {other}"),
        ),
    }
}

async fn session_end_error(err: &engine::SessionError, transport: &transport::Session) -> Error {
    let reason = tokio::time::timeout(Duration::from_millis(100), transport.closed())
        .await
        .map(|e| e.to_string())
        .unwrap_or_else(|_| err.to_string());
    Error::closed(format!("the session ended: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_waits_double_up_to_the_cap_with_jitter_below() {
        let policy = ReconnectPolicy {
            enabled: true,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_attempts: 0,
        };
        for (attempt, full) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            let full = Duration::from_millis(full);
            for _ in 0..50 {
                let delay = policy.delay(attempt);
                assert!(
                    delay >= full / 2 && delay <= full,
                    "attempt {attempt}: {delay:?} outside [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
        let draws: std::collections::HashSet<Duration> = (0..20).map(|_| policy.delay(3)).collect();
        assert!(draws.len() > 1, "the waits are drawn, not fixed");
    }

    #[test]
    fn a_reconnect_policy_is_checked_only_when_on() {
        let mut policy = ReconnectPolicy {
            initial_delay: Duration::ZERO,
            ..ReconnectPolicy::default()
        };
        assert!(policy.validate().is_ok(), "off: not checked");
        policy.enabled = true;
        assert_eq!(policy.validate().unwrap_err().code, Code::InvalidArgument);
        policy.initial_delay = Duration::from_secs(20);
        assert_eq!(policy.validate().unwrap_err().code, Code::InvalidArgument);
        policy.initial_delay = Duration::from_secs(1);
        assert!(policy.validate().is_ok());
    }
}
