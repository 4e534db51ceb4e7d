// moq/log.hpp — where the library's log messages go.
#pragma once

#include <string_view>

#include "moq/abi.hpp"
#include "moq/callback.hpp"

namespace moq {

enum class LogLevel { debug, info, warn, error };

/// Receives the library's log messages (for example: TLS verification
/// disabled, a user callback that threw) and the protocol engine's, which
/// start with the engine's name, e.g. "moq_transport: ...". The engine's
/// levels arrive one lower (its errors as warn, its warnings as info, the
/// rest as debug): it warns about things the library handles and reports
/// through the API, such as a stream it cancelled. Called like every callback: on a
/// library callback thread, one message at a time, in order, never on a
/// thread that drives QUIC. At most 1024 messages wait for it; when it falls
/// further behind, messages are dropped and the next one delivered says how
/// many. It may call into moq.
using LogHandler = Callback<void(LogLevel, std::string_view message)>;

/// Installs `handler`; an empty handler restores the default, which prints
/// to stderr. A queued message goes to the handler
/// installed when it is delivered. A replaced handler is destroyed once no
/// message is being handled by it; the one installed at exit is never
/// destroyed (library threads may log while static destructors run).
/// Thread-safe.
void set_log_handler(LogHandler handler) noexcept;

/// Messages below `minimum` are not made at all (the engine's debug and
/// trace events cost nothing then). Default: LogLevel::warn. debug shows
/// the engine's own tracing, which is verbose. Thread-safe.
void set_log_level(LogLevel minimum) noexcept;

}  // namespace moq
