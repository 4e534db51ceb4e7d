// Pending<T>: the C++ half of a request in flight (src/pending.rs).
#include "boundary.hpp"
#include "impl.hpp"

namespace moq {

namespace ffi {
PendingReady::~PendingReady() = default;

// On the request's strand (Rust), once.
void PendingReady::on_ready(rust::Box<PendingResult> result) const noexcept {
  const auto call = handoff_.enter();
  deliver_(std::move(result));
}
}  // namespace ffi

template <class T>
Pending<T>::Pending(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

template <class T>
Pending<T>::Pending(Pending&&) noexcept = default;

template <class T>
Pending<T>& Pending<T>::operator=(Pending&& other) noexcept {
  if (this != &other) {
    Pending replaced(std::move(*this));  // cancelled at the end of this scope
    impl_ = std::move(other.impl_);
  }
  return *this;
}

template <class T>
Pending<T>::~Pending() {
  if (!impl_) return;
  std::function<void()> cancel = std::move(impl_->cancel);
  // From a library thread the Rust side does not wait for a completion
  // running elsewhere, so the callbacks it may still use are left to it.
  const bool user_thread = !ffi::on_runtime_thread();
  impl_.reset();  // cancels the request; waits for a running completion
  if (cancel && user_thread) cancel();
}

template <class T>
bool Pending<T>::ready() const noexcept {
  return impl_ && ffi::pending_is_answered(*impl_->box);
}

template <class T>
Result<T> Pending<T>::wait(std::chrono::milliseconds timeout) noexcept {
  if (!impl_) return detail::moved_from("Pending::wait");
  if (timeout.count() < 0) {
    return Error(Errc::invalid_argument, "Pending::wait: the timeout must not be negative");
  }
  // milliseconds::max() (or anything that large) waits without end.
  const bool forever = timeout.count() >= std::chrono::milliseconds::max().count() / 2;
  ffi::Status status = detail::new_status();
  rust::Box<ffi::PendingResult> result = ffi::pending_wait(
      *impl_->box, forever ? 0 : static_cast<uint64_t>(timeout.count()), forever, status);
  if (status.code != ffi::Code::Ok) return detail::to_error(status);
  return impl_->convert(std::move(result));
}

template <class T>
std::optional<Result<T>> Pending<T>::try_get() noexcept {
  if (!impl_) return Result<T>(detail::moved_from("Pending::try_get"));
  ffi::Status status = detail::new_status();
  rust::Box<ffi::PendingResult> result = ffi::pending_wait(*impl_->box, 0, false, status);
  if (status.code == ffi::Code::Timeout) return std::nullopt;
  if (status.code != ffi::Code::Ok) return Result<T>(detail::to_error(status));
  return impl_->convert(std::move(result));
}

template <class T>
Status Pending<T>::then(Callback<void(Result<T>)> on_done) noexcept {
  if (!impl_) return detail::moved_from("Pending::then");
  if (!on_done) return Error(Errc::invalid_argument, "Pending::then: the callback is empty");
  // Everything read from this Pending is read before the completion exists:
  // it may run, and destroy this Pending, before pending_then returns.
  const ffi::PendingBox& box = *impl_->box;
  auto ready = std::make_unique<ffi::PendingReady>(
      [convert = impl_->convert, on_done = std::move(on_done)](rust::Box<ffi::PendingResult> result) {
        detail::call_user(on_done, convert(std::move(result)));
      });
  return detail::to_status(ffi::pending_then(box, std::move(ready)));
}

template class Pending<Session>;
template class Pending<Announcement>;
template class Pending<Subscription>;
template class Pending<NamespaceWatch>;
template class Pending<PublishedTrack>;
template class Pending<Fetch>;

}  // namespace moq
