//! FETCH, subscriber side (draft 18 §10.12): ask a publisher (usually through
//! a relay) for objects it has already published, either a standalone range or
//! a joining fetch that ends exactly where a live subscription begins.
//!
//! Like a subscription, a fetch blocks only until the publisher answers
//! (FETCH_OK or REQUEST_ERROR, bounded by the session's request timeout); the
//! objects are then delivered in order, one call at a time, on a library
//! thread, followed by exactly one terminal event.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moq_transport::coding::{KeyValuePairs, Location};
use moq_transport::data::FetchRecord;
use moq_transport::message::{FetchOk, FetchType, RequestError, RequestErrorCode, StandaloneFetch};
use moq_transport::serve::ServeError;
use moq_transport::session::{self as engine, SessionError};

use crate::bytes::PayloadJoiner;
use crate::delivery::Delivery;
use crate::error::{request_error_code, Code, Error, Result};
use crate::inbox::{Overflow, ReceiveBudget};
use crate::names::{self, Namespace};
use crate::object;
use crate::runtime::{bounded, catch_panic, runtime, wait_here};
use crate::session::{Link, Session, Shared};
use crate::subscribe::{ObjectHandler, ReceivedObject, Subscription};

/// Largest piece of a fetched payload read at once. Objects arrive whole: a
/// larger payload is read in several pieces and joined (one copy).
const READ_CHUNK: usize = 1024 * 1024;

/// The objects a standalone FETCH asks for. Both ends are **inclusive**:
/// `start_group`/`start_object` is the first object wanted, `end_group` /
/// `end_object` the last; `end_object: None` means "through the end of
/// `end_group`". Objects are delivered in ascending group order, ascending
/// object order within a group.
///
/// (On the wire, draft 18 encodes the end as "last object + 1", with object 0
/// meaning the whole group; the conversion is done here.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchRange {
    pub start_group: u64,
    pub start_object: u64,
    pub end_group: u64,
    /// Last object wanted in `end_group`; `None` = the whole group.
    pub end_object: Option<u64>,
}

impl FetchRange {
    /// Every object of groups `start_group..=end_group`.
    pub fn groups(start_group: u64, end_group: u64) -> Self {
        Self {
            start_group,
            start_object: 0,
            end_group,
            end_object: None,
        }
    }

    /// From `start_group`/`start_object` to `end_group`/`end_object`, both included.
    pub fn objects(start_group: u64, start_object: u64, end_group: u64, end_object: u64) -> Self {
        Self {
            start_group,
            start_object,
            end_group,
            end_object: Some(end_object),
        }
    }

    fn validate(&self) -> Result<()> {
        let start = (self.start_group, self.start_object);
        let end = (self.end_group, self.end_object.unwrap_or(u64::MAX));
        if end < start {
            return Err(Error::invalid_argument(format!(
                "fetch range ends at group {} object {} before it starts at group {} object {}: \
                 the end must not precede the start (both are inclusive)",
                self.end_group,
                self.end_object
                    .map_or("(whole group)".to_string(), |o| o.to_string()),
                self.start_group,
                self.start_object
            )));
        }
        Ok(())
    }

    /// (start, end) in the draft-18 FETCH encoding: end = last object + 1, or
    /// `{group, 0}` for the whole group (which also covers object 2^64-1).
    fn to_wire(self) -> (Location, Location) {
        let start = Location::new(self.start_group, self.start_object);
        let end = match self.end_object.and_then(|o| o.checked_add(1)) {
            Some(next) => Location::new(self.end_group, next),
            None => Location::new(self.end_group, 0),
        };
        (start, end)
    }
}

/// A FETCH the publisher accepted. Objects go to the handler given to
/// [`Session::fetch`] / [`Session::joining_fetch`]. Dropping the handle
/// cancels the fetch; the handler gets no further calls once the drop has
/// returned (unless the drop runs inside the handler itself).
pub struct Fetch {
    task: tokio::task::AbortHandle,
    delivery: Delivery,
    end_group: u64,
    end_object: Option<u64>,
    end_of_track: bool,
    _shared: Arc<Shared>,
}

impl Fetch {
    /// Last group the response covers (from FETCH_OK, inclusive). For a
    /// joining fetch this is the group of the subscription's joining location.
    pub fn end_group(&self) -> u64 {
        self.end_group
    }

    /// Last object the response covers in [`Self::end_group`] (inclusive);
    /// `None` = the whole group. For a joining fetch this is the object of the
    /// subscription's joining location: live objects up to and including
    /// (`end_group`, `end_object`) are duplicates of fetched ones.
    pub fn end_object(&self) -> Option<u64> {
        self.end_object
    }

    /// The publisher says the response reaches the track's final object.
    pub fn end_of_track(&self) -> bool {
        self.end_of_track
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        // No callback after this (see Strand::close); aborting drops the
        // engine's Fetch, which cancels an unfinished response (STOP_SENDING,
        // draft 18 §5.2).
        self.delivery.close();
        self.task.abort();
    }
}

impl Session {
    /// Standalone FETCH of `range` of a track. Blocks until the publisher
    /// answers, bounded by the session's request timeout; then delivers every
    /// object of the response, in order, to `handler.on_object`, and ends with
    /// one `handler.on_closed`: `Ok` when the response is complete.
    ///
    /// The publisher may answer with fewer objects than asked (it sends what it
    /// retains, and says where it stopped: [`Fetch::end_group`] /
    /// [`Fetch::end_object`]). Errors: `NotFound` when the publisher has no
    /// such track or none of the range, `Unsupported` when it does not answer
    /// FETCH at all, `Timeout` when nobody answers in time.
    pub fn fetch(
        &self,
        namespace: &Namespace,
        track: &[u8],
        range: FetchRange,
        handler: Box<dyn ObjectHandler>,
    ) -> Result<Fetch> {
        wait_here(
            "Session::fetch",
            self.fetch_request(namespace, track, range, handler)?,
        )
    }

    /// The request behind [`Session::fetch`], for its non-blocking form:
    /// checked now, sent and answered (bounded by the request timeout) when
    /// the returned future runs.
    pub fn fetch_request(
        &self,
        namespace: &Namespace,
        track: &[u8],
        range: FetchRange,
        handler: Box<dyn ObjectHandler>,
    ) -> Result<impl Future<Output = Result<Fetch>> + Send + 'static> {
        self.shared.check_open("Session::fetch")?;
        let name = names::track_name(namespace, track)?;
        range.validate()?;
        let full = format!("{namespace}/{name}");
        let (start, end) = range.to_wire();
        let standalone = StandaloneFetch {
            track_namespace: namespace.to_engine(),
            track_name: name.as_str().into(),
            start_location: start,
            end_location: end,
        };
        let shared = self.shared.clone();
        Ok(async move {
            let what = FetchKind::Standalone { full: &full };
            let (fetch, ok) = bounded("Session::fetch", shared.request_timeout, async {
                let link = shared.link("Session::fetch").await?;
                let fetch = link
                    .subscriber
                    .clone()
                    .fetch(standalone, KeyValuePairs::default())
                    .await
                    .map_err(|e| Error::from_serve(&e, &format!("sending FETCH for \"{full}\"")))?;
                answer(fetch, &what, &shared, &link).await
            })
            .await?;
            Ok(start_delivery(&shared, fetch, ok, handler))
        })
    }

    /// Joining FETCH (draft 18 §10.12.2): the `groups_before` groups before
    /// the group of `subscription`'s joining location, plus that group up to
    /// and including the joining location — i.e. exactly the history that
    /// precedes what the subscription delivers live. `groups_before = 0`
    /// fetches the joining group from its first object.
    ///
    /// The joining location is the largest object the publisher (the relay)
    /// had when it accepted the SUBSCRIBE; [`Fetch::end_group`] /
    /// [`Fetch::end_object`] report it, so live duplicates can be dropped.
    /// Keep the subscription alive until the fetch has ended.
    ///
    /// Blocking and delivery as for [`Session::fetch`]. `NotFound` when the
    /// publisher cannot serve the range: it had no object yet when it accepted
    /// the SUBSCRIBE (e.g. a relay that was not yet forwarding the track —
    /// subscribe again once objects flow), `groups_before` reaches before
    /// group 0, or the history is no longer retained.
    pub fn joining_fetch(
        &self,
        subscription: &Subscription,
        groups_before: u64,
        handler: Box<dyn ObjectHandler>,
    ) -> Result<Fetch> {
        wait_here(
            "Session::joining_fetch",
            self.joining_fetch_request(subscription, groups_before, handler)?,
        )
    }

    /// The request behind [`Session::joining_fetch`], for its non-blocking
    /// form, as [`Session::fetch_request`].
    pub fn joining_fetch_request(
        &self,
        subscription: &Subscription,
        groups_before: u64,
        handler: Box<dyn ObjectHandler>,
    ) -> Result<impl Future<Output = Result<Fetch>> + Send + 'static> {
        self.shared.check_open("Session::joining_fetch")?;
        if !Arc::ptr_eq(&subscription.shared, &self.shared) {
            return Err(Error::invalid_argument(
                "Session::joining_fetch: the subscription belongs to another session; a joining \
                 fetch must be sent on the session that holds the subscription",
            ));
        }
        let (subscribe_id, link_number) = subscription.request();
        let shared = self.shared.clone();
        Ok(async move {
            let what = FetchKind::Joining;
            let (fetch, ok) = bounded("Session::joining_fetch", shared.request_timeout, async {
                let link = shared.link("Session::joining_fetch").await?;
                if link.number != link_number {
                    return Err(Error::closed(
                        "Session::joining_fetch: the subscription was made again on a new \
                         connection since; its request ID changed: try again",
                    ));
                }
                let mut subscriber = link.subscriber.clone();
                let fetch = subscriber
                    .joining_fetch(
                        FetchType::RelativeJoining,
                        subscribe_id,
                        groups_before,
                        KeyValuePairs::default(),
                    )
                    .await
                    .map_err(|e| Error::from_serve(&e, "sending a joining FETCH"))?;
                answer(fetch, &what, &shared, &link).await
            })
            .await?;
            Ok(start_delivery(&shared, fetch, ok, handler))
        })
    }
}

/// Delivers an accepted fetch's objects to `handler`, from a task of its own.
fn start_delivery(
    shared: &Arc<Shared>,
    fetch: engine::Fetch,
    ok: FetchOk,
    handler: Box<dyn ObjectHandler>,
) -> Fetch {
    let end = ok.end_location;
    // A response is finite: while the handler is behind, stop reading it
    // (QUIC flow control then holds the publisher back) rather than drop.
    let budget = ReceiveBudget {
        overflow: Overflow::Pause,
        ..ReceiveBudget::default()
    };
    let delivery = Delivery::new(handler, budget, true);
    let feed = delivery.clone();
    let max_object_size = shared.max_object_size as u64;
    let task = runtime().spawn(async move {
        let mut fetch = fetch;
        let result = catch_panic(
            "receiving a fetch",
            deliver(&mut fetch, &feed, max_object_size),
        )
        .await;
        // Cancel (if unfinished) before reporting the end.
        drop(fetch);
        feed.finish(result);
    });
    Fetch {
        task: task.abort_handle(),
        delivery,
        end_group: end.group_id,
        // Draft 18 end encoding: object 0 = the whole group.
        end_object: end.object_id.checked_sub(1),
        end_of_track: ok.end_of_track,
        _shared: shared.clone(),
    }
}

enum FetchKind<'a> {
    Standalone { full: &'a str },
    Joining,
}

/// Waits for FETCH_OK (asked on `link`); maps a REQUEST_ERROR, or an end
/// without an answer, to an error that says why.
async fn answer(
    fetch: engine::Fetch,
    what: &FetchKind<'_>,
    shared: &Shared,
    link: &Link,
) -> Result<(engine::Fetch, FetchOk)> {
    match fetch.ok().await {
        Ok(ok) => Ok((fetch, ok)),
        Err(err) => Err(match fetch.rejection() {
            Some(rejection) => rejection_error(&rejection, what),
            None if err == ServeError::Cancel => unanswered(shared, link).await,
            None => Error::from_serve(&err, "waiting for the FETCH answer"),
        }),
    }
}

/// Why a FETCH ended without an answer. A fetch is not carried over to a
/// new connection: the caller decides whether the range is still wanted.
async fn unanswered(shared: &Shared, link: &Link) -> Error {
    // The connection's loss may be noticed a moment after the request's end.
    let _ = tokio::time::timeout(Duration::from_secs(1), link.lost()).await;
    if shared.is_closed() {
        Error::closed("the session closed before the FETCH was answered")
    } else if link.is_lost() {
        Error::closed(
            "the connection was lost before the FETCH was answered; fetch again (a session with \
             a reconnect policy connects again by itself)",
        )
    } else {
        Error::closed("the peer dropped the FETCH without answering it")
    }
}

fn rejection_error(rejection: &RequestError, what: &FetchKind<'_>) -> Error {
    let reason = &rejection.reason.0;
    let code = rejection.error_code;
    let is = |c: RequestErrorCode| code == c as u64;
    let subject = match what {
        FetchKind::Standalone { full } => format!("fetch of \"{full}\""),
        FetchKind::Joining => "joining fetch".to_string(),
    };
    let standalone = matches!(what, FetchKind::Standalone { .. });
    let hint = if is(RequestErrorCode::DoesNotExist) && standalone {
        "refused: no publisher offers this track, or it retains no history of it"
    } else if is(RequestErrorCode::DoesNotExist) {
        "refused: the publisher retains no history of the subscribed track"
    } else if is(RequestErrorCode::InvalidRange) && standalone {
        "refused: none of the requested range is available"
    } else if is(RequestErrorCode::InvalidRange) {
        "refused: the range is not available: the publisher had no object when it accepted \
         the subscription (e.g. a relay not yet forwarding the track: subscribe again once \
         objects flow), or groups_before reaches before group 0"
    } else if is(RequestErrorCode::InvalidJoiningRequestId) {
        "refused: the publisher has no active subscription to join; it may have ended"
    } else if is(RequestErrorCode::NotSupported) {
        "refused: the publisher does not answer FETCH"
    } else if is(RequestErrorCode::Timeout) {
        ": the publisher did not answer in time"
    } else if is(RequestErrorCode::GoingAway) {
        "refused: the peer is going away"
    } else {
        "refused"
    };
    let separator = if hint.starts_with(':') { "" } else { " " };
    Error::new(
        request_error_code(code),
        format!("{subject}{separator}{hint} (REQUEST_ERROR {code:#x}: {reason})"),
    )
}

/// Delivers every object of the response, in order; `Ok` at the FIN.
async fn deliver(
    fetch: &mut engine::Fetch,
    delivery: &Delivery,
    max_object_size: u64,
) -> Result<()> {
    loop {
        let record = fetch.next().await.map_err(|e| delivery_error(&e))?;
        match record {
            None => return Ok(()),
            Some(FetchRecord::Object(object)) => {
                if object.payload_length > max_object_size {
                    // Ending here drops (cancels) the response before the
                    // payload is read.
                    return Err(Error::new(
                        Code::PayloadTooLarge,
                        format!(
                            "the fetch response holds an object of {} bytes (group {}, object {}), above \
                             SessionConfig::max_object_size ({max_object_size}); the rest of the \
                             response is not received",
                            object.payload_length, object.group_id, object.object_id
                        ),
                    ));
                }
                let payload = read_payload(fetch).await?;
                delivery
                    .object(ReceivedObject {
                        // Objects that were datagrams have no subgroup.
                        datagram: object.subgroup_id.is_none(),
                        extensions: object::from_engine(&object.extension_headers),
                        ..ReceivedObject::new(
                            object.group_id,
                            object.subgroup_id.unwrap_or(0),
                            object.object_id,
                            object.publisher_priority,
                            payload,
                        )
                    })
                    .await?;
            }
            // Range markers: objects that do not exist or whose state the
            // publisher does not know. Nothing to deliver.
            Some(FetchRecord::NotExist { .. } | FetchRecord::Unknown { .. }) => {}
        }
    }
}

async fn read_payload(fetch: &mut engine::Fetch) -> Result<Bytes> {
    let mut payload = PayloadJoiner::default();
    while let Some(chunk) = fetch
        .read_payload_chunk(READ_CHUNK)
        .await
        .map_err(|e| delivery_error(&e))?
    {
        payload.push(chunk);
    }
    Ok(payload.finish())
}

fn delivery_error(err: &SessionError) -> Error {
    match err {
        SessionError::Serve(ServeError::Cancel) => Error::closed(
            "the fetch ended before it was complete: the session closed or the publisher \
             abandoned the response",
        ),
        SessionError::Serve(ServeError::Size)
        | SessionError::Decode(_)
        | SessionError::WrongSize
        | SessionError::ProtocolViolation(_) => Error::new(
            Code::Protocol,
            format!("the publisher sent a malformed fetch response: {err}"),
        ),
        SessionError::WebTransport(_) => Error::closed(format!(
            "the fetch response stream was reset or the connection was lost before the \
             response was complete: {err}"
        )),
        _ => Error::from_session(err, "receiving the fetch response"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_convert_to_the_draft_18_end_encoding() {
        let (s, e) = FetchRange::groups(3, 5).to_wire();
        assert_eq!((s, e), (Location::new(3, 0), Location::new(5, 0)));
        let (s, e) = FetchRange::objects(3, 2, 3, 7).to_wire();
        assert_eq!((s, e), (Location::new(3, 2), Location::new(3, 8)));
        // The last possible object has no "+1": the whole-group form covers it.
        let (_, e) = FetchRange::objects(1, 0, 4, u64::MAX).to_wire();
        assert_eq!(e, Location::new(4, 0));
    }

    #[test]
    fn ranges_that_end_before_they_start_are_refused() {
        assert!(FetchRange::groups(2, 2).validate().is_ok());
        assert!(FetchRange::objects(2, 3, 2, 3).validate().is_ok());
        assert!(FetchRange::objects(2, 4, 2, 3).validate().is_err());
        assert_eq!(
            FetchRange::groups(3, 2).validate().unwrap_err().code,
            Code::InvalidArgument
        );
        assert!(FetchRange::objects(2, 9, 3, 0).validate().is_ok());
    }
}
