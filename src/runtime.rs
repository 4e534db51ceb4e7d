//! The library's threads, created on first use: one multi-threaded tokio
//! runtime that every session shares for I/O, and the callback threads where
//! user code runs (dispatch.rs). Their counts are set by [`configure`] before
//! first use.
//!
//! Both live for the rest of the process: C++ handles may be destroyed from
//! static destructors, and tearing a runtime down under them would turn a
//! clean exit into a hang or a crash.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Code, Error, Result};

/// How many threads the library runs. Set before first use ([`configure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// tokio worker threads: QUIC, TLS and the engine. Nothing else runs there.
    pub io_threads: usize,
    /// Threads that run user callbacks (each handle on its own strand),
    /// always kept.
    pub callback_threads: usize,
    /// More are started while every callback thread is busy and work waits
    /// (callbacks that block), up to this many in all.
    pub max_callback_threads: usize,
}

impl Default for RuntimeConfig {
    /// Two of each: on a small machine that leaves the host its cores, and one
    /// slow callback never holds up every other handle.
    fn default() -> Self {
        Self {
            io_threads: 2,
            callback_threads: 2,
            max_callback_threads: 64,
        }
    }
}

/// The configuration, and whether the threads have started with it.
static CONFIG: Mutex<(RuntimeConfig, bool)> = Mutex::new((
    RuntimeConfig {
        io_threads: 2,
        callback_threads: 2,
        max_callback_threads: 64,
    },
    false,
));

/// Most threads of either kind the library will start.
const MAX_THREADS: usize = 1024;

/// Sets the thread counts. Only before the library starts its threads (the
/// first connect); afterwards it returns `InvalidArgument` and changes nothing.
pub fn configure(config: RuntimeConfig) -> Result<()> {
    if config.io_threads == 0 || config.callback_threads == 0 {
        return Err(Error::invalid_argument(
            "RuntimeConfig: io_threads and callback_threads must be at least 1",
        ));
    }
    if config.io_threads > MAX_THREADS || config.max_callback_threads > MAX_THREADS {
        return Err(Error::invalid_argument(format!(
            "RuntimeConfig: at most {MAX_THREADS} threads of each kind"
        )));
    }
    if config.max_callback_threads < config.callback_threads {
        return Err(Error::invalid_argument(
            "RuntimeConfig: max_callback_threads must be at least callback_threads",
        ));
    }
    let mut current = CONFIG.lock().unwrap_or_else(|e| e.into_inner());
    if current.1 {
        return Err(Error::invalid_argument(
            "the runtime has already started (a session was connected): configure it before \
             first use",
        ));
    }
    current.0 = config;
    Ok(())
}

/// The configuration the threads start with; fixed from the first call on.
pub(crate) fn config() -> RuntimeConfig {
    let mut current = CONFIG.lock().unwrap_or_else(|e| e.into_inner());
    current.1 = true;
    current.0
}

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

pub fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("moq-runtime")
            .worker_threads(config().io_threads)
            .on_thread_start(crate::engine_log::enter_thread)
            .on_thread_stop(crate::engine_log::leave_thread)
            .build()
            .expect("moq: cannot start the tokio runtime")
    })
}

/// True where blocking for the peer would stall the library or panic: on one
/// of its I/O threads, on a callback thread (it would hold up that handle's
/// strand, and a strand may wait for this very answer), or inside any tokio
/// runtime's context (a Rust caller's own async code). Bridge entries do not
/// enter the runtime's context, so C++ threads are not mistaken for either.
pub fn on_runtime_thread() -> bool {
    std::thread::current().name() == Some("moq-runtime")
        || crate::dispatch::on_callback_thread()
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
    wait_here(what, bounded(what, timeout, future))
}

/// `future`, ended with a `Timeout` error (naming `what`) if it takes longer
/// than `timeout`: the form every request to the peer takes, so the blocking
/// and the non-blocking ([`crate::pending`]) forms share it.
pub async fn bounded<T>(
    what: &str,
    timeout: Duration,
    future: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, future).await {
        Ok(result) => result,
        Err(_) => Err(Error::new(
            Code::Timeout,
            format!("{what} got no answer within {} ms", timeout.as_millis()),
        )),
    }
}

/// Runs an already bounded request to completion on the calling thread;
/// `WouldBlock` on a library thread (see [`on_runtime_thread`]).
pub fn wait_here<T>(what: &str, future: impl Future<Output = Result<T>>) -> Result<T> {
    if on_runtime_thread() {
        return Err(Error::new(
            Code::WouldBlock,
            format!(
                "{what} blocks until the peer answers and cannot be called from a moq callback \
                 thread; call it from one of your own threads, or use its non-blocking form"
            ),
        ));
    }
    // The engine runs on this thread meanwhile: its events go to the log too.
    tracing::dispatcher::with_default(crate::engine_log::dispatch(), || runtime().block_on(future))
}

/// Runs a delivery to its end, turning a panic inside it (the engine's or
/// ours) into an `Internal` error: the task still reports exactly one
/// terminal event. `what` completes "internal error while ...".
pub(crate) async fn catch_panic<T>(
    what: &str,
    delivery: impl Future<Output = Result<T>>,
) -> Result<T> {
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
