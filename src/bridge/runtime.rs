//! The library's threads: configuring them before first use, shutting down
//! at exit, and telling whether the caller is one of them (engine:
//! `crate::runtime`). Also the test-only entries (feature `test-hooks`).

use std::time::Duration;

use super::error::{guarded_status, Status};
use crate::error::{Code, Error};
use crate::runtime;

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    extern "C++" {
        include!("moq-ffi/src/bridge/error.rs.h");
        type Status = crate::bridge::error::ffi::Status;
    }

    extern "Rust" {
        /// True on the library's I/O and callback threads, where a blocking
        /// call would wait for the thread that makes the answer.
        fn on_runtime_thread() -> bool;
        /// `moq::configure_runtime`: thread counts, before first use.
        fn runtime_configure(
            io_threads: u64,
            callback_threads: u64,
            max_callback_threads: u64,
        ) -> Status;
        /// `moq::shutdown`: closes open sessions, waits for the runtime's work.
        fn runtime_shutdown(timeout_ms: u64) -> Status;

        /// Test-only: a bridge entry that panics.
        #[cfg(feature = "test-hooks")]
        fn test_hook_panic() -> Status;
        /// Test-only: `host` resolves to `addrs` ("IP:port" each; none: the
        /// real resolver again).
        #[cfg(feature = "test-hooks")]
        fn test_hook_override_resolver(host: &str, addrs: Vec<String>) -> Status;
    }
}

fn on_runtime_thread() -> bool {
    runtime::on_runtime_thread()
}

fn runtime_configure(io_threads: u64, callback_threads: u64, max_callback_threads: u64) -> Status {
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    guarded_status("moq::configure_runtime", || {
        runtime::configure(runtime::RuntimeConfig {
            io_threads: count(io_threads),
            callback_threads: count(callback_threads),
            max_callback_threads: count(max_callback_threads),
        })
    })
}

fn runtime_shutdown(timeout_ms: u64) -> Status {
    guarded_status("moq::shutdown", || {
        if runtime::on_runtime_thread() {
            return Err(Error::new(
                Code::WouldBlock,
                "moq::shutdown waits for the library's threads and cannot be called from a moq \
                 callback; call it at the end of main",
            ));
        }
        crate::session::shutdown(Duration::from_millis(timeout_ms))
    })
}

/// Panics inside the same guard the entries run in, so a test can see the
/// panic come out as `Code::Internal` in C++.
#[cfg(feature = "test-hooks")]
fn test_hook_panic() -> Status {
    guarded_status("the panic test hook", || {
        panic!("a panic on purpose (test hook)")
    })
}

#[cfg(feature = "test-hooks")]
fn test_hook_override_resolver(host: &str, addrs: Vec<String>) -> Status {
    guarded_status("test_hook_override_resolver", || {
        let addrs = addrs
            .iter()
            .map(|a| {
                a.parse()
                    .map_err(|_| Error::invalid_argument(format!("\"{a}\" is not an IP:port")))
            })
            .collect::<crate::error::Result<Vec<std::net::SocketAddr>>>()?;
        crate::session::override_resolver(host, addrs);
        Ok(())
    })
}
