//! A MoQT server on 127.0.0.1 for moq's tests, built on the real engine
//! (moq-transport 0.17), for what moq-relay-ietf 0.8.0 never sends a client
//! (GOAWAY, PUBLISH) and what the relay never shows (the SUBSCRIBE parameters,
//! UNSUBSCRIBE and the close code and reason a client sent). The Rust tests use
//! it in-process ([`Peer`]), the C++ tests run the `moq-test-peer` binary.
//!
//! Raw QUIC only (`moqt://`, ALPN moqt-18). Every client that connects gets
//! the same behaviour, set by [`PeerOptions`]. What it sees is reported on
//! stderr as `moq-test-peer: ...` lines (the C++ tests read them) and, in
//! process, through [`Peer::next_report`].

pub mod cat;

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use moq_transport::coding::{Encode, KeyValuePairs, SessionUri, TrackNamespace};
use moq_transport::message::{GoAway, Message};
use moq_transport::reexports::web_transport_trait as wt;
use moq_transport::serve::Track;
use moq_transport::session::{transport, Publisher, Session, Subscriber, Transport};
use web_transport_quinn::{quinn, SessionError, WriteError};

/// What the peer does with each client once SETUP is done.
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    /// Send GOAWAY with this new session URI ("" = none) after `goaway_after`.
    pub goaway_uri: Option<String>,
    pub goaway_after: Duration,
    /// PUBLISH this track ("namespace/path", "track") to the client and, once
    /// accepted, send `groups` one-object groups ("peer object N") 50 ms
    /// apart, then end the track (PUBLISH_DONE).
    pub publish: Option<(String, String)>,
    pub groups: u64,
    /// Answer every SUBSCRIBE the client sends (for any track): accept it
    /// and send one-object groups ("served N") 100 ms apart until the
    /// subscription ends. Without it, SUBSCRIBEs are still reported, then
    /// refused.
    pub serve: bool,
    /// Accept every PUBLISH_NAMESPACE the client sends (reporting
    /// "PUBLISH_NAMESPACE ns"). Without it they go unanswered; tests that
    /// take the client's handles (`Peer::next_client`) answer them.
    pub accept_namespaces: bool,
    /// Tell the client the peer takes no QUIC datagrams (no
    /// max_datagram_frame_size transport parameter).
    pub no_datagrams: bool,
    /// With `serve`: group 1 carries "served 1" then an object of
    /// [`OVERSIZED_OBJECT`] bytes, group 2 "served 2" then an object with an
    /// extension block of [`OVERSIZED_EXTENSIONS`] bytes, group 3 "served 3"
    /// then [`LONG_GROUP_OBJECTS`] objects of [`LONG_GROUP_OBJECT`] bytes;
    /// the other groups are as usual.
    pub oversized: bool,
}

/// The size of the oversized object (`PeerOptions::oversized`): 2 MiB + 1.
pub const OVERSIZED_OBJECT: usize = 2 * 1024 * 1024 + 1;
/// About the size of the oversized extension block: 20 values of 60,000
/// bytes (each value at most 65,535 bytes on the wire).
pub const OVERSIZED_EXTENSIONS: usize = 20 * 60_000;
/// Group 3 with `PeerOptions::oversized` continues with this many objects
/// of [`LONG_GROUP_OBJECT`] bytes: 1.8 MB in one subgroup.
pub const LONG_GROUP_OBJECTS: usize = 3;
pub const LONG_GROUP_OBJECT: usize = 600_000;

/// The engine's handles for one connected client, for tests that drive the
/// peer side themselves.
pub struct Client {
    pub publisher: Publisher,
    pub subscriber: Subscriber,
}

/// A running peer. Dropping it stops it.
pub struct Peer {
    rt: tokio::runtime::Runtime,
    endpoint: quinn::Endpoint,
    port: u16,
    clients: Mutex<mpsc::Receiver<Client>>,
    reports: Mutex<mpsc::Receiver<String>>,
}

/// Prints a report line on stderr and queues it for [`Peer::next_report`].
#[derive(Clone)]
struct Reporter(mpsc::Sender<String>);

impl Reporter {
    fn report(&self, line: String) {
        eprintln!("moq-test-peer: {line}");
        let _ = self.0.send(line);
    }
}

impl Peer {
    /// Listens on 127.0.0.1 (free port) with `cert.pem` / `key.pem` from
    /// `cert_dir` (as written by tests/tools/gen-certs.sh).
    pub fn start(cert_dir: &Path, options: PeerOptions) -> Result<Peer, String> {
        let read = |name: &str| {
            std::fs::read(cert_dir.join(name))
                .map_err(|e| format!("cannot read {}: {e}", cert_dir.join(name).display()))
        };
        let chain = rustls_pemfile::certs(&mut &read("cert.pem")?[..])
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cert.pem: {e}"))?;
        let key = rustls_pemfile::private_key(&mut &read("key.pem")?[..])
            .map_err(|e| format!("key.pem: {e}"))?
            .ok_or("no private key in key.pem")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| e.to_string())?;
        tls.alpn_protocols = vec![moq_transport::setup::DraftVersion::Draft18
            .alpn_bytes()
            .to_vec()];
        let crypto =
            quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| e.to_string())?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        if options.no_datagrams {
            let mut transport = quinn::TransportConfig::default();
            transport.datagram_receive_buffer_size(None);
            server.transport_config(Arc::new(transport));
        }

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let endpoint = rt
            .block_on(async { quinn::Endpoint::server(server, ([127, 0, 0, 1], 0).into()) })
            .map_err(|e| format!("cannot bind 127.0.0.1: {e}"))?;
        let port = endpoint.local_addr().map_err(|e| e.to_string())?.port();
        let accepting = endpoint.clone();
        let (clients_tx, clients) = mpsc::channel();
        let (reports_tx, reports) = mpsc::channel();
        let reporter = Reporter(reports_tx);
        rt.spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                tokio::spawn(serve_client(
                    incoming,
                    options.clone(),
                    clients_tx.clone(),
                    reporter.clone(),
                ));
            }
        });
        Ok(Peer {
            rt,
            endpoint,
            port,
            clients: Mutex::new(clients),
            reports: Mutex::new(reports),
        })
    }

    /// The next report line (what stderr shows after "moq-test-peer: "),
    /// within `timeout`.
    pub fn next_report(&self, timeout: Duration) -> Option<String> {
        self.reports.lock().unwrap().recv_timeout(timeout).ok()
    }

    /// The next client that completed SETUP, within `timeout`.
    pub fn next_client(&self, timeout: Duration) -> Option<Client> {
        self.clients.lock().unwrap().recv_timeout(timeout).ok()
    }

    /// The runtime the peer's engine runs on, to drive its handles.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `moqt://localhost:PORT/`
    pub fn url(&self) -> String {
        format!("moqt://localhost:{}/", self.port)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"peer stopped");
    }
}

async fn serve_client(
    incoming: quinn::Incoming,
    options: PeerOptions,
    clients: mpsc::Sender<Client>,
    reporter: Reporter,
) {
    let Ok(connecting) = incoming.accept() else {
        return;
    };
    let Ok(connection) = connecting.await else {
        return;
    };
    let closing = connection.clone();
    let closed_reporter = reporter.clone();
    tokio::spawn(async move {
        // How the client ended the connection: a graceful close carries the
        // MoQT session close code and reason.
        let line = match closing.closed().await {
            quinn::ConnectionError::ApplicationClosed(close) => format!(
                "client closed the session: code={} reason=\"{}\"",
                close.error_code.into_inner(),
                String::from_utf8_lossy(&close.reason)
            ),
            other => format!("connection ended: {other}"),
        };
        closed_reporter.report(line);
    });
    let wt = web_transport_quinn::Session::raw(
        connection,
        url::Url::parse("moqt://localhost/").expect("static URL"),
        web_transport_quinn::proto::ConnectResponse::default(),
    );
    let control = ControlSlot::default();
    let adapter = Injecting {
        inner: wt,
        control: control.clone(),
    };
    let url = url::Url::parse("moqt://localhost/").expect("static URL");
    let accepted = Session::accept(
        transport::Session::new(adapter, url),
        None,
        Transport::RawQuic,
    )
    .await;
    let Ok((session, Some(publisher), Some(subscriber))) = accepted else {
        reporter.report("SETUP failed".into());
        return;
    };
    tokio::spawn(session.run());
    reporter.report("client connected".into());
    if options.accept_namespaces {
        tokio::spawn(accept_namespaces(subscriber.clone(), reporter.clone()));
    }
    let _ = clients.send(Client {
        publisher: publisher.clone(),
        subscriber,
    });
    tokio::spawn(answer_subscribes(
        publisher.clone(),
        options.serve,
        options.oversized,
        reporter.clone(),
    ));

    if let Some(uri) = options.goaway_uri.clone() {
        let control = control.clone();
        let reporter = reporter.clone();
        tokio::spawn(async move {
            tokio::time::sleep(options.goaway_after).await;
            match control.send_goaway(&uri).await {
                Ok(()) => reporter.report(format!("sent GOAWAY \"{uri}\"")),
                Err(e) => reporter.report(format!("GOAWAY not sent: {e}")),
            }
        });
    }
    if let Some((namespace, name)) = options.publish.clone() {
        let mut publisher = publisher;
        let (writer, reader) =
            Track::new(TrackNamespace::from_utf8_path(&namespace), &name).produce();
        let Ok(mut published) = publisher.publish(reader, KeyValuePairs::default()).await else {
            reporter.report("PUBLISH not sent".into());
            return;
        };
        if let Err(e) = published.ok().await {
            reporter.report(format!("PUBLISH refused: {e}"));
            return;
        }
        reporter.report("PUBLISH accepted".into());
        let serving = tokio::spawn(published.serve());
        let Ok(mut subgroups) = writer.subgroups() else {
            return;
        };
        for i in 0..options.groups {
            if let Ok(mut group) = subgroups.append(127) {
                let _ = group.write(Bytes::from(format!("peer object {i}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(subgroups); // ends the track: PUBLISH_DONE
        let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
        reporter.report("track ended".into());
    }
}

/// Accepts every PUBLISH_NAMESPACE the client sends, keeping each until the
/// session ends.
async fn accept_namespaces(mut subscriber: Subscriber, reporter: Reporter) {
    let mut accepted = Vec::new();
    while let Some(mut namespace) = subscriber.published_namespace().await {
        let name = namespace.info.namespace.to_string();
        match namespace.ok() {
            Ok(()) => reporter.report(format!(
                "PUBLISH_NAMESPACE {}",
                name.trim_start_matches('/')
            )),
            Err(e) => reporter.report(format!("PUBLISH_NAMESPACE {name} not accepted: {e}")),
        }
        accepted.push(namespace);
    }
}

/// Reports every SUBSCRIBE the client sends for a track the peer never
/// announced, with the parameters as they arrived; serves it if `serve`
/// (reporting how the subscription ended), refuses it otherwise.
async fn answer_subscribes(
    mut publisher: Publisher,
    serve: bool,
    oversized: bool,
    reporter: Reporter,
) {
    while let Some(subscribed) = publisher.subscribed().await {
        let info = subscribed.info.clone();
        let delivery_timeout = info.params.delivery_timeout().ok().flatten();
        // TrackNamespace displays as "/a/b": report "a/b/track".
        let namespace = info.track_namespace.to_string();
        let name = format!("{}/{}", namespace.trim_start_matches('/'), info.track_name);
        reporter.report(format!(
            "SUBSCRIBE {name} priority={} group_order={:?} forward={} filter={:?} start={:?} \
             end_group={:?} delivery_timeout={:?}",
            info.subscriber_priority,
            info.group_order,
            info.forward,
            info.filter_type,
            info.start_location.map(|l| (l.group_id, l.object_id)),
            info.end_group_id,
            delivery_timeout,
        ));
        if !serve {
            let _ = subscribed.close(moq_transport::serve::ServeError::NotFound);
            continue;
        }
        let reporter = reporter.clone();
        tokio::spawn(async move {
            let (writer, reader) =
                Track::new(info.track_namespace.clone(), &info.track_name).produce();
            let writing = tokio::spawn(async move {
                let Ok(mut subgroups) = writer.subgroups() else {
                    return;
                };
                for i in 0u64.. {
                    match subgroups.append(127) {
                        Ok(mut group) => {
                            let _ = group.write(Bytes::from(format!("served {i}")));
                            if oversized {
                                write_oversized(&mut group, i);
                            }
                        }
                        Err(_) => return,
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            let result = subscribed.serve(reader).await;
            writing.abort();
            reporter.report(format!("subscription {name} ended: {result:?}"));
        });
    }
}

/// What follows the first object of groups 1-3 with `PeerOptions::oversized`.
fn write_oversized(group: &mut moq_transport::serve::SubgroupWriter, group_id: u64) {
    match group_id {
        1 => {
            let _ = group.write(Bytes::from(vec![1u8; OVERSIZED_OBJECT]));
        }
        3 => {
            for _ in 0..LONG_GROUP_OBJECTS {
                let _ = group.write(Bytes::from(vec![3u8; LONG_GROUP_OBJECT]));
            }
        }
        2 => {
            let mut extensions = moq_transport::data::ExtensionHeaders::new();
            for key in 0..20u64 {
                extensions.set_bytesvalue(2 * key + 1, vec![2u8; 60_000]);
            }
            if let Ok(mut object) = group.create(1, Some(extensions)) {
                let _ = object.write(Bytes::from_static(b"x"));
            }
        }
        _ => {}
    }
}

/// The peer's control stream, shared between the engine and the GOAWAY
/// sender (moq-transport has no call that sends GOAWAY).
#[derive(Clone, Default)]
struct ControlSlot(Arc<Mutex<Option<SharedSend>>>);

type SharedSend = Arc<tokio::sync::Mutex<web_transport_quinn::SendStream>>;

impl ControlSlot {
    async fn send_goaway(&self, uri: &str) -> Result<(), String> {
        let stream = self
            .0
            .lock()
            .unwrap()
            .clone()
            .ok_or("no control stream yet")?;
        let mut message = BytesMut::new();
        Message::GoAway(GoAway {
            uri: SessionUri(uri.to_string()),
        })
        .encode(&mut message)
        .map_err(|e| format!("cannot encode GOAWAY: {e:?}"))?;
        // The engine writes whole messages under the same lock, so this one
        // goes between two of them.
        let mut stream = stream.lock().await;
        wt::SendStream::write_all(&mut *stream, &message)
            .await
            .map_err(|e| e.to_string())
    }
}

/// quinn's session, with the first unidirectional stream it opens (the
/// control stream) shared with [`ControlSlot`].
#[derive(Clone)]
struct Injecting {
    inner: web_transport_quinn::Session,
    control: ControlSlot,
}

enum PeerSend {
    Plain(web_transport_quinn::SendStream),
    Shared(SharedSend),
}

impl wt::Session for Injecting {
    type SendStream = PeerSend;
    type RecvStream = web_transport_quinn::RecvStream;
    type Error = SessionError;

    async fn accept_uni(&self) -> Result<Self::RecvStream, SessionError> {
        self.inner.accept_uni().await
    }
    async fn accept_bi(&self) -> Result<(PeerSend, Self::RecvStream), SessionError> {
        let (send, recv) = self.inner.accept_bi().await?;
        Ok((PeerSend::Plain(send), recv))
    }
    async fn open_bi(&self) -> Result<(PeerSend, Self::RecvStream), SessionError> {
        let (send, recv) = self.inner.open_bi().await?;
        Ok((PeerSend::Plain(send), recv))
    }
    async fn open_uni(&self) -> Result<PeerSend, SessionError> {
        let send = self.inner.open_uni().await?;
        let mut control = self.control.0.lock().unwrap();
        if control.is_some() {
            return Ok(PeerSend::Plain(send));
        }
        let shared = Arc::new(tokio::sync::Mutex::new(send));
        *control = Some(shared.clone());
        Ok(PeerSend::Shared(shared))
    }
    fn send_datagram(&self, payload: Bytes) -> Result<(), SessionError> {
        self.inner.send_datagram(payload)
    }
    async fn recv_datagram(&self) -> Result<Bytes, SessionError> {
        self.inner.read_datagram().await
    }
    fn max_datagram_size(&self) -> usize {
        self.inner.max_datagram_size()
    }
    fn close(&self, code: u32, reason: &str) {
        self.inner.close(code, reason.as_bytes());
    }
    async fn closed(&self) -> SessionError {
        self.inner.closed().await
    }
}

impl wt::SendStream for PeerSend {
    type Error = WriteError;

    async fn write(&mut self, buf: &[u8]) -> Result<usize, WriteError> {
        match self {
            PeerSend::Plain(s) => wt::SendStream::write(s, buf).await,
            // Whole buffer under one lock, so a GOAWAY never splits a message.
            PeerSend::Shared(s) => {
                wt::SendStream::write_all(&mut *s.lock().await, buf).await?;
                Ok(buf.len())
            }
        }
    }
    fn set_priority(&mut self, order: u8) {
        if let PeerSend::Plain(s) = self {
            wt::SendStream::set_priority(s, order);
        }
    }
    fn finish(&mut self) -> Result<(), WriteError> {
        match self {
            PeerSend::Plain(s) => wt::SendStream::finish(s),
            PeerSend::Shared(s) => match s.try_lock() {
                Ok(mut s) => wt::SendStream::finish(&mut *s),
                Err(_) => Err(WriteError::ClosedStream),
            },
        }
    }
    fn reset(&mut self, code: u32) {
        match self {
            PeerSend::Plain(s) => wt::SendStream::reset(s, code),
            PeerSend::Shared(s) => {
                if let Ok(mut s) = s.try_lock() {
                    wt::SendStream::reset(&mut *s, code);
                }
            }
        }
    }
    async fn closed(&mut self) -> Result<(), WriteError> {
        match self {
            PeerSend::Plain(s) => wt::SendStream::closed(s).await,
            PeerSend::Shared(s) => {
                let stream = s.clone();
                // Waits without holding the lock for long: poll the state.
                loop {
                    if let Ok(mut s) = stream.try_lock() {
                        if let Ok(r) = tokio::time::timeout(
                            Duration::from_millis(100),
                            wt::SendStream::closed(&mut *s),
                        )
                        .await
                        {
                            return r;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}
