#include "impl.hpp"

namespace moq {

Status configure_runtime(const RuntimeConfig& config) noexcept {
  return detail::to_status(ffi::runtime_configure(static_cast<uint64_t>(config.io_threads),
                                                  static_cast<uint64_t>(config.callback_threads),
                                                  static_cast<uint64_t>(config.max_callback_threads)));
}

Status shutdown(std::chrono::milliseconds timeout) noexcept {
  if (timeout.count() < 0) {
    return Error(Errc::invalid_argument, "moq::shutdown: the timeout must not be negative");
  }
  return detail::to_status(ffi::runtime_shutdown(static_cast<uint64_t>(timeout.count())));
}

}  // namespace moq
