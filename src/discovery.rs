//! Namespace discovery: SUBSCRIBE_NAMESPACE (draft 18 §10.18). The peer
//! answers REQUEST_OK, then reports every namespace under the prefix as it
//! appears (NAMESPACE) and disappears (NAMESPACE_DONE).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use moq_transport::coding::{KeyValuePairs, TrackNamespace, TrackNamespacePrefix};
use moq_transport::data::DataStreamResetCode;

use moq_transport::serve::ServeError;
use moq_transport::session::{NamespaceEvent, SessionError, SubscribeNamespace};

use crate::dispatch::Strand;
use crate::error::{request_error_code, Code, Error, Result};
use crate::names::Namespace;
use crate::runtime::{bounded, catch_panic, runtime, wait_here};
use crate::session::{Link, Session, Shared};

/// Where a namespace watch's events go. Called on a callback thread of the
/// library, one call at a time and in the order the peer sent them;
/// `on_closed` exactly once and last (unless the `NamespaceWatch` is dropped
/// first: then no further call); dropped after that.
pub trait NamespaceHandler: Send + 'static {
    /// A namespace under the prefix appeared (it is the full namespace, prefix
    /// included). Namespaces that already exist when the watch starts are
    /// reported this way too.
    fn on_added(&mut self, namespace: Namespace);
    /// A namespace reported by `on_added` went away.
    fn on_removed(&mut self, namespace: Namespace);
    /// The watch ended: the session closed, or the peer ended the request.
    /// Always an error today: draft 18 gives the publisher no graceful way to
    /// end a SUBSCRIBE_NAMESPACE, so every end the library can see is one.
    fn on_closed(&mut self, result: Result<()>);
}

/// A live SUBSCRIBE_NAMESPACE. Dropping it cancels the request on the wire
/// and aborts the task: the handler gets no further calls (not even
/// `on_closed`); from a user thread, none is running when the drop returns
/// (see [`crate::dispatch::Strand::close`]).
pub struct NamespaceWatch {
    prefix: Namespace,
    task: tokio::task::AbortHandle,
    events: Strand<Box<dyn NamespaceHandler>>,
    _shared: Arc<Shared>,
}

impl NamespaceWatch {
    pub fn prefix(&self) -> &Namespace {
        &self.prefix
    }
}

impl Drop for NamespaceWatch {
    fn drop(&mut self) {
        self.events.close();
        // Aborting drops the task's `Request`, which cancels the request on
        // the wire (see there), and the engine releases the prefix so it may
        // be watched again.
        self.task.abort();
    }
}

/// The engine's SUBSCRIBE_NAMESPACE, cancelled properly when dropped.
///
/// Dropping a bare `SubscribeNamespace` FINs the request half and drops the
/// response reader, and quinn's `RecvStream::drop` then sends STOP_SENDING
/// with the raw QUIC code 0, which is not a WebTransport application code. A
/// peer still writing NAMESPACE / NAMESPACE_DONE on that stream gets
/// `WriteError::InvalidStopped(0)`, which moq-transport 0.17 counts as
/// session-fatal: moq-relay-ietf 0.8.0 then closes the whole session (code 1,
/// "session protocol error"). `reset_request` instead resets the request half
/// and stops the response half with CANCELLED, a valid code, which the peer
/// treats as the end of this one request.
struct Request(SubscribeNamespace);

impl Drop for Request {
    fn drop(&mut self) {
        self.0.reset_request(DataStreamResetCode::Cancelled as u32);
    }
}

impl std::ops::Deref for Request {
    type Target = SubscribeNamespace;
    fn deref(&self) -> &SubscribeNamespace {
        &self.0
    }
}

impl Session {
    /// Sends SUBSCRIBE_NAMESPACE for `prefix` and waits for the peer's answer,
    /// bounded by the session's request timeout; then reports namespaces under
    /// the prefix to `handler`.
    ///
    /// One session may not watch overlapping prefixes (one a prefix of the
    /// other) at once: that is refused with `Code::Duplicate`.
    pub fn subscribe_namespace(
        &self,
        prefix: &Namespace,
        handler: Box<dyn NamespaceHandler>,
    ) -> Result<NamespaceWatch> {
        wait_here(
            "Session::subscribe_namespace",
            self.subscribe_namespace_request(prefix, handler)?,
        )
    }

    /// The request behind [`Session::subscribe_namespace`], for its
    /// non-blocking form: checked now, sent and answered (bounded by the
    /// request timeout) when the returned future runs.
    pub fn subscribe_namespace_request(
        &self,
        prefix: &Namespace,
        handler: Box<dyn NamespaceHandler>,
    ) -> Result<impl Future<Output = Result<NamespaceWatch>> + Send + 'static> {
        self.shared.check_open("Session::subscribe_namespace")?;
        let prefix = prefix.clone();
        let shared = self.shared.clone();
        Ok(async move {
            let (link, watch) = bounded(
                "Session::subscribe_namespace",
                shared.request_timeout,
                async {
                    let link = shared.link("Session::subscribe_namespace").await?;
                    let watch = send_watch(&link, &prefix).await?;
                    Ok((link, watch))
                },
            )
            .await?;
            let events = Strand::new(handler);
            let task = runtime().spawn(watch_namespaces(
                shared.clone(),
                link,
                watch,
                prefix.clone(),
                events.clone(),
            ));
            Ok(NamespaceWatch {
                prefix,
                task: task.abort_handle(),
                events,
                _shared: shared,
            })
        })
    }
}

/// Sends SUBSCRIBE_NAMESPACE for `prefix` on `link` and waits for the OK.
async fn send_watch(link: &Link, prefix: &Namespace) -> Result<Request> {
    let text = prefix.to_string();
    let engine_prefix = TrackNamespacePrefix {
        fields: prefix.to_engine().fields,
    };
    // Wrapped at once: a timeout drops it, and that cancel must not end the
    // session either.
    let watch = Request(
        link.subscriber
            .clone()
            .subscribe_namespace(engine_prefix, KeyValuePairs::default())
            .await
            .map_err(|e| start_error(&e, &text))?,
    );
    watch.ok().await.map_err(|e| refused(&e, &text))?;
    Ok(watch)
}

/// Reports the namespaces until the watch ends; under a reconnect policy, a
/// watch whose connection was lost is made again on the next connection
/// (trying again as the policy waits while the peer refuses), and only
/// namespaces not reported yet are reported as added.
async fn watch_namespaces(
    shared: Arc<Shared>,
    mut link: Arc<Link>,
    mut watch: Request,
    prefix: Namespace,
    events: Strand<Box<dyn NamespaceHandler>>,
) {
    let mut known = HashSet::new();
    let result = loop {
        let result = catch_panic("watching namespaces", deliver(&watch, &events, &mut known)).await;
        // Cancel on the wire (if still open) before going on.
        drop(watch);
        if !shared.follows_reconnect(&link).await {
            break result;
        }
        let prefix = &prefix;
        let again = shared
            .again_on_next_link(
                link.number,
                &format!("watching \"{prefix}\" again"),
                crate::log::Level::Warn,
                shared.request_timeout,
                |next| async move { send_watch(&next, prefix).await },
            )
            .await;
        match again {
            Some((next, again)) => (link, watch) = (next, again),
            None => break result,
        }
    };
    events.post_final(move |handler| handler.on_closed(result));
}

/// Namespace events waiting for the user at most: a watcher that falls this
/// far behind is ended (`Lagging`) rather than let memory grow.
const MAX_PENDING_EVENTS: usize = 65536;

/// Reports each namespace once while it exists: `known` holds those
/// reported as added and not yet as removed (kept across connections).
async fn deliver(
    watch: &SubscribeNamespace,
    events: &Strand<Box<dyn NamespaceHandler>>,
    known: &mut HashSet<Namespace>,
) -> Result<()> {
    loop {
        if events.pending() >= MAX_PENDING_EVENTS {
            return Err(Error::new(
                Code::Lagging,
                format!(
                    "the namespace watch fell behind: {MAX_PENDING_EVENTS} events waited for its \
                     callbacks"
                ),
            ));
        }
        match watch.next().await {
            Ok(Some(NamespaceEvent::Added(ns))) => {
                if let Some(ns) = from_wire(&ns).filter(|ns| known.insert(ns.clone())) {
                    events.post(move |handler| handler.on_added(ns));
                }
            }
            Ok(Some(NamespaceEvent::Removed(ns))) => {
                if let Some(ns) = from_wire(&ns).filter(|ns| known.remove(ns)) {
                    events.post(move |handler| handler.on_removed(ns));
                }
            }
            // The engine dropped the request's receive side: the peer finished
            // or reset the response stream, or the session ended. The engine
            // does not say which.
            Ok(None) => {
                return Err(Error::closed(
                    "the namespace watch ended: the session closed or the peer ended the request",
                ))
            }
            Err(err) => {
                return Err(Error::from_serve(&err, "the namespace watch ended"));
            }
        }
    }
}

/// The namespace as the library's type, or `None` (skipped, logged) when a
/// field is not UTF-8: `Namespace` holds text only. The wire decoder already
/// refuses empty fields and more than 32 of them.
fn from_wire(ns: &TrackNamespace) -> Option<Namespace> {
    let fields: Vec<&[u8]> = ns.fields.iter().map(|f| f.value.as_slice()).collect();
    match Namespace::from_parts(&fields) {
        Ok(ns) => Some(ns),
        Err(err) => {
            tracing::debug!(
                namespace = %ns,
                "skipping a discovered namespace the library cannot represent: {}",
                err.message
            );
            None
        }
    }
}

fn start_error(err: &SessionError, prefix: &str) -> Error {
    match err {
        SessionError::Serve(ServeError::Duplicate) => Error::new(
            Code::Duplicate,
            format!(
                "this session already watches a prefix overlapping \"{prefix}\"; MoQT allows one \
                 SUBSCRIBE_NAMESPACE per overlapping prefix per session: drop the other watch, \
                 or use a second session"
            ),
        ),
        _ => Error::from_session(err, &format!("watching namespaces under \"{prefix}\"")),
    }
}

fn refused(err: &ServeError, prefix: &str) -> Error {
    let context = format!("the peer refused to report namespaces under \"{prefix}\"");
    match err {
        ServeError::Closed(code) => Error::new(
            request_error_code(*code),
            format!("{context} (REQUEST_ERROR code {code:#x})"),
        ),
        _ => Error::from_serve(err, &context),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moq_transport::coding::TupleField;

    #[test]
    fn wire_namespaces_that_are_not_text_are_skipped() {
        let mut ns = TrackNamespace::new();
        ns.add(TupleField::from_utf8("live"));
        ns.add(TupleField::from_utf8("cam1"));
        assert_eq!(from_wire(&ns).unwrap().parts(), ["live", "cam1"]);

        let mut bad = TrackNamespace::new();
        bad.add(TupleField::from_utf8("live"));
        bad.add(TupleField {
            value: vec![0xff, 0xfe],
        });
        assert!(from_wire(&bad).is_none());
    }
}
