//! The one multi-threaded tokio runtime every session shares, created on first use.
//!
//! It lives for the rest of the process: C++ handles may be destroyed from
//! static destructors, and tearing a runtime down under them would turn a
//! clean exit into a hang or a crash.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Code, Error, Result};

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

pub fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("moq-runtime")
            // Two threads keep one slow user callback from stalling every session
            // while leaving the host's cores to the host.
            .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4)))
            .build()
            .expect("moq: cannot start the tokio runtime")
    })
}

/// True where blocking on the runtime would stall or panic: on one of its
/// threads (where library callbacks run), or inside any tokio runtime's
/// context (a Rust caller's own async code). Bridge entries do not enter the
/// runtime's context, so C++ threads are not mistaken for either.
pub fn on_runtime_thread() -> bool {
    std::thread::current().name() == Some("moq-runtime")
        || tokio::runtime::Handle::try_current().is_ok()
}

/// Runs `future` to completion on the calling (non-runtime) thread, bounded by
/// `timeout`. Refuses to run on a runtime thread, where blocking would stall
/// the very tasks the answer depends on.
pub fn block_on<T>(
    what: &str,
    timeout: Duration,
    future: impl Future<Output = Result<T>>,
) -> Result<T> {
    if on_runtime_thread() {
        return Err(Error::new(
            Code::WouldBlock,
            format!(
                "{what} blocks until the peer answers and cannot be called from a moq callback \
                 thread; call it from one of your own threads"
            ),
        ));
    }
    runtime().block_on(async {
        match tokio::time::timeout(timeout, future).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                Code::Timeout,
                format!("{what} got no answer within {} ms", timeout.as_millis()),
            )),
        }
    })
}

/// Runs a delivery to its end, turning a panic inside it (the engine's or
/// ours) into an `Internal` error: the task still reports exactly one
/// terminal event. `what` completes "internal error while ...".
pub(crate) async fn catch_panic(
    what: &str,
    delivery: impl Future<Output = Result<()>>,
) -> Result<()> {
    use futures::FutureExt;
    AssertUnwindSafe(delivery)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            Err(Error::new(
                Code::Internal,
                format!("internal error while {what} (a panic); please report this bug"),
            ))
        })
}
