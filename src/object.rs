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

/// Checks key parity and converts to the engine's headers.
pub(crate) fn to_engine(extensions: &[Extension]) -> Result<Option<ExtensionHeaders>> {
    if extensions.is_empty() {
        return Ok(None);
    }
    let mut headers = ExtensionHeaders::new();
    for ext in extensions {
        let pair = match (&ext.value, ext.key % 2) {
            (ExtensionValue::Number(n), 0) => KeyValuePair::new_int(ext.key, *n),
            (ExtensionValue::Bytes(b), 1) => KeyValuePair::new_bytes(ext.key, b.clone()),
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
        headers.set(pair);
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
