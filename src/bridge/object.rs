//! Objects as they cross: the received object's header, the options of one
//! to write, and extensions both ways (engine: `crate::object`). No entries:
//! the subscribe and publish bridges carry these.

use super::bytes::PayloadBox;
use crate::error::{Error, Result};
use crate::object::{Extension, ExtensionValue, Status as ObjectStatus};
use crate::subscribe::ReceivedObject;

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    /// `moq::ObjectStatus`: a received object's, or the marker a publisher writes.
    enum ObjectStatusKind {
        Normal,
        EndOfGroup,
        EndOfTrack,
    }

    struct ObjectHeader {
        group_id: u64,
        subgroup_id: u64,
        object_id: u64,
        priority: u8,
        datagram: bool,
        status: ObjectStatusKind,
        extensions: Vec<ObjectExtension>,
        /// Pieces the payload arrived in (`ReceivedObject::chunks`).
        chunks: u32,
    }

    /// `moq::Extension`: even keys carry `number`, odd keys `bytes`.
    struct ObjectExtension {
        key: u64,
        number: u64,
        bytes: Vec<u8>,
    }

    /// Where the next object goes and what it carries (`moq::ObjectOptions`).
    struct ObjectParams {
        has_object_id: bool,
        object_id: u64,
        extensions: Vec<ObjectExtension>,
    }
}

pub use ffi::{ObjectExtension, ObjectHeader, ObjectParams, ObjectStatusKind};

/// A received object as the bridges carry it: the header, and the payload
/// (moved, not copied).
pub fn to_ffi_object(object: ReceivedObject) -> (ObjectHeader, Box<PayloadBox>) {
    let header = ObjectHeader {
        group_id: object.group_id,
        subgroup_id: object.subgroup_id,
        object_id: object.object_id,
        priority: object.priority,
        datagram: object.datagram,
        status: match object.status {
            ObjectStatus::Normal => ObjectStatusKind::Normal,
            ObjectStatus::EndOfGroup => ObjectStatusKind::EndOfGroup,
            ObjectStatus::EndOfTrack => ObjectStatusKind::EndOfTrack,
        },
        extensions: object
            .extensions
            .into_iter()
            .map(extension_to_ffi)
            .collect(),
        chunks: object.chunks,
    };
    (header, Box::new(PayloadBox(object.payload)))
}

fn extension_to_ffi(ext: Extension) -> ObjectExtension {
    match ext.value {
        ExtensionValue::Number(number) => ObjectExtension {
            key: ext.key,
            number,
            bytes: Vec::new(),
        },
        // Moved, not copied: the received object is consumed here.
        ExtensionValue::Bytes(bytes) => ObjectExtension {
            key: ext.key,
            number: 0,
            bytes,
        },
    }
}

/// Even keys carry numbers, odd keys bytes (MoQT): a value in the other field
/// is a mistake worth reporting, not something to drop silently.
pub fn extensions_from_ffi(extensions: &[ObjectExtension]) -> Result<Vec<Extension>> {
    extensions
        .iter()
        .map(|e| {
            let value = if e.key % 2 == 0 {
                if !e.bytes.is_empty() {
                    return Err(Error::invalid_argument(format!(
                        "extension key {} is even, so it carries a number: set `number`, not \
                         `bytes` (MoQT: even keys carry numbers, odd keys bytes)",
                        e.key
                    )));
                }
                ExtensionValue::Number(e.number)
            } else {
                if e.number != 0 {
                    return Err(Error::invalid_argument(format!(
                        "extension key {} is odd, so it carries bytes: set `bytes`, not \
                         `number` (MoQT: even keys carry numbers, odd keys bytes)",
                        e.key
                    )));
                }
                ExtensionValue::Bytes(e.bytes.clone())
            };
            Ok(Extension { key: e.key, value })
        })
        .collect()
}

/// The object id an `ObjectParams` asks for (none: the next one).
pub fn object_id_of(params: &ObjectParams) -> Option<u64> {
    params.has_object_id.then_some(params.object_id)
}
