//! `moq::Errc` and the status the entries report, and the guard that keeps a
//! panic from unwinding into C++ (engine: `crate::error`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Code, Error, Result};
use crate::log;

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    /// Same order as `moq::Errc`, after `Ok`.
    #[repr(u8)]
    enum Code {
        Ok = 0,
        InvalidArgument,
        InvalidUrl,
        Tls,
        ConnectFailed,
        Timeout,
        NotConnected,
        Closed,
        NotFound,
        Duplicate,
        Unsupported,
        PayloadTooLarge,
        Protocol,
        Cancelled,
        WouldBlock,
        Internal,
        Lagging,
        EndOfTrack,
    }

    /// Never a `Result` across a bridge: it would make cxx generate `throw`.
    struct Status {
        code: Code,
        message: String,
    }
}

pub use ffi::Status;

fn code_of(code: Code) -> ffi::Code {
    match code {
        Code::InvalidArgument => ffi::Code::InvalidArgument,
        Code::InvalidUrl => ffi::Code::InvalidUrl,
        Code::Tls => ffi::Code::Tls,
        Code::ConnectFailed => ffi::Code::ConnectFailed,
        Code::Timeout => ffi::Code::Timeout,
        Code::NotConnected => ffi::Code::NotConnected,
        Code::Closed => ffi::Code::Closed,
        Code::NotFound => ffi::Code::NotFound,
        Code::Duplicate => ffi::Code::Duplicate,
        Code::Unsupported => ffi::Code::Unsupported,
        Code::PayloadTooLarge => ffi::Code::PayloadTooLarge,
        Code::Protocol => ffi::Code::Protocol,
        Code::Cancelled => ffi::Code::Cancelled,
        Code::WouldBlock => ffi::Code::WouldBlock,
        Code::Internal => ffi::Code::Internal,
        Code::Lagging => ffi::Code::Lagging,
        Code::EndOfTrack => ffi::Code::EndOfTrack,
    }
}

pub fn ok() -> Status {
    Status {
        code: ffi::Code::Ok,
        message: String::new(),
    }
}

pub fn status_of<T>(result: &Result<T>) -> Status {
    match result {
        Ok(_) => ok(),
        Err(e) => Status {
            code: code_of(e.code),
            message: e.message.clone(),
        },
    }
}

/// Runs one bridge entry with a panic turned into an `Internal` error instead
/// of unwinding into C++. It deliberately does not enter the runtime's
/// context: that needs thread-locals, which are gone when a handle is
/// destroyed from a static destructor at exit. Engine calls that spawn are
/// sent to the runtime explicitly instead.
pub fn guarded<T>(what: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let message = format!("internal error in {what}: {detail}; please report this bug");
            log::log(log::Level::Error, &message);
            Err(Error::new(Code::Internal, message))
        }
    }
}

/// A guarded entry's status: `Ok`, or the error (a panic included).
pub fn guarded_status(what: &str, body: impl FnOnce() -> Result<()>) -> Status {
    status_of(&guarded(what, body))
}

/// A guarded entry that makes a handle: the box is empty on error and
/// `status` says why (C++ then makes no handle of it).
pub fn handle<T, B>(
    what: &str,
    status: &mut Status,
    wrap: fn(Option<T>) -> B,
    body: impl FnOnce() -> Result<T>,
) -> Box<B> {
    let result = guarded(what, body);
    *status = status_of(&result);
    Box::new(wrap(result.ok()))
}

/// The engine object inside a bridge box. C++ never calls into an empty box
/// (see the module documentation of `bridge`), so empty is a library bug.
pub fn live<'a, T>(slot: &'a Option<T>, what: &str) -> Result<&'a T> {
    slot.as_ref().ok_or_else(|| {
        Error::new(
            Code::Internal,
            format!("internal error in {what}: an empty bridge handle; please report this bug"),
        )
    })
}
