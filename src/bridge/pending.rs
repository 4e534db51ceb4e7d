//! Requests in flight: the non-blocking forms of connect, announce,
//! subscribe, subscribe_namespace, publish_track and fetch (engine:
//! `crate::pending`). Each concept's bridge starts its requests with `start`
//! and turns the answer into its handle with `answer`; what is common to
//! every request (waiting, a completion, cancelling by dropping) is here.

use std::any::Any;
use std::future::Future;
use std::time::Duration;

use cxx::UniquePtr;

use super::error::{guarded, guarded_status, ok, status_of, Status};
use super::named_across_bridges;
use crate::error::{Code, Error, Result};
use crate::pending::Pending;

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    extern "C++" {
        include!("moq-ffi/src/bridge/error.rs.h");
        type Status = crate::bridge::error::ffi::Status;
    }

    extern "Rust" {
        /// A request in flight; dropping it cancels the request.
        type PendingBox;
        /// A request's answer, which its concept's `pending_result_*` turns
        /// into the handle.
        type PendingResult;

        /// A request refused before it started, as InvalidArgument (C++
        /// checks some input itself: a moved-from handle, bad options).
        fn pending_invalid(message: &str) -> Box<PendingBox>;
        /// The answer, waiting up to `wait_ms` (`forever`: without end). The
        /// status is about the wait: Timeout (no answer yet), WouldBlock,
        /// InvalidArgument (taken, or goes to a completion); the request's
        /// own error travels inside the result.
        fn pending_wait(
            pending: &PendingBox,
            wait_ms: u64,
            forever: bool,
            status: &mut Status,
        ) -> Box<PendingResult>;
        /// Hands the answer to `ready` on the request's strand.
        fn pending_then(pending: &PendingBox, ready: UniquePtr<PendingReady>) -> Status;
        fn pending_is_answered(pending: &PendingBox) -> bool;
    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        /// Receives a request's answer (on the request's strand).
        type PendingReady;
        fn on_ready(self: &PendingReady, result: Box<PendingResult>);
    }
}

/// The handle a request was made for, of the type its concept expects.
type Answer = Box<dyn Any + Send>;

pub struct PendingBox(Pending<Answer>);
pub struct PendingResult(Option<Result<Answer>>);
named_across_bridges!(PendingBox, "moq::ffi::PendingBox");
named_across_bridges!(PendingResult, "moq::ffi::PendingResult");

// SAFETY: the C++ object keeps the completion behind a const call operator,
// made on one thread and run on the request's strand.
unsafe impl Send for ffi::PendingReady {}
unsafe impl Sync for ffi::PendingReady {}

/// Starts a request: `prepare` checks the input and builds the future now (an
/// error there answers at once), the future runs on the runtime.
pub fn start<F, T>(what: &str, prepare: impl FnOnce() -> Result<F>) -> Box<PendingBox>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Box::new(PendingBox(match guarded(what, prepare) {
        Ok(request) => {
            Pending::spawn(async move { request.await.map(|handle| Box::new(handle) as Answer) })
        }
        Err(e) => Pending::answered(Err(e)),
    }))
}

/// The handle inside an answer, or the request's error in `status`.
pub fn answer<T: 'static>(what: &str, result: PendingResult, status: &mut Status) -> Option<T> {
    let handle = match result.0 {
        None => Err(Error::invalid_argument(format!(
            "{what}: the answer was already taken"
        ))),
        Some(Err(e)) => Err(e),
        Some(Ok(answer)) => answer.downcast::<T>().map(|handle| *handle).map_err(|_| {
            Error::new(
                Code::Internal,
                format!(
                    "internal error in {what}: an answer of another kind; please report this bug"
                ),
            )
        }),
    };
    *status = status_of(&handle);
    handle.ok()
}

fn pending_invalid(message: &str) -> Box<PendingBox> {
    Box::new(PendingBox(Pending::answered(Err(Error::invalid_argument(
        message,
    )))))
}

fn pending_wait(
    pending: &PendingBox,
    wait_ms: u64,
    forever: bool,
    status: &mut Status,
) -> Box<PendingResult> {
    let timeout = (!forever).then(|| Duration::from_millis(wait_ms));
    match guarded("Pending::wait", || Ok(pending.0.wait(timeout))) {
        Ok(Ok(answer)) => {
            *status = ok();
            Box::new(PendingResult(Some(answer)))
        }
        Ok(Err(wait_error)) => {
            *status = status_of::<()>(&Err(wait_error));
            Box::new(PendingResult(None))
        }
        // A panic while waiting is the request's failure, reported like one.
        Err(panic) => {
            *status = ok();
            Box::new(PendingResult(Some(Err(panic))))
        }
    }
}

fn pending_then(pending: &PendingBox, ready: UniquePtr<ffi::PendingReady>) -> Status {
    guarded_status("Pending::then", || {
        pending.0.then(Box::new(move |result| {
            if let Some(ready) = ready.as_ref() {
                ready.on_ready(Box::new(PendingResult(Some(result))));
            }
        }))
    })
}

fn pending_is_answered(pending: &PendingBox) -> bool {
    pending.0.is_answered()
}
