//! Namespaces checked and parsed by the engine's rules (engine:
//! `crate::names`).

use cxx::{CxxString, CxxVector};

use super::error::{guarded, guarded_status, status_of, Status};
use crate::error::{Error, Result};
use crate::names::Namespace;

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    extern "C++" {
        include!("moq-ffi/src/bridge/error.rs.h");
        type Status = crate::bridge::error::ffi::Status;
    }

    extern "Rust" {
        fn namespace_parse(path: &[u8], status: &mut Status) -> Vec<String>;
        fn namespace_check(parts: &CxxVector<CxxString>) -> Status;
    }
}

/// The namespace C++ passes as its parts, checked.
pub fn namespace_of(parts: &CxxVector<CxxString>) -> Result<Namespace> {
    let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    Namespace::from_parts(&parts)
}

fn namespace_parse(path: &[u8], status: &mut Status) -> Vec<String> {
    let result = guarded("Namespace::parse", || {
        let text = std::str::from_utf8(path)
            .map_err(|_| Error::invalid_argument("namespace is not valid UTF-8"))?;
        Ok(Namespace::parse(text)?.parts().to_vec())
    });
    *status = status_of(&result);
    result.unwrap_or_default()
}

fn namespace_check(parts: &CxxVector<CxxString>) -> Status {
    guarded_status("Namespace", || namespace_of(parts).map(|_| ()))
}
