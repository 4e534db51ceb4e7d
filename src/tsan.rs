//! Happens-before edges for ThreadSanitizer (CMake option `MOQ_TSAN`).
//!
//! In a ThreadSanitizer build only the C++ is instrumented; the Rust engine
//! is not, so its locks and queues are invisible to the sanitizer. Where C++
//! state crosses threads through Rust (a callback's sink made on the user's
//! thread and run on a callback thread, a payload queued on the runtime and
//! taken by the user, the sink released after the last callback), these
//! calls tell the sanitizer about the ordering the Rust lock already gives.
//! Without `moq_tsan` (every other build) they compile to nothing.

#[cfg(moq_tsan)]
extern "C" {
    fn __tsan_acquire(addr: *mut std::ffi::c_void);
    fn __tsan_release(addr: *mut std::ffi::c_void);
}

/// What happened on this thread before is visible to whoever later calls
/// [`acquire`] on the same `sync` object.
#[inline(always)]
pub(crate) fn release<T: ?Sized>(sync: &T) {
    #[cfg(moq_tsan)]
    // SAFETY: the sanitizer only uses the address as a key.
    unsafe {
        __tsan_release(sync as *const T as *const u8 as *mut std::ffi::c_void)
    };
    #[cfg(not(moq_tsan))]
    let _ = sync;
}

/// Orders this thread after every [`release`] on `sync` so far.
#[inline(always)]
pub(crate) fn acquire<T: ?Sized>(sync: &T) {
    #[cfg(moq_tsan)]
    // SAFETY: as in `release`.
    unsafe {
        __tsan_acquire(sync as *const T as *const u8 as *mut std::ffi::c_void)
    };
    #[cfg(not(moq_tsan))]
    let _ = sync;
}
