#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>

#include "boundary.hpp"
#include "impl.hpp"

namespace moq {
namespace {

// The installed handler. Never destroyed: library threads may still log
// while the process exits, after static destructors have run.
struct HandlerSlot {
  std::mutex mutex;
  std::shared_ptr<const LogHandler> handler;
};

HandlerSlot& slot() noexcept {
  static auto* const slot = new HandlerSlot;
  return *slot;
}

// The minimum level; the Rust side keeps its own copy (set together).
std::atomic<int> min_level{static_cast<int>(LogLevel::warn)};

const char* level_name(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "?";
}

}  // namespace

void set_log_handler(LogHandler new_handler) noexcept {
  const bool installed = static_cast<bool>(new_handler);
  std::shared_ptr<const LogHandler> replaced;
  {
    std::lock_guard<std::mutex> lock(slot().mutex);
    replaced = std::move(slot().handler);
    slot().handler = installed ? std::make_shared<const LogHandler>(std::move(new_handler)) : nullptr;
  }
  ffi::log_forward_to_cpp(installed);
  // `replaced` (user code) is destroyed here, outside the lock, unless a
  // message is being handled by it right now.
}

void set_log_level(LogLevel minimum) noexcept {
  min_level.store(static_cast<int>(minimum), std::memory_order_relaxed);
  ffi::log_set_level(detail::level_to_ffi(minimum));
}

namespace detail {

namespace {

// To the handler (or stderr), whatever the level is now: the message passed
// the level check when it was made.
void deliver(LogLevel level, std::string_view message) noexcept {
  std::shared_ptr<const LogHandler> current;
  {
    std::lock_guard<std::mutex> lock(slot().mutex);
    current = slot().handler;
  }
  if (current) {
    call_user(*current, level, message);
  } else {
    (void)std::fprintf(stderr, "moq [%s]: %.*s\n", level_name(level),
                       static_cast<int>(message.size()), message.data());
  }
}

}  // namespace

void log(LogLevel level, std::string_view message) noexcept {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) return;
  deliver(level, message);
}

}  // namespace detail

namespace ffi {
void log_message(LogLevelKind level, rust::Str message) noexcept {
  const LogLevel lvl = detail::level_from_ffi(level);
  // Checked against the level when the engine made it, maybe before a
  // set_log_level that came since.
  detail::deliver(lvl, std::string_view(message.data(), message.size()));
}
}  // namespace ffi
}  // namespace moq
