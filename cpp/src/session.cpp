#include "boundary.hpp"
#include "impl.hpp"

namespace moq {
namespace detail {

const Namespace& moved_from_namespace() noexcept {
  static const Namespace none = Namespace::parse("moved-from").value();
  return none;
}

namespace {

rust::Vec<rust::String> to_rust(const std::vector<std::string>& strings) {
  rust::Vec<rust::String> out;
  out.reserve(strings.size());
  for (const auto& s : strings) out.push_back(rust::String::lossy(s));
  return out;
}

uint64_t to_millis(std::chrono::milliseconds ms) noexcept {
  return ms.count() <= 0 ? 0 : static_cast<uint64_t>(ms.count());
}

}  // namespace
}  // namespace detail

namespace ffi {
void SessionEvents::on_closed(const Status& status) const noexcept {
  const auto call = handoff_.enter();
  core_->deliver_terminal(detail::to_status(status));  // releases on_goaway, on_state_change
}

void SessionEvents::on_goaway(rust::Str new_uri) const noexcept {
  const auto call = handoff_.enter();
  Callback<void(std::string_view)> callback;  // destroyed after it ran: a GOAWAY comes once
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    if (core_->terminal) return;  // never after the terminal event
    callback = std::move(core_->handlers.on_goaway);
  }
  if (callback) detail::call_user(callback, std::string_view(new_uri.data(), new_uri.size()));
}

void SessionEvents::on_state_change(SessionStateKind kind, const Status& status) const noexcept {
  const auto call = handoff_.enter();
  const SessionState state = detail::state_from_ffi(kind);
  Callback<void(SessionState, const moq::Status&)> callback;
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    if (core_->terminal) return;  // never after the terminal event
    callback = std::move(core_->handlers.on_state_change);
  }
  if (!callback) return;
  // Called outside the lock, so a cancelled connect_async may release the
  // handlers meanwhile: then it is destroyed here instead of put back.
  detail::call_user(callback, state, detail::to_status(status));
  Callback<void(SessionState, const moq::Status&)> stale;  // destroyed after the lock
  std::lock_guard<std::mutex> lock(core_->mutex);
  if (core_->released) {
    stale = std::move(callback);
  } else {
    core_->handlers.on_state_change = std::move(callback);
  }
}
}  // namespace ffi

namespace detail {

Error would_block(const char* what, const char* async_form) noexcept {
  return Error(Errc::would_block,
               std::string(what) +
                   " blocks until the peer answers and cannot be called from a moq callback "
                   "thread; call it from one of your own threads, or use " +
                   async_form + ", which does not block");
}

namespace {

/// The bridge's form of `config`, or what is wrong with it.
Result<ffi::ConnectOptions> connect_options(std::string_view url, const SessionConfig& config) noexcept {
  if (config.connect_timeout.count() <= 0 || config.request_timeout.count() <= 0) {
    return Error(Errc::invalid_argument, "SessionConfig timeouts must be positive");
  }
  if (config.keep_alive_interval.count() < 0) {
    return Error(Errc::invalid_argument,
                 "SessionConfig::keep_alive_interval must not be negative (zero sends none)");
  }
  if (config.max_object_size == 0) {
    return Error(Errc::invalid_argument, "SessionConfig::max_object_size must be positive");
  }
  ffi::ConnectOptions options{
      rust::String::lossy(url.data(), url.size()),
      to_rust(config.tls.root_cert_files),
      to_rust(config.tls.server_cert_sha256),
      config.tls.disable_verify,
      to_millis(config.connect_timeout),
      to_millis(config.request_timeout),
      rust::String::lossy(config.bind),
      static_cast<uint64_t>(config.max_object_size),
      config.max_group_bytes,
      to_millis(config.idle_timeout),
      to_millis(config.keep_alive_interval),
      config.max_incoming_subgroups,
      {},
      ffi::ReconnectParams{config.reconnect.enabled, to_millis(config.reconnect.initial_delay),
                           to_millis(config.reconnect.max_delay), config.reconnect.max_attempts},
  };
  for (const AuthToken& token : config.auth_tokens) {
    options.auth_tokens.push_back(ffi::AuthTokenFfi{token.type, to_rust_bytes(token.value)});
  }
  return options;
}

}  // namespace
}  // namespace detail

Result<Session> Session::connect(std::string_view url, const SessionConfig& config,
                                 SessionHandlers handlers) noexcept {
  if (ffi::on_runtime_thread()) return detail::would_block("Session::connect", "connect_async");
  return connect_async(url, config, std::move(handlers)).wait(std::chrono::milliseconds::max());
}

Pending<Session> Session::connect_async(std::string_view url, const SessionConfig& config,
                                        SessionHandlers handlers) noexcept {
  // Set before the session exists, so no event can come before them.
  auto core = std::make_shared<detail::SessionCore>(std::move(handlers), "session on_closed callback");
  auto convert = [core](rust::Box<ffi::PendingResult> result) -> Result<Session> {
    auto box = detail::checked([&](ffi::Status& status) {
      return ffi::pending_result_session(std::move(result), status);
    });
    core->hand_over(!box);
    if (!box) return box.error();
    return LibraryAccess::make<Session>(std::move(box).value(), core);
  };
  Result<ffi::ConnectOptions> options = detail::connect_options(url, config);
  rust::Box<ffi::PendingBox> box =
      options ? ffi::session_connect_async(*options, std::make_unique<ffi::SessionEvents>(core))
              : ffi::pending_invalid(options.error().message());
  return LibraryAccess::make<Pending<Session>>(std::move(convert), [core] { core->cancel(); },
                                               std::move(box));
}

MOQ_DEFINE_HANDLE(Session)

SessionState Session::state() const noexcept {
  if (!impl_) return SessionState::closed;
  return detail::state_from_ffi(ffi::session_state(*impl_->box));
}

Status Session::close(uint64_t code, std::string_view reason) noexcept {
  if (!impl_) return detail::moved_from("Session::close");
  return detail::to_status(ffi::session_close(*impl_->box, code, detail::as_slice(reason)));
}

Result<SessionStats> Session::stats() const noexcept {
  if (!impl_) return detail::moved_from("Session::stats");
  auto counters = detail::checked(
      [&](ffi::Status& status) { return ffi::session_stats(*impl_->box, status); });
  if (!counters) return counters.error();
  const ffi::SessionCounters& c = *counters;
  SessionStats stats;
  stats.rtt = std::chrono::microseconds(static_cast<int64_t>(c.rtt_us));
  stats.bytes_sent = c.bytes_sent;
  stats.bytes_received = c.bytes_received;
  stats.packets_sent = c.packets_sent;
  stats.packets_received = c.packets_received;
  stats.packets_lost = c.packets_lost;
  stats.bytes_lost = c.bytes_lost;
  stats.objects_refused = c.objects_refused;
  stats.streams_stopped = c.streams_stopped;
  stats.backlog_bytes = c.backlog_bytes;
  stats.reconnects = c.reconnects;
  return stats;
}

Status Session::flush(std::chrono::milliseconds timeout) noexcept {
  if (!impl_) return detail::moved_from("Session::flush");
  if (timeout.count() < 0) {
    return Error(Errc::invalid_argument, "Session::flush: the timeout must not be negative");
  }
  return detail::to_status(ffi::session_flush(*impl_->box, static_cast<uint64_t>(timeout.count())));
}

Status Session::track_status(const Namespace& ns, std::string_view track) noexcept {
  if (!impl_) return detail::moved_from("Session::track_status");
  return detail::to_status(ffi::session_track_status(*impl_->box, ns.parts(), detail::as_slice(track)));
}

Result<Announcement> Session::announce(const Namespace& ns,
                                       Callback<void(TrackRequest)> on_track_requested) noexcept {
  if (!impl_) return detail::moved_from("Session::announce");
  if (ffi::on_runtime_thread()) return detail::would_block("Session::announce", "announce_async");
  return announce_async(ns, std::move(on_track_requested)).wait(std::chrono::milliseconds::max());
}

Pending<Announcement> Session::announce_async(
    const Namespace& ns, Callback<void(TrackRequest)> on_track_requested) noexcept {
  detail::AnnouncementHandlers handlers;
  if (on_track_requested) {
    handlers.on_track_requested =
        std::make_shared<const Callback<void(TrackRequest)>>(std::move(on_track_requested));
  }
  auto core = std::make_shared<detail::AnnouncementCore>(std::move(handlers),
                                                         "announcement track request handler");
  auto convert = [ns, core](rust::Box<ffi::PendingResult> result) -> Result<Announcement> {
    auto box = detail::checked([&](ffi::Status& status) {
      return ffi::pending_result_announcement(std::move(result), status);
    });
    core->hand_over(!box);
    if (!box) return box.error();
    return LibraryAccess::make<Announcement>(std::move(box).value(), ns, core);
  };
  // The events go with the request, so a SUBSCRIBE that comes as soon as the
  // namespace is announced (before the answer is taken) reaches the handler;
  // Announcement::on_track_requested only swaps the handler in the core.
  rust::Box<ffi::PendingBox> box =
      impl_ ? ffi::session_announce_async(*impl_->box, ns.parts(),
                                          std::make_unique<ffi::TrackRequestEvents>(core))
            : ffi::pending_invalid(detail::moved_from("Session::announce_async").message());
  return LibraryAccess::make<Pending<Announcement>>(std::move(convert),
                                                    [core] { core->cancel(); }, std::move(box));
}

}  // namespace moq
