// moq/log.hpp — where the library's log messages go.
#pragma once

#include <functional>
#include <string_view>

namespace moq {

enum class LogLevel { debug, info, warn, error };

/// Receives the library's log messages (for example: TLS verification
/// disabled, a user callback that threw). Called like every callback: on a
/// library callback thread, one message at a time, in order, never on a
/// thread that drives QUIC. At most 1024 messages wait for it; when it falls
/// further behind, messages are dropped and the next one delivered says how
/// many. It may call into moq.
using LogHandler = std::function<void(LogLevel, std::string_view message)>;

/// Installs `handler`; an empty handler restores the default, which prints
/// warnings and errors to stderr. A queued message goes to the handler
/// installed when it is delivered. A replaced handler is destroyed once no
/// message is being handled by it; the one installed at exit is never
/// destroyed (library threads may log while static destructors run).
/// Thread-safe.
void set_log_handler(LogHandler handler) noexcept;

}  // namespace moq
