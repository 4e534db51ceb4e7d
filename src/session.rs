//! A client MoQT session: connect (WebTransport or raw QUIC), drive
//! `Session::run` for the session's whole life, close gracefully.

use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use moq_transport::session::{self as engine, transport, Publisher, Subscriber, Transport};
use url::Url;
use web_transport_quinn::quinn;

use crate::error::{Code, Error, Result};
use crate::history::HistoryRegistry;
use crate::runtime::{block_on, runtime};
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
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            bind: String::new(),
            max_object_size: DEFAULT_MAX_OBJECT_SIZE,
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
    closed: AtomicBool,
    terminal: Mutex<Option<StateSink>>,
    pub(crate) request_timeout: Duration,
    pub(crate) max_object_size: usize,
    /// Largest QUIC datagram the connection can send (fixed: no MTU discovery).
    pub(crate) max_datagram_size: usize,
    /// Tracks that retain history, for answering FETCH.
    pub(crate) histories: HistoryRegistry,
}

impl Shared {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
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

    /// Marks the session closed and hands out the terminal event's sink, to
    /// the first caller only: exactly one terminal event per session.
    fn take_terminal(&self) -> Option<StateSink> {
        self.closed.store(true, Ordering::Release);
        self.terminal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
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
}

pub struct Session {
    pub(crate) shared: Arc<Shared>,
    transport: transport::Session,
    // The QUIC connection under the session, for statistics.
    connection: quinn::Connection,
    pub(crate) publisher: Publisher,
    pub(crate) subscriber: Subscriber,
    // Kept so the endpoint outlives the connection and can send the close.
    _endpoint: quinn::Endpoint,
}

impl Session {
    /// Connects and completes the MoQT SETUP exchange. Blocks, bounded by
    /// `config.connect_timeout`.
    pub fn connect(url: &str, config: SessionConfig, on_closed: StateSink) -> Result<Session> {
        let url = parse_url(url)?;
        let bind = parse_bind(&config.bind)?;
        let timeout = config.connect_timeout;
        let target = url.to_string();
        let connected = block_on("Session::connect", timeout, async {
            connect(&url, bind, &config.tls).await
        })
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
        } = connected;

        let shared = Arc::new(Shared {
            closed: AtomicBool::new(false),
            terminal: Mutex::new(Some(on_closed)),
            request_timeout: config.request_timeout,
            max_object_size: config.max_object_size,
            max_datagram_size: transport.max_datagram_size(),
            histories: HistoryRegistry::new(),
        });
        // Answer FETCH from tracks with history; started before any announce,
        // or early FETCHes would be refused as unsupported.
        runtime().spawn(crate::history::serve_fetches(
            publisher.clone(),
            shared.histories.clone(),
        ));
        let run_shared = shared.clone();
        let run_transport = transport.clone();
        runtime().spawn(async move {
            let result = AssertUnwindSafe(session.run()).catch_unwind().await;
            let error = match result {
                Ok(Ok(())) => Error::closed("the session ended"),
                Ok(Err(err)) => session_end_error(&err, &run_transport).await,
                Err(_) => {
                    run_transport.close(0, "internal error");
                    Error::new(
                        Code::Internal,
                        "internal error in the session task (a panic); please report this bug",
                    )
                }
            };
            if let Some(sink) = run_shared.take_terminal() {
                sink(Some(error));
            }
        });

        Ok(Session {
            shared,
            connection,
            transport,
            publisher,
            subscriber,
            _endpoint: endpoint,
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
        }
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
        self.shared.check_open("Session::close")?;
        // Claim the terminal event before closing, so the run task's
        // "connection closed" cannot win the race and report an error the user
        // caused. It is delivered on a library thread, like every callback.
        if let Some(sink) = self.shared.take_terminal() {
            runtime().spawn(async move { sink(None) });
        }
        // Closing a WebTransport session spawns the CLOSE capsule write, so it
        // runs on the runtime: this call may come from any thread, even from a
        // static destructor at exit, when no runtime context can be entered.
        let transport = self.transport.clone();
        let reason = reason.to_owned();
        runtime().spawn(async move { transport.close(code, &reason) });
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
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

fn transport_config() -> quinn::TransportConfig {
    let mut config = quinn::TransportConfig::default();
    // Same liveness settings as the moq-native clients: a dead peer is noticed
    // after 10 s of silence; keep-alives stop a quiet session from timing out.
    config.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(10)).expect("10 s fits"),
    ));
    config.keep_alive_interval(Some(Duration::from_secs(4)));
    config.mtu_discovery_config(None);
    config
}

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
    client_config.transport_config(Arc::new(transport_config()));

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
    let transport: transport::Session = wt.into();
    let (session, publisher, subscriber) = engine::Session::connect(transport.clone(), None, kind)
        .await
        .map_err(|e| {
            let mut err = Error::from_session(&e, "MoQT SETUP failed");
            if err.code == Code::Closed {
                err.code = Code::ConnectFailed;
            }
            err
        })?;
    Ok(Connected {
        endpoint,
        connection,
        transport,
        session,
        publisher,
        subscriber,
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
