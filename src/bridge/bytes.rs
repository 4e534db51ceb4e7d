//! Payloads both ways without a copy: a received payload is lent to C++ as a
//! `PayloadBox`, a C++ `moq::Bytes` is sent from inside its `PayloadOwner`
//! (engine: `crate::bytes`).

use cxx::UniquePtr;

use super::named_across_bridges;
use crate::error::{Error, Result};

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    extern "Rust" {
        /// A received payload; C++ reads it in place.
        type PayloadBox;

        fn payload_data(payload: &PayloadBox) -> &[u8];
        /// Copies bytes into a Rust Vec in one call (rust::Vec::push_back
        /// crosses the bridge per byte).
        fn bytes_to_vec(bytes: &[u8]) -> Vec<u8>;
    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        /// Keeps a C++ `moq::Bytes` alive while Rust sends it.
        type PayloadOwner;

        fn data(self: &PayloadOwner) -> &[u8];
    }

    // Other bridges hand these over; the code cxx needs for them lives here.
    impl Box<PayloadBox> {}
    impl UniquePtr<PayloadOwner> {}
}

pub use ffi::PayloadOwner;

pub struct PayloadBox(pub ::bytes::Bytes);
named_across_bridges!(PayloadBox, "moq::ffi::PayloadBox");

// SAFETY: PayloadOwner is immutable after construction (a const buffer held
// through a shared_ptr with an atomic count): safe to move to and read from
// runtime threads.
unsafe impl Send for PayloadOwner {}
unsafe impl Sync for PayloadOwner {}

fn payload_data(payload: &PayloadBox) -> &[u8] {
    &payload.0
}

fn bytes_to_vec(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

/// A C++ `moq::Bytes` as `Bytes`, without copying.
pub fn foreign_payload(payload: UniquePtr<PayloadOwner>) -> Result<::bytes::Bytes> {
    if payload.is_null() {
        return Err(Error::invalid_argument("payload is null"));
    }
    Ok(crate::bytes::from_foreign(payload, |owner| {
        owner.as_ref().map_or(&[][..], |o| o.data())
    }))
}
