//! What an object carries besides its payload: status and extension headers.

use moq_transport::coding::{KeyValuePair, Value};
use moq_transport::data::{ExtensionHeaders, ObjectStatus};

use crate::error::{Error, Result};

/// An object's status (draft 18 §10.2.1.1). Markers carry no payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Normal,
    /// No object of this group at or after this object id will exist.
    EndOfGroup,
    /// No object at or after this location will exist in the track.
    EndOfTrack,
}

impl Status {
    pub(crate) fn to_engine(self) -> ObjectStatus {
        match self {
            Status::Normal => ObjectStatus::NormalObject,
            Status::EndOfGroup => ObjectStatus::EndOfGroup,
            Status::EndOfTrack => ObjectStatus::EndOfTrack,
        }
    }

    pub(crate) fn from_engine(status: ObjectStatus) -> Self {
        match status {
            ObjectStatus::NormalObject => Status::Normal,
            ObjectStatus::EndOfGroup => Status::EndOfGroup,
            ObjectStatus::EndOfTrack => Status::EndOfTrack,
        }
    }
}

/// An object extension header. MoQT gives even keys a number value and odd
/// keys a byte-string value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub key: u64,
    pub value: ExtensionValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionValue {
    Number(u64),
    Bytes(Vec<u8>),
}

/// The largest byte-string value of one extension (MoQT key-value pairs).
pub const MAX_EXTENSION_VALUE: usize = 65535;

/// Bytes a key and a length take on the wire at most (two varints).
const EXTENSION_OVERHEAD: usize = 18;

/// Checks key parity and sizes, and converts to the engine's headers.
pub(crate) fn to_engine(extensions: &[Extension]) -> Result<Option<ExtensionHeaders>> {
    if extensions.is_empty() {
        return Ok(None);
    }
    let mut headers = ExtensionHeaders::new();
    let mut block = 0usize;
    for ext in extensions {
        let pair = match (&ext.value, ext.key % 2) {
            (ExtensionValue::Number(n), 0) => KeyValuePair::new_int(ext.key, *n),
            (ExtensionValue::Bytes(b), 1) if b.len() > MAX_EXTENSION_VALUE => {
                return Err(Error::invalid_argument(format!(
                    "extension {} has a {}-byte value; MoQT allows at most \
                     {MAX_EXTENSION_VALUE} bytes per extension",
                    ext.key,
                    b.len()
                )))
            }
            (ExtensionValue::Bytes(b), 1) => {
                block += b.len();
                KeyValuePair::new_bytes(ext.key, b.clone())
            }
            (ExtensionValue::Number(_), _) => {
                return Err(Error::invalid_argument(format!(
                    "extension key {} is odd, so its value must be bytes (MoQT: even keys carry \
                     numbers, odd keys bytes)",
                    ext.key
                )))
            }
            (ExtensionValue::Bytes(_), _) => {
                return Err(Error::invalid_argument(format!(
                    "extension key {} is even, so its value must be a number (MoQT: even keys \
                     carry numbers, odd keys bytes)",
                    ext.key
                )))
            }
        };
        block += EXTENSION_OVERHEAD;
        headers.set(pair);
    }
    if block as u64 > crate::stream_guard::MAX_EXTENSION_BLOCK {
        return Err(Error::invalid_argument(format!(
            "the extensions of one object take about {block} bytes; receivers of this library \
             accept at most {} bytes per object: move the data into the payload",
            crate::stream_guard::MAX_EXTENSION_BLOCK
        )));
    }
    Ok(Some(headers))
}

pub(crate) fn from_engine(headers: &ExtensionHeaders) -> Vec<Extension> {
    headers
        .0
        .iter()
        .map(|pair| Extension {
            key: pair.key,
            value: match &pair.value {
                Value::IntValue(n) => ExtensionValue::Number(*n),
                Value::BytesValue(b) => ExtensionValue::Bytes(b.clone()),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_values_and_blocks_are_invalid() {
        let bytes = |key, len| Extension {
            key,
            value: ExtensionValue::Bytes(vec![0; len]),
        };
        assert!(to_engine(&[bytes(1, MAX_EXTENSION_VALUE)]).is_ok());
        let err = to_engine(&[bytes(1, MAX_EXTENSION_VALUE + 1)]).unwrap_err();
        assert_eq!(err.code, crate::error::Code::InvalidArgument);
        let many: Vec<_> = (0..20).map(|k| bytes(2 * k + 1, 60_000)).collect();
        let err = to_engine(&many).unwrap_err();
        assert!(err.message.contains("payload"), "{}", err.message);
    }

    #[test]
    fn parity_is_enforced_and_round_trips() {
        let good = [
            Extension {
                key: 2,
                value: ExtensionValue::Number(7),
            },
            Extension {
                key: 3,
                value: ExtensionValue::Bytes(b"x".to_vec()),
            },
        ];
        let headers = to_engine(&good).unwrap().unwrap();
        assert_eq!(from_engine(&headers), good);
        let bad = [Extension {
            key: 3,
            value: ExtensionValue::Number(1),
        }];
        assert!(to_engine(&bad).is_err());
    }
}
