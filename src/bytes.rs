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
/// case) is handed over as is, without a copy. The declared size comes from
/// the peer, so it bounds the buffer only up to what has arrived plus
/// [`JOIN_SLACK`]: a peer cannot make us reserve memory it never sends (an
/// allocation failure aborts the process, which no panic guard catches).
#[derive(Default)]
pub(crate) struct PayloadJoiner {
    first: Option<Bytes>,
    joined: Option<BytesMut>,
}

/// How far beyond the bytes received the joined buffer may be reserved.
const JOIN_SLACK: usize = 1024 * 1024;

impl PayloadJoiner {
    pub(crate) fn push(&mut self, chunk: Bytes, declared_size: u64) {
        match (&self.first, &mut self.joined) {
            (None, _) => self.first = Some(chunk),
            (Some(head), None) => {
                let arrived = head.len() + chunk.len();
                let declared = usize::try_from(declared_size).unwrap_or(usize::MAX);
                let mut buf =
                    BytesMut::with_capacity(declared.clamp(arrived, arrived + JOIN_SLACK));
                buf.extend_from_slice(head);
                buf.extend_from_slice(&chunk);
                self.joined = Some(buf);
            }
            (Some(_), Some(buf)) => buf.extend_from_slice(&chunk),
        }
    }

    pub(crate) fn finish(self) -> Bytes {
        match (self.first, self.joined) {
            (_, Some(buf)) => buf.freeze(),
            (Some(single), None) => single,
            (None, None) => Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_chunk_is_handed_over_without_a_copy() {
        let chunk = Bytes::from_static(b"whole");
        let mut joiner = PayloadJoiner::default();
        joiner.push(chunk.clone(), 5);
        let payload = joiner.finish();
        assert_eq!(payload.as_ptr(), chunk.as_ptr());
    }

    #[test]
    fn a_declared_size_the_peer_never_sends_is_not_reserved() {
        let mut joiner = PayloadJoiner::default();
        joiner.push(Bytes::from_static(b"ab"), u64::MAX);
        joiner.push(Bytes::from_static(b"cd"), u64::MAX);
        let joined = joiner.joined.as_ref().expect("two chunks are joined");
        assert!(joined.capacity() <= 4 + JOIN_SLACK, "{}", joined.capacity());
        assert_eq!(&joiner.finish()[..], b"abcd");
    }
}
