//! Payload buffers shared between C++ and Rust without copying.

use bytes::{Bytes, BytesMut};

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

/// Joins the chunks of one received payload. A single chunk (the common
/// case) is handed over as is, without a copy or an allocation. Several are
/// kept as they arrive (the engine holds the same chunks: keeping them costs
/// nothing) and copied once, into a buffer of exactly their size, when the
/// payload is complete. So an object still arriving costs no memory of its
/// own, however large the size its header declares, and however many arrive
/// at once.
#[derive(Default)]
pub(crate) struct PayloadJoiner {
    first: Option<Bytes>,
    /// The chunks after the first: allocated only for a payload in pieces.
    more: Vec<Bytes>,
}

impl PayloadJoiner {
    pub(crate) fn push(&mut self, chunk: Bytes) {
        match &self.first {
            None => self.first = Some(chunk),
            Some(_) if chunk.is_empty() => {}
            Some(_) => self.more.push(chunk),
        }
    }

    pub(crate) fn finish(self) -> Bytes {
        let Some(first) = self.first else {
            return Bytes::new();
        };
        if self.more.is_empty() {
            return first;
        }
        let size = first.len() + self.more.iter().map(Bytes::len).sum::<usize>();
        let mut joined = BytesMut::with_capacity(size);
        joined.extend_from_slice(&first);
        for chunk in &self.more {
            joined.extend_from_slice(chunk);
        }
        joined.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_chunk_is_handed_over_without_a_copy() {
        let chunk = Bytes::from_static(b"whole");
        let mut joiner = PayloadJoiner::default();
        joiner.push(chunk.clone());
        let payload = joiner.finish();
        assert_eq!(payload.as_ptr(), chunk.as_ptr());
    }

    #[test]
    fn several_chunks_are_joined_once_into_a_buffer_of_their_size() {
        let mut joiner = PayloadJoiner::default();
        joiner.push(Bytes::from_static(b"ab"));
        joiner.push(Bytes::new());
        joiner.push(Bytes::from_static(b"cd"));
        assert_eq!(joiner.more.len(), 1, "an empty chunk is not kept");
        let joined = joiner.finish();
        assert_eq!(&joined[..], b"abcd");
        assert_eq!(joined.len(), 4);
        assert_eq!(PayloadJoiner::default().finish().len(), 0);
    }
}
