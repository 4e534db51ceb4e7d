//! The error type every engine call returns, with the same codes as C++ `moq::Errc`.

use std::fmt;

use moq_transport::message::RequestErrorCode;
use moq_transport::serve::ServeError;
use moq_transport::session::SessionError;

/// Error categories. Mirrors `moq::Errc` one to one (same order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
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
    /// A subscriber fell too far behind (its receive budget filled up, or the
    /// publisher dropped it for lagging): a condition of the load, not a bug.
    Lagging,
    /// Pull mode: the publisher ended the track normally and every object
    /// was taken. Not a failure; the way a reader learns the track is over.
    EndOfTrack,
}

/// An error with a code and a message written for the person reading it:
/// what went wrong and, where it helps, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    pub fn closed(message: impl Into<String>) -> Self {
        Self::new(Code::Closed, message)
    }

    /// Maps an engine serve error, with `context` saying what was being done.
    pub fn from_serve(err: &ServeError, context: &str) -> Self {
        let code = match err {
            ServeError::NotFound | ServeError::NotFoundWithId(..) => Code::NotFound,
            ServeError::Timeout => Code::Timeout,
            ServeError::Duplicate => Code::Duplicate,
            ServeError::Cancel | ServeError::Done => Code::Cancelled,
            ServeError::Closed(_) => Code::Closed,
            ServeError::NotImplemented(_) | ServeError::NotImplementedWithId(..) => {
                Code::Unsupported
            }
            ServeError::Mode | ServeError::Size => Code::Protocol,
            ServeError::Internal(_) | ServeError::InternalWithId(..) => Code::Internal,
        };
        Self::new(code, format!("{context}: {err}"))
    }

    /// Maps an engine session error, with `context` saying what was being done.
    pub fn from_session(err: &SessionError, context: &str) -> Self {
        match err {
            SessionError::Serve(serve) => Self::from_serve(serve, context),
            SessionError::WebTransport(_) => {
                Self::new(Code::Closed, format!("{context}: connection lost: {err}"))
            }
            SessionError::Duplicate => Self::new(Code::Duplicate, format!("{context}: {err}")),
            SessionError::Internal => Self::new(Code::Internal, format!("{context}: {err}")),
            _ => Self::new(Code::Protocol, format!("{context}: {err}")),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// Maps a REQUEST_ERROR code (draft 18 §10.6) to the library's error code.
pub(crate) fn request_error_code(code: u64) -> Code {
    const NOT_SUPPORTED: u64 = RequestErrorCode::NotSupported as u64;
    const TIMEOUT: u64 = RequestErrorCode::Timeout as u64;
    const DOES_NOT_EXIST: u64 = RequestErrorCode::DoesNotExist as u64;
    const DUPLICATE: u64 = RequestErrorCode::DuplicateSubscription as u64;
    const PREFIX_OVERLAP: u64 = RequestErrorCode::PrefixOverlap as u64;
    const INTERNAL: u64 = RequestErrorCode::InternalError as u64;
    const INVALID_RANGE: u64 = RequestErrorCode::InvalidRange as u64;
    match code {
        NOT_SUPPORTED => Code::Unsupported,
        TIMEOUT => Code::Timeout,
        DOES_NOT_EXIST | INVALID_RANGE => Code::NotFound,
        DUPLICATE | PREFIX_OVERLAP => Code::Duplicate,
        INTERNAL => Code::Internal,
        // As `Error::from_serve` reports any other REQUEST_ERROR (going
        // away, no subscription to join, ...): refused.
        _ => Code::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_error_codes_map() {
        assert_eq!(
            request_error_code(RequestErrorCode::NotSupported as u64),
            Code::Unsupported
        );
        assert_eq!(
            request_error_code(RequestErrorCode::PrefixOverlap as u64),
            Code::Duplicate
        );
        assert_eq!(request_error_code(0x1234), Code::Closed);
    }
}
