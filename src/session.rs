//! A client MoQT session: connect (WebTransport or raw QUIC), drive
//! `Session::run` for the session's whole life, close gracefully.

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Authorization tokens presented in the client SETUP (draft 18
    /// §10.3.1.4), each as its own AUTHORIZATION TOKEN option with alias type
    /// USE_VALUE. Checked by [`validate_auth_tokens`] before connecting.
    pub auth_tokens: Vec<AuthToken>,
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
            auth_tokens: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Connecting,
    Connected,
    Closed,
}

/// Receives the session's one terminal event: `Closed` with `None` after a
/// local close, or with the error that ended it.
pub type StateSink = Box<dyn FnOnce(Option<Error>) + Send>;

/// State shared by the session and every handle made from it, so a handle can
/// refuse work once the session is gone.
pub(crate) struct Shared {
    /// The session's transport, to close it (from the handle or at shutdown).
    transport: transport::Session,
    /// The session's strand: its GOAWAY and terminal event run there, in
    /// order, on a callback thread (dispatch.rs).
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
    pub(crate) request_timeout: Duration,
    pub(crate) max_object_size: usize,
    /// Largest QUIC datagram the connection can send (fixed: no MTU discovery).
    pub(crate) max_datagram_size: usize,
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

    /// Closes the session gracefully: the peer sees `code` and `reason`, and
    /// the terminal event reports no error. Never blocks.
    pub(crate) fn close(&self, what: &str, code: u32, reason: &str) -> Result<()> {
        self.check_open(what)?;
        // Claim the terminal event before closing, so the run task's
        // "connection closed" cannot win the race and report an error the user
        // caused. It is delivered on a library thread, like every callback.
        self.end(None);
        // Closing a WebTransport session spawns the CLOSE capsule write, so it
        // runs on the runtime: this call may come from any thread, even from a
        // static destructor at exit, when no runtime context can be entered.
        let transport = self.transport.clone();
        let reason = reason.to_owned();
        runtime().spawn(async move { transport.close(code, &reason) });
        Ok(())
    }

    /// Marks the session closed and delivers the terminal event with
    /// `error` (`None`: a local close), once: the first caller's. It runs on
    /// the session's strand after a GOAWAY reported before it; no GOAWAY is
    /// reported after it, and both sinks are released then.
    fn end(&self, error: Option<Error>) {
        self.closed.store(true, Ordering::Release);
        self.ended.send_replace(true);
        let sink = self
            .terminal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(sink) = sink {
            self.events.post_final(move |()| sink(error));
            self.goaway.clear();
        }
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
}

pub struct Session {
    pub(crate) shared: Arc<Shared>,
    // The QUIC connection under the session, for statistics.
    connection: quinn::Connection,
    pub(crate) publisher: Publisher,
    pub(crate) subscriber: Subscriber,
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
    /// session.
    pub fn connect_request(
        url: &str,
        config: SessionConfig,
        on_closed: StateSink,
    ) -> Result<impl Future<Output = Result<Session>> + Send + 'static> {
        let url = parse_url(url)?;
        let bind = parse_bind(&config.bind)?;
        let timeout = config.connect_timeout;
        validate_auth_tokens(&config.auth_tokens)?;
        let transport = transport_config(config.idle_timeout, config.keep_alive_interval)?;
        let target = url.to_string();
        if config.max_group_bytes == 0 {
            return Err(Error::invalid_argument(
                "SessionConfig::max_group_bytes must be positive (the most one received \
                 subgroup may carry)",
            ));
        }
        let stream_policy = Arc::new(StreamPolicy::new(
            config.max_object_size as u64,
            config.max_group_bytes,
        ));
        let policy = stream_policy.clone();
        let sending = SendTracker::new();
        let tracker = sending.clone();
        Ok(async move {
            let connected = bounded("Session::connect", timeout, async {
                connect(
                    &url,
                    bind,
                    &config.tls,
                    &config.auth_tokens,
                    transport,
                    policy,
                    tracker,
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
            })?;
            let Connected {
                endpoint,
                connection,
                transport,
                session,
                publisher,
                subscriber,
                wt,
                goaway,
                read_gate,
            } = connected;
            let with_tokens = !config.auth_tokens.is_empty();

            let shared = Arc::new(Shared {
                transport: transport.clone(),
                events: Strand::new(()),
                goaway,
                read_gate,
                stream_policy,
                sending,
                closed: AtomicBool::new(false),
                ended: tokio::sync::watch::Sender::new(false),
                terminal: Mutex::new(Some(on_closed)),
                request_timeout: config.request_timeout,
                max_object_size: config.max_object_size,
                max_datagram_size: transport.max_datagram_size(),
                histories: HistoryRegistry::new(),
                publish_listener: AtomicBool::new(false),
            });
            // Answer FETCH from tracks with history; started before any announce,
            // or early FETCHes would be refused as unsupported. It holds a
            // Publisher, whose FETCH queue never closes on its own: the run task
            // stops it when the session ends, which releases the connection.
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
            let mut queued = publisher.clone();
            let run_shared = shared.clone();
            let run_transport = transport.clone();
            runtime().spawn(async move {
                let result = AssertUnwindSafe(session.run()).catch_unwind().await;
                fetches.abort();
                unannounced.abort();
                drop_queued_requests(&mut queued);
                drop(queued);
                // The endpoint's last handle: once it goes, quinn's endpoint task
                // ends as soon as the connection has drained (after sending the
                // CLOSE), whether or not the user still holds the Session.
                drop(endpoint);
                let error = match result {
                    Ok(Ok(())) => Error::closed("the session ended"),
                    Ok(Err(err)) => match peer_close(&wt).await {
                        Some((UNAUTHORIZED, reason)) => Error::new(
                            Code::ConnectFailed,
                            unauthorized_message(&target, &reason, with_tokens),
                        ),
                        _ => session_end_error(&err, &run_transport).await,
                    },
                    Err(_) => {
                        run_transport.close(0, "internal error");
                        Error::new(
                            Code::Internal,
                            "internal error in the session task (a panic); please report this bug",
                        )
                    }
                };
                run_shared.end(Some(error));
            });

            register_open(&shared);
            Ok(Session {
                shared,
                connection,
                publisher,
                subscriber,
            })
        })
    }

    pub fn state(&self) -> SessionState {
        if self.shared.is_closed() {
            SessionState::Closed
        } else {
            SessionState::Connected
        }
    }

    /// QUIC statistics of the session's connection. Cheap; never blocks.
    pub fn stats(&self) -> SessionStats {
        let stats = self.connection.stats();
        SessionStats {
            rtt: self.connection.rtt(),
            bytes_sent: stats.udp_tx.bytes,
            bytes_received: stats.udp_rx.bytes,
            packets_sent: stats.udp_tx.datagrams,
            packets_received: stats.udp_rx.datagrams,
            packets_lost: stats.path.lost_packets,
            bytes_lost: stats.path.lost_bytes,
            objects_refused: self.shared.stream_policy.objects_refused(),
            streams_stopped: self.shared.stream_policy.streams_stopped(),
            backlog_bytes: self.shared.sending.backlog(),
        }
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
    goaway: Arc<GoawayNotice>,
    read_gate: Arc<ReadGate>,
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

fn transport_config(
    idle_timeout: Duration,
    keep_alive_interval: Duration,
) -> Result<quinn::TransportConfig> {
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
    let mut config = quinn::TransportConfig::default();
    // Defaults as the moq-native clients: a dead peer is noticed after 10 s
    // of silence; keep-alives every 4 s stop a quiet session from timing out.
    config.max_idle_timeout(Some(quinn::IdleTimeout::try_from(idle_timeout).map_err(
        |_| Error::invalid_argument("SessionConfig::idle_timeout is too long for QUIC"),
    )?));
    config.keep_alive_interval((!keep_alive_interval.is_zero()).then_some(keep_alive_interval));
    // Packets start at QUIC's 1,200-byte floor, which every path carries, and
    // grow to what the path takes, up to Ethernet's 1,452-byte UDP payload
    // (quinn's default bound); a black hole drops them back to the floor.
    // Larger packets mean fewer packets, and fewer chunks for the peer to
    // read, per object. (moq-native turns discovery off.)
    config.mtu_discovery_config(Some(quinn::MtuDiscoveryConfig::default()));
    // A draft-18 request holds a bidirectional stream while it lasts: the
    // relay opens one to a publisher per subscription it forwards (and per
    // FETCH). Each open subgroup of every subscription is a unidirectional
    // stream. QUIC's default of 100 each would cap a publisher at 100
    // subscribed tracks (the engine's own cap is 128 live inbound requests)
    // and a subscriber at 100 open subgroups; a stream only costs memory
    // while it carries data (the connection's receive window bounds that), so
    // allow many.
    config.max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_INCOMING_STREAMS));
    config.max_concurrent_uni_streams(quinn::VarInt::from_u32(MAX_INCOMING_STREAMS));
    // What the peer may send before we read it, across all streams. quinn's
    // default is unlimited (only each stream is bounded), so a subscriber
    // that stops reading (Overflow::Pause) would still buffer every open
    // stream's data; bounded, QUIC flow control holds the peer back.
    config.receive_window(quinn::VarInt::from_u32(RECEIVE_WINDOW));
    Ok(config)
}

/// Bytes the peer may send ahead of what the session has read: enough for
/// ~2.5 Gbit/s at 100 ms round trip.
const RECEIVE_WINDOW: u32 = 32 * 1024 * 1024;

/// Streams of each direction the peer may have open towards us at once.
const MAX_INCOMING_STREAMS: u32 = 4096;

async fn resolve(url: &Url, bind: Option<SocketAddr>) -> Result<SocketAddr> {
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(Error::new(Code::InvalidUrl, "URL has no host")),
    };
    let port = url.port().unwrap_or(443);
    let lookup = tokio::task::spawn_blocking(move || {
        (host.as_str(), port)
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>())
    })
    .await
    .map_err(|e| Error::new(Code::Internal, format!("address lookup task failed: {e}")))?;
    let addrs = lookup.map_err(|e| {
        Error::new(
            Code::ConnectFailed,
            format!("cannot resolve the host of {url}: {e}"),
        )
    })?;
    let wanted_v4 = bind.map(|b| b.is_ipv4());
    addrs
        .iter()
        .find(|a| wanted_v4.is_none_or(|v4| a.is_ipv4() == v4))
        .copied()
        .ok_or_else(|| {
            Error::new(
                Code::ConnectFailed,
                format!("{url} has no address of the bind address's family"),
            )
        })
}

async fn connect(
    url: &Url,
    bind: Option<SocketAddr>,
    tls_options: &TlsOptions,
    auth_tokens: &[AuthToken],
    transport: quinn::TransportConfig,
    policy: Arc<StreamPolicy>,
    sending: Arc<SendTracker>,
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

    let remote = resolve(url, bind).await?;
    let local = bind.unwrap_or(if remote.is_ipv4() {
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
    let connection = endpoint
        .connect_with(client_config, remote, &server_name)
        .map_err(|e| Error::new(Code::ConnectFailed, format!("cannot connect to {url}: {e}")))?
        .await
        .map_err(|e| connection_error(&e, url))?;

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
    let goaway = Arc::new(GoawayNotice::default());
    let read_gate = Arc::new(ReadGate::default());
    let session_url = wt.request().url.clone();
    let transport = transport::Session::new(
        QuicAdapter::new(wt, goaway.clone(), read_gate.clone(), policy, sending),
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
        goaway,
        read_gate,
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
