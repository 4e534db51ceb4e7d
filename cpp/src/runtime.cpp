#include "impl.hpp"

namespace moq {

Status shutdown(std::chrono::milliseconds timeout) noexcept {
  if (timeout.count() < 0) {
    return Error(Errc::invalid_argument, "moq::shutdown: the timeout must not be negative");
  }
  return detail::to_status(ffi::runtime_shutdown(static_cast<uint64_t>(timeout.count())));
}

}  // namespace moq
