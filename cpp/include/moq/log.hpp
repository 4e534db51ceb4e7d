// moq/log.hpp — where the library's log messages go.
#pragma once

#include <functional>
#include <string_view>

namespace moq {

enum class LogLevel { debug, info, warn, error };

/// Receives the library's log messages (for example: TLS verification
/// disabled, a user callback that threw). Called on any thread, possibly
/// concurrently; keep it short and do not call into moq from it.
using LogHandler = std::function<void(LogLevel, std::string_view message)>;

/// Installs `handler`; an empty handler restores the default, which prints
/// warnings and errors to stderr. Thread-safe.
void set_log_handler(LogHandler handler) noexcept;

}  // namespace moq
