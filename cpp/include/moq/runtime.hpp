// moq/runtime.hpp — the library's threads, and ending its work before the
// process exits.
#pragma once

#include <chrono>
#include <cstddef>

#include "moq/error.hpp"

namespace moq {

/// How many threads the library runs, for the whole process.
///
/// Your callbacks never run on the threads that drive QUIC: each handle's
/// callbacks run on its own strand (one at a time, in order) on one of the
/// callback threads. While every callback thread is busy (callbacks that
/// block) and other work waits, another is started, so a slow callback
/// delays only its own handle; threads beyond `callback_threads` end after
/// 10 s without work.
struct RuntimeConfig {
  /// Threads that drive QUIC, TLS and the engine; nothing else runs there.
  std::size_t io_threads = 2;
  /// Callback threads always kept.
  std::size_t callback_threads = 2;
  /// Callback threads at most (at least callback_threads, at most 1024).
  std::size_t max_callback_threads = 64;
};

/// Sets the thread counts. Call it before the first Session::connect: the
/// threads start then, and later calls return Errc::invalid_argument and
/// change nothing. Errors: invalid_argument (too late, a count of 0, more
/// than 1024, or max_callback_threads < callback_threads). Thread-safe.
Status configure_runtime(const RuntimeConfig& config) noexcept;

/// Call at the end of `main` (best after your handles are gone; handles still
/// held are fine, their sessions are closed): closes every session still
/// open (the peer sees a graceful close) and waits, up to
/// `timeout`, until the library's network work has finished, so that the
/// CLOSE of every session, also of those you closed or destroyed just before,
/// has left the process. Without it, a process that returns from `main` right
/// after closing may exit before the CLOSE is sent: the relay then holds the
/// session until its idle timeout (a publisher restarted at once is refused
/// its own namespace).
///
/// Blocks the calling thread (at most `timeout`). Thread: any of yours; from
/// a moq callback it returns Errc::would_block. The library stays usable
/// afterwards. Errors: timeout (work is still running, and goes on in the
/// background: for instance a connection attempt that connect gave up on
/// drains for a few seconds), would_block, invalid_argument (a negative
/// timeout).
Status shutdown(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) noexcept;

}  // namespace moq
