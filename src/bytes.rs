//! Payload buffers shared between C++ and Rust without copying.

use bytes::Bytes;

/// A buffer owned on the C++ side (a `moq::Bytes`), lent to Rust as `Bytes`.
/// `data` must stay valid and unchanged until the owner is dropped; the C++
/// `moq::Bytes` is immutable, which guarantees it.
pub struct ForeignBuffer<O> {
    owner: O,
    data: fn(&O) -> &[u8],
}

impl<O> AsRef<[u8]> for ForeignBuffer<O> {
    fn as_ref(&self) -> &[u8] {
        (self.data)(&self.owner)
    }
}

/// Wraps a foreign owner as `Bytes` without copying its data.
pub fn from_foreign<O: Send + 'static>(owner: O, data: fn(&O) -> &[u8]) -> Bytes {
    Bytes::from_owner(ForeignBuffer { owner, data })
}
