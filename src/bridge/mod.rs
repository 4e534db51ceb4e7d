//! The cxx bridges: one `#[cxx::bridge]` per concept, each in the file named
//! like the engine module it binds (`bridge/session.rs` binds
//! `crate::session`). They only convert between C++ and the engine and
//! dispatch. Every entry that calls into the engine runs in
//! `error::guarded`, which reports a panic as `Code::Internal` instead of
//! unwinding into C++; the unguarded ones only read a field or a counter.
//!
//! Every bridge uses the C++ namespace `moq::ffi`, and cxx generates one
//! header per bridge (`moq-ffi/src/bridge/<name>.rs.h`). A type that one
//! bridge defines and another names crosses as an alias in the other's
//! `extern "C++"` block (`type Status = crate::bridge::error::ffi::Status;`):
//! shared structs, enums and C++ types as they are, opaque Rust types through
//! the `ExternType` impl `named_across_bridges!` writes next to them.
//!
//! No bridge box is ever empty when C++ calls into it: C++ checks a handle
//! for moved-from before it calls, and never makes a handle from the box of a
//! failed call. `error::live` reports the impossible case as a bug.

mod bytes;
mod discovery;
mod error;
mod fetch;
mod log;
mod names;
mod object;
mod pending;
mod publish;
mod publish_track;
mod runtime;
mod session;
mod subscribe;

/// Lets other bridges name the opaque Rust type `$ty` (defined by the bridge
/// in the same file, in namespace `moq::ffi`) as `type $ty = path;`.
macro_rules! named_across_bridges {
    ($ty:ident, $id:tt) => {
        // SAFETY: `$id` is the C++ name the bridge that declares `$ty` gives
        // it, and other bridges use it as that bridge does: opaque, behind a
        // Box or a reference.
        unsafe impl cxx::ExternType for $ty {
            type Id = cxx::type_id!($id);
            type Kind = cxx::kind::Opaque;
        }
    };
}
use named_across_bridges;
