// Namespace watches (SUBSCRIBE_NAMESPACE): moq/discovery.hpp.
#include "boundary.hpp"
#include "impl.hpp"

namespace moq {
namespace detail {

std::optional<Namespace> namespace_from(const rust::Vec<rust::String>& parts) noexcept {
  std::vector<std::string> fields;
  fields.reserve(parts.size());
  for (const auto& part : parts) fields.emplace_back(part);
  Result<Namespace> ns = Namespace::from_parts(std::move(fields));
  if (!ns) {
    detail::log(LogLevel::warn, "ignoring a namespace from the peer: " + ns.error().message());
    return std::nullopt;
  }
  return std::move(ns).value();
}

}  // namespace detail

namespace ffi {

NamespaceEvents::~NamespaceEvents() = default;

// Called on the watch's strand only, one at a time, never after the
// NamespaceWatch's destructor returned; the callbacks are set before the watch
// starts and released by on_closed.
// NOLINTNEXTLINE(performance-unnecessary-value-param): cxx's signature
void NamespaceEvents::on_added(rust::Vec<rust::String> ns) const noexcept {
  const auto call = handoff_.enter();
  const auto& on_added = core_->handlers.on_added;
  if (!on_added) return;
  std::optional<Namespace> added = detail::namespace_from(ns);
  if (added) detail::call_user(on_added, *added);
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): cxx's signature
void NamespaceEvents::on_removed(rust::Vec<rust::String> ns) const noexcept {
  const auto call = handoff_.enter();
  const auto& on_removed = core_->handlers.on_removed;
  if (!on_removed) return;
  std::optional<Namespace> removed = detail::namespace_from(ns);
  if (removed) detail::call_user(on_removed, *removed);
}

void NamespaceEvents::on_closed(const Status& status) const noexcept {
  const auto call = handoff_.enter();
  core_->deliver_terminal(detail::to_status(status));  // then releases the callbacks
}

}  // namespace ffi

Result<NamespaceWatch> Session::subscribe_namespace(const Namespace& prefix,
                                                    NamespaceHandlers handlers) noexcept {
  if (ffi::on_runtime_thread()) {
    return detail::would_block("Session::subscribe_namespace", "subscribe_namespace_async");
  }
  return subscribe_namespace_async(prefix, std::move(handlers)).wait(std::chrono::milliseconds::max());
}

Pending<NamespaceWatch> Session::subscribe_namespace_async(const Namespace& prefix,
                                                           NamespaceHandlers handlers) noexcept {
  const bool has_on_added = static_cast<bool>(handlers.on_added);
  auto core = std::make_shared<detail::NamespaceWatchCore>(std::move(handlers),
                                                           "namespace watch on_closed callback");
  auto convert = [core, prefix](rust::Box<ffi::PendingResult> result) -> Result<NamespaceWatch> {
    auto box = detail::checked([&](ffi::Status& status) {
      return ffi::pending_result_namespace_watch(std::move(result), status);
    });
    core->hand_over(!box);
    if (!box) return box.error();
    return LibraryAccess::make<NamespaceWatch>(core, std::move(box).value(), prefix);
  };
  auto pending = [&](rust::Box<ffi::PendingBox> box) {
    return LibraryAccess::make<Pending<NamespaceWatch>>(std::move(convert),
                                                        [core] { core->cancel(); }, std::move(box));
  };
  if (!impl_) {
    return pending(
        ffi::pending_invalid(detail::moved_from("Session::subscribe_namespace").message()));
  }
  if (!has_on_added) {
    return pending(ffi::pending_invalid(
        "Session::subscribe_namespace: the on_added callback is empty; pass one (only "
        "on_removed may be empty)"));
  }
  return pending(ffi::session_subscribe_namespace_async(
      *impl_->box, prefix.parts(), std::make_unique<ffi::NamespaceEvents>(core)));
}

MOQ_DEFINE_HANDLE(NamespaceWatch)

const Namespace& NamespaceWatch::prefix() const noexcept {
  return impl_ ? impl_->prefix : detail::moved_from_namespace();
}

bool NamespaceWatch::closed() const noexcept { return !impl_ || impl_->core->closed(); }

}  // namespace moq
