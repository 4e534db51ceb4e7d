//! The transport the engine runs on: quinn's WebTransport (or raw QUIC)
//! session, adapted where moq-transport 0.17 falls short of MoQT.
//!
//! - Priorities. The engine hands a subgroup's MoQT publisher priority to
//!   `SendStream::set_priority` unchanged, but quinn sends the stream with the
//!   *higher* number first while MoQT means *lower* number = more important.
//!   [`quinn_priority`] maps one onto the other, and streams the engine never
//!   prioritizes get a deliberate place: the control stream and request
//!   streams above every data stream, FETCH streams at the MoQT default.
//! - GOAWAY. The engine reads GOAWAY from the peer's control stream and only
//!   logs it. [`ControlTap`] watches the bytes the engine reads from that
//!   stream (without changing them) and reports GOAWAY with its new session
//!   URI to the session's [`GoawayNotice`].
//! - Back-pressure. The engine reads every data stream as fast as it arrives,
//!   whoever consumes it. [`ReadGate`] holds those reads back while a
//!   subscription that asked to pause has no room, so QUIC flow control
//!   pushes back on the peer instead of memory growing here.
//! - Limits. The engine buffers whatever a data stream carries. Each data
//!   stream has a [`StreamGuard`] that follows its framing one chunk ahead of
//!   the engine and stops it when it carries too much, or nobody wants it.
//! - Receive buffers. What a data stream yields is copied out of quinn's
//!   receive buffer (shared by a batch of packets of many streams) into
//!   blocks of the stream's own, so what the engine and the user keep is
//!   what they hold, give or take a block ([`ChunkCopies`]).
//! - Bounded publish. The engine keeps what a subscriber was not sent yet,
//!   however far behind it is. Each outgoing data stream has a [`SendTap`]
//!   that counts what it handed to QUIC, and resets it when its subscriber
//!   fell so far behind that its subgroup is dropped (send_backlog.rs).
//!
//! Errors stay quinn's own types, so the engine classifies them as before.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use moq_transport::coding::Decode;
use moq_transport::message::{wire_id, GoAway};
use moq_transport::reexports::web_transport_trait as wt;
use web_transport_quinn::{ReadError, SessionError, WriteError};

use crate::send_backlog::{SendTap, SendTracker, SentStream, DROPPED_STREAM_CODE};
use crate::stream_guard::{StreamGuard, StreamPolicy};

/// quinn priority of the control and request streams: above any data
/// stream, so a subscriber's UNSUBSCRIBE or a SUBSCRIBE_OK never waits behind
/// media.
const CONTROL_PRIORITY: i32 = 256;

/// MoQT priority of data streams the engine opens without a priority (FETCH
/// responses): the middle of the range, like the default publisher priority.
const UNPRIORITIZED_MOQT_PRIORITY: u8 = 128;

/// quinn priority for a MoQT priority: MoQT sends 0 first and 255 last,
/// quinn sends the larger number first.
pub(crate) fn quinn_priority(moqt: u8) -> i32 {
    255 - i32::from(moqt)
}

/// The engine's view of the connection: quinn's session with MoQT priority
/// order and a GOAWAY tap on the peer's control stream.
#[derive(Clone)]
pub(crate) struct QuicAdapter {
    inner: web_transport_quinn::Session,
    /// The engine opens its control stream first and accepts the peer's
    /// first, before anything else can: these mark whether that happened.
    control_opened: Arc<AtomicBool>,
    control_accepted: Arc<AtomicBool>,
    goaway: Arc<GoawayNotice>,
    gate: Arc<ReadGate>,
    policy: Arc<StreamPolicy>,
    sending: Arc<SendTracker>,
}

impl QuicAdapter {
    pub(crate) fn new(
        inner: web_transport_quinn::Session,
        goaway: Arc<GoawayNotice>,
        gate: Arc<ReadGate>,
        policy: Arc<StreamPolicy>,
        sending: Arc<SendTracker>,
    ) -> Self {
        Self {
            inner,
            control_opened: Arc::new(AtomicBool::new(false)),
            control_accepted: Arc::new(AtomicBool::new(false)),
            goaway,
            gate,
            policy,
            sending,
        }
    }
}

impl wt::Session for QuicAdapter {
    type SendStream = PrioritizedSend;
    type RecvStream = TappedRecv;
    type Error = SessionError;

    async fn accept_uni(&self) -> Result<TappedRecv, SessionError> {
        let stream = self.inner.accept_uni().await?;
        // The peer's first unidirectional stream is its control stream; the
        // others carry data, and only those wait at the gate.
        if !self.control_accepted.swap(true, Ordering::AcqRel) {
            return Ok(TappedRecv {
                inner: stream,
                tap: Some(ControlTap::new(self.goaway.clone())),
                data: None,
            });
        }
        Ok(TappedRecv {
            inner: stream,
            tap: None,
            data: Some(DataStream {
                gate: self.gate.clone(),
                guard: StreamGuard::default(),
                policy: self.policy.clone(),
                stopped: None,
                copies: ChunkCopies::default(),
            }),
        })
    }

    async fn accept_bi(&self) -> Result<(PrioritizedSend, TappedRecv), SessionError> {
        let (send, recv) = self.inner.accept_bi().await?;
        Ok((
            PrioritizedSend::new(send, CONTROL_PRIORITY),
            TappedRecv::plain(recv),
        ))
    }

    async fn open_bi(&self) -> Result<(PrioritizedSend, TappedRecv), SessionError> {
        let (send, recv) = self.inner.open_bi().await?;
        Ok((
            PrioritizedSend::new(send, CONTROL_PRIORITY),
            TappedRecv::plain(recv),
        ))
    }

    async fn open_uni(&self) -> Result<PrioritizedSend, SessionError> {
        let send = self.inner.open_uni().await?;
        // The first is the control stream; the others carry data.
        if !self.control_opened.swap(true, Ordering::AcqRel) {
            return Ok(PrioritizedSend::new(send, CONTROL_PRIORITY));
        }
        let mut stream = PrioritizedSend::new(send, quinn_priority(UNPRIORITIZED_MOQT_PRIORITY));
        stream.tap = Some(SendTap::new(self.sending.clone()));
        Ok(stream)
    }

    fn send_datagram(&self, payload: Bytes) -> Result<(), SessionError> {
        self.inner.send_datagram(payload)
    }

    async fn recv_datagram(&self) -> Result<Bytes, SessionError> {
        self.inner.read_datagram().await
    }

    /// 0 when the peer does not accept datagrams (web-transport-quinn's own
    /// `max_datagram_size` panics then).
    fn max_datagram_size(&self) -> usize {
        web_transport_quinn::quinn::Connection::max_datagram_size(&self.inner).unwrap_or(0)
    }

    fn protocol(&self) -> Option<&str> {
        wt::Session::protocol(&self.inner)
    }

    fn close(&self, code: u32, reason: &str) {
        self.inner.close(code, reason.as_bytes());
    }

    async fn closed(&self) -> SessionError {
        self.inner.closed().await
    }
}

/// A send stream whose `set_priority` takes a MoQT priority; a data stream
/// also has a [`SendTap`].
pub(crate) struct PrioritizedSend {
    inner: web_transport_quinn::SendStream,
    tap: Option<SendTap>,
}

impl PrioritizedSend {
    fn new(inner: web_transport_quinn::SendStream, quinn_priority: i32) -> Self {
        // Fails only on a stream already closed, where priority is moot.
        inner.set_priority(quinn_priority).ok();
        Self { inner, tap: None }
    }

    /// Resets a stream whose subgroup was dropped for its lagging
    /// subscriber; the engine sees the write fail and moves on.
    fn drop_subgroup(&mut self) -> WriteError {
        wt::SendStream::reset(&mut self.inner, DROPPED_STREAM_CODE);
        if let Some(tap) = &mut self.tap {
            tap.close();
        }
        WriteError::ClosedStream
    }
}

impl wt::SendStream for PrioritizedSend {
    type Error = WriteError;

    async fn write(&mut self, buf: &[u8]) -> Result<usize, WriteError> {
        let Self { inner, tap } = self;
        let Some(tap) = tap else {
            return inner.write(buf).await;
        };
        if tap.followed().is_some_and(SentStream::is_dropped) {
            return Err(self.drop_subgroup());
        }
        // A write waits for flow control while the path is slow: the drop
        // must not wait for it. (The write is polled first: one that is
        // ready at once, the usual case, never arms the drop's wake-up.)
        let written = tokio::select! {
            biased;
            written = inner.write(buf) => Some(written?),
            () = SendTap::until_dropped(tap.followed()) => None,
        };
        match written {
            Some(written) => {
                tap.wrote(&buf[..written]);
                Ok(written)
            }
            None => Err(self.drop_subgroup()),
        }
    }

    async fn write_chunk(&mut self, mut chunk: Bytes) -> Result<(), WriteError> {
        if self.tap.is_none() {
            return self.inner.write_chunk(chunk).await;
        }
        while !chunk.is_empty() {
            let written = self.write(&chunk).await?;
            chunk.advance(written);
        }
        Ok(())
    }

    fn set_priority(&mut self, moqt_priority: u8) {
        self.inner.set_priority(quinn_priority(moqt_priority)).ok();
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        if let Some(tap) = &mut self.tap {
            tap.finished();
        }
        wt::SendStream::finish(&mut self.inner)
    }

    fn reset(&mut self, code: u32) {
        if let Some(tap) = &mut self.tap {
            tap.close();
        }
        wt::SendStream::reset(&mut self.inner, code);
    }

    /// Resolves once the peer acknowledged the whole stream (or stopped it).
    async fn closed(&mut self) -> Result<(), WriteError> {
        let closed = wt::SendStream::closed(&mut self.inner).await;
        if let Some(tap) = &mut self.tap {
            tap.acknowledged();
        }
        closed
    }
}

/// A receive stream; the peer's control stream carries a [`ControlTap`], its
/// data streams wait at the session's [`ReadGate`] and pass a [`StreamGuard`].
pub(crate) struct TappedRecv {
    inner: web_transport_quinn::RecvStream,
    tap: Option<ControlTap>,
    data: Option<DataStream>,
}

/// What a data stream passes before the engine reads it.
struct DataStream {
    gate: Arc<ReadGate>,
    guard: StreamGuard,
    policy: Arc<StreamPolicy>,
    /// Set once the guard stopped the stream: every later read is a reset.
    stopped: Option<u32>,
    /// Where the stream's chunks are copied to.
    copies: ChunkCopies,
}

/// Copies a stream's chunks out of quinn's receive buffer, which holds a
/// whole batch of packets of many streams: the engine keeps a subgroup's
/// chunks until the stream ends (and the user may keep a payload far
/// longer), and one kept chunk would keep the batch. With streams arriving
/// interleaved, that held every buffer received while any of them was open:
/// a subscriber that fell behind grew by 270-320 MiB where the chunks
/// themselves came to ~50. Copies go into blocks of the stream's own, so a
/// kept chunk keeps at most one block of its stream, and a block serves
/// many small chunks (one allocation per chunk cost ~2 µs per 1 KiB object).
#[derive(Default)]
struct ChunkCopies {
    block: BytesMut,
}

/// Bytes of one block; a larger chunk gets a block of its size.
const COPY_BLOCK: usize = 16 * 1024;

impl ChunkCopies {
    fn copy(&mut self, chunk: &[u8]) -> Bytes {
        if self.block.capacity() - self.block.len() < chunk.len() {
            self.block = BytesMut::with_capacity(COPY_BLOCK.max(chunk.len()));
        }
        self.block.extend_from_slice(chunk);
        self.block.split().freeze()
    }
}

impl TappedRecv {
    fn plain(inner: web_transport_quinn::RecvStream) -> Self {
        Self {
            inner,
            tap: None,
            data: None,
        }
    }
}

impl wt::RecvStream for TappedRecv {
    type Error = ReadError;

    // The engine reads with read_chunk only; `read` is kept correct for the
    // control stream's sake but does not guard data streams.
    async fn read(&mut self, dst: &mut [u8]) -> Result<Option<usize>, ReadError> {
        if let Some(data) = &self.data {
            data.gate.open().await;
        }
        let read = wt::RecvStream::read(&mut self.inner, dst).await?;
        if let (Some(tap), Some(n)) = (self.tap.as_mut(), read) {
            tap.observe(&dst[..n]);
        }
        Ok(read)
    }

    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, ReadError> {
        if let Some(data) = &self.data {
            if let Some(code) = data.stopped {
                return Err(ReadError::Reset(code));
            }
            data.gate.open().await;
        }
        let chunk = wt::RecvStream::read_chunk(&mut self.inner, max).await?;
        if let (Some(tap), Some(chunk)) = (self.tap.as_mut(), chunk.as_ref()) {
            tap.observe(chunk);
        }
        if let (Some(data), Some(bytes)) = (self.data.as_mut(), chunk.as_ref()) {
            if let Err(stop) = data.guard.inspect(bytes, &data.policy) {
                // STOP_SENDING to the peer; to the engine a reset, which ends
                // this subgroup only, once it has the objects before it.
                wt::RecvStream::stop(&mut self.inner, stop.code);
                if !stop.reason.is_empty() {
                    crate::log::warn(&stop.reason);
                }
                data.stopped = Some(stop.code);
                if stop.keep > 0 {
                    return Ok(Some(data.copies.copy(&bytes[..stop.keep])));
                }
                return Err(ReadError::Reset(stop.code));
            }
            return Ok(Some(data.copies.copy(bytes)));
        }
        Ok(chunk)
    }

    fn stop(&mut self, code: u32) {
        wt::RecvStream::stop(&mut self.inner, code);
    }

    async fn closed(&mut self) -> Result<(), ReadError> {
        wt::RecvStream::closed(&mut self.inner).await
    }
}

/// Follows the message framing of the peer's control stream (type varint,
/// 16-bit length, payload; SETUP is framed the same way) and reports GOAWAY.
/// It only observes: the engine still decodes and enforces everything, so a
/// malformed stream ends the session there, not here.
struct ControlTap {
    pending: BytesMut,
    notice: Arc<GoawayNotice>,
    /// Set once the bytes stop making sense; then the tap stays silent.
    lost: bool,
}

impl ControlTap {
    fn new(notice: Arc<GoawayNotice>) -> Self {
        Self {
            pending: BytesMut::new(),
            notice,
            lost: false,
        }
    }

    fn observe(&mut self, bytes: &[u8]) {
        if self.lost {
            return;
        }
        self.pending.extend_from_slice(bytes);
        while let Some((kind, payload)) = self.next_message() {
            if kind == wire_id::GoAway {
                match GoAway::decode(&mut payload.clone()) {
                    Ok(goaway) => self.notice.received(goaway.uri.0),
                    Err(_) => self.lost = true,
                }
            }
        }
    }

    /// Splits off the next whole message, if it has arrived.
    fn next_message(&mut self) -> Option<(u64, Bytes)> {
        let mut header = &self.pending[..];
        let kind = u64::decode(&mut header).ok()?;
        if header.remaining() < 2 {
            return None;
        }
        let len = usize::from(header.get_u16());
        let header_len = self.pending.len() - header.remaining();
        if header.remaining() < len {
            return None;
        }
        let mut message = self.pending.split_to(header_len + len).freeze();
        message.advance(header_len);
        Some((kind, message))
    }
}

/// Holds back the reads of a session's incoming data streams while any
/// [`Paused`] guard lives: the engine then stops draining QUIC, whose flow
/// control holds the peer back.
#[derive(Default)]
pub(crate) struct ReadGate {
    paused: AtomicUsize,
    opened: tokio::sync::Notify,
}

/// Keeps the gate shut while it lives.
pub(crate) struct Paused(Arc<ReadGate>);

impl ReadGate {
    pub(crate) fn pause(self: &Arc<Self>) -> Paused {
        self.paused.fetch_add(1, Ordering::AcqRel);
        Paused(self.clone())
    }

    /// Completes when no guard holds the gate shut (at once, usually).
    async fn open(&self) {
        loop {
            let opened = self.opened.notified();
            tokio::pin!(opened);
            opened.as_mut().enable();
            if self.paused.load(Ordering::Acquire) == 0 {
                return;
            }
            opened.await;
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if self.0.paused.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.opened.notify_waiters();
        }
    }
}

/// Receives the session's GOAWAY, at most once.
pub type GoawaySink = Box<dyn FnOnce(String) + Send>;

/// Where a GOAWAY goes: to the registered sink, or kept for one set later;
/// and to the session's supervisor, which moves a reconnecting session to
/// the URI it names.
pub(crate) struct GoawayNotice {
    state: Mutex<GoawayState>,
    /// The URI of the GOAWAY received on the current connection.
    arrived: tokio::sync::watch::Sender<Option<String>>,
}

impl Default for GoawayNotice {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            arrived: tokio::sync::watch::Sender::new(None),
        }
    }
}

#[derive(Default)]
struct GoawayState {
    /// The new session URI of the GOAWAY received, "" if it named none.
    uri: Option<String>,
    sink: Option<GoawaySink>,
}

impl GoawayNotice {
    /// Registers the sink, replacing an earlier one. If the GOAWAY already
    /// came, the sink gets it now, on this thread.
    pub(crate) fn listen(&self, sink: GoawaySink) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.uri.clone() {
            Some(uri) => {
                drop(state);
                sink(uri);
            }
            None => state.sink = Some(sink),
        }
    }

    /// Releases the registered sink (the session ended): no GOAWAY is
    /// reported after the terminal event.
    pub(crate) fn clear(&self) {
        let sink = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sink
            .take();
        drop(sink);
    }

    /// Completes with the URI of a GOAWAY received on the current connection
    /// (at once if one was).
    pub(crate) async fn next(&self) -> String {
        let mut arrived = self.arrived.subscribe();
        let uri = match arrived.wait_for(Option::is_some).await {
            Ok(uri) => uri.clone(),
            Err(_) => None,
        };
        match uri {
            Some(uri) => uri,
            None => std::future::pending().await,
        }
    }

    /// The supervisor has acted on the GOAWAY received.
    pub(crate) fn taken(&self) {
        self.arrived.send_replace(None);
    }

    /// A new connection replaces the one the GOAWAY came on: a GOAWAY on it
    /// is news again (to a sink registered again, and to the supervisor).
    pub(crate) fn new_connection(&self) {
        self.arrived.send_replace(None);
        self.state.lock().unwrap_or_else(|e| e.into_inner()).uri = None;
    }

    fn received(&self, uri: String) {
        self.arrived.send_replace(Some(uri.clone()));
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // A second GOAWAY is a protocol violation the engine answers by
        // closing the session; report only the first.
        if state.uri.is_some() {
            return;
        }
        state.uri = Some(uri.clone());
        if let Some(sink) = state.sink.take() {
            drop(state);
            // The session's sink only hands the GOAWAY to its strand: the
            // control-stream read is not held up by user code.
            sink(uri);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_copied_into_blocks_of_the_stream_own() {
        let mut copies = ChunkCopies::default();
        let batch = Bytes::from(vec![7u8; 64 * 1024]);
        let first = copies.copy(&batch[..1000]);
        let second = copies.copy(&batch[1000..2500]);
        assert_eq!(
            (&first[..], &second[..]),
            (&batch[..1000], &batch[1000..2500])
        );
        // Not the receive buffer: copies, side by side in one block.
        assert_ne!(first.as_ptr(), batch.as_ptr());
        assert_eq!(second.as_ptr(), first.as_ptr().wrapping_add(1000));
        // A full block makes way for a new one; a chunk larger than a block
        // gets one of its size.
        let rest = copies.copy(&batch[..COPY_BLOCK - 2500]);
        let next = copies.copy(&batch[..1]);
        assert_ne!(next.as_ptr(), rest.as_ptr().wrapping_add(rest.len()));
        let large = copies.copy(&batch[..COPY_BLOCK + 1]);
        assert_eq!(large.len(), COPY_BLOCK + 1);
        assert_eq!(&large[..], &batch[..COPY_BLOCK + 1]);
    }
}
