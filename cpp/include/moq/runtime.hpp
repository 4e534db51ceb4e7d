// moq/runtime.hpp — ending the library's work before the process exits.
#pragma once

#include <chrono>

#include "moq/error.hpp"

namespace moq {

/// Call at the end of `main`, after your handles are gone: closes every
/// session still open (the peer sees a graceful close) and waits, up to
/// `timeout`, until the library's network work has finished, so that the
/// CLOSE of every session, also of those you closed or destroyed just before,
/// has left the process. Without it, a process that returns from `main` right
/// after closing may exit before the CLOSE is sent: the relay then holds the
/// session until its idle timeout (a publisher restarted at once is refused
/// its own namespace).
///
/// Blocks the calling thread (at most `timeout`). Thread: any of yours; from
/// a moq callback it returns Errc::would_block. The library stays usable
/// afterwards. Errors: timeout (work is still running; it goes on in the
/// background), would_block, invalid_argument (a negative timeout).
Status shutdown(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) noexcept;

}  // namespace moq
