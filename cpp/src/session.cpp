#include "boundary.hpp"
#include "impl.hpp"

namespace moq {
namespace detail {

void set_on_closed(std::mutex& mutex, Callback<void(const Status&)>& slot,
                   const std::optional<Status>& terminal,
                   Callback<void(const Status&)> callback, const char* what) noexcept {
  if (!callback) return;
  std::optional<Status> ended;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!terminal) {
      slot = std::move(callback);
      return;
    }
    ended = terminal;
  }
  call_user(what, callback, *ended);
}

const Namespace& moved_from_namespace() noexcept {
  static const Namespace none = Namespace::parse("moved-from").value();
  return none;
}

void deliver_terminal(std::mutex& mutex, std::optional<Status>& terminal,
                      Callback<void(const Status&)>& slot, const Status& status,
                      const char* what, const std::function<void()>& release_under_lock) noexcept {
  Callback<void(const Status&)> callback;
  {
    std::lock_guard<std::mutex> lock(mutex);
    terminal = status;
    callback = std::move(slot);
    slot = nullptr;
    release_under_lock();
  }
  if (callback) call_user(what, callback, status);
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
  Callback<void(std::string_view)> goaway_callback;  // destroyed after the terminal event
  detail::deliver_terminal(core_->mutex, core_->terminal, core_->on_closed, detail::to_status(status),
                           "session on_closed callback",
                           [&] { goaway_callback = std::move(core_->on_goaway); });
}

void SessionEvents::on_goaway(rust::Str new_uri) const noexcept {
  const auto call = handoff_.enter();
  Callback<void(std::string_view)> callback;  // destroyed after it ran: a GOAWAY comes once
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    if (core_->terminal) return;  // never after the terminal event
    core_->goaway_uri.emplace(new_uri.data(), new_uri.size());
    callback = std::move(core_->on_goaway);
  }
  if (callback) detail::call_user(callback, std::string_view(new_uri.data(), new_uri.size()));
}

void SessionEvents::on_state_change(SessionStateKind kind, const Status& status) const noexcept {
  const auto call = handoff_.enter();
  const SessionState state =
      kind == SessionStateKind::Reconnecting ? SessionState::reconnecting : SessionState::connected;
  Callback<void(SessionState, const moq::Status&)> callback;
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    if (core_->terminal) return;  // never after the terminal event
    callback = std::move(core_->on_state_change);
  }
  if (!callback) return;
  detail::call_user(callback, state, detail::to_status(status));
  Callback<void(SessionState, const moq::Status&)> stale;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(core_->mutex);
  // Put back unless replaced meanwhile or the session ended.
  if (!core_->on_state_change && !core_->terminal) {
    core_->on_state_change = std::move(callback);
  } else {
    stale = std::move(callback);
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

Result<Session> Session::connect(std::string_view url, const SessionConfig& config) noexcept {
  if (ffi::on_runtime_thread()) return detail::would_block("Session::connect", "connect_async");
  return connect_async(url, config).wait(std::chrono::milliseconds::max());
}

Pending<Session> Session::connect_async(std::string_view url,
                                        const SessionConfig& config) noexcept {
  auto core = std::make_shared<detail::SessionCore>();
  auto convert = [core](rust::Box<ffi::PendingResult> result) -> Result<Session> {
    ffi::Status status = detail::new_status();
    rust::Box<ffi::SessionBox> box = ffi::pending_result_session(std::move(result), status);
    if (status.code != ffi::Code::Ok) return detail::to_error(status);
    return Session(std::make_unique<detail::SessionImpl>(std::move(box), core));
  };
  Result<ffi::ConnectOptions> options = detail::connect_options(url, config);
  rust::Box<ffi::PendingBox> box =
      options ? ffi::session_connect_async(*options, std::make_unique<ffi::SessionEvents>(core))
              : ffi::pending_invalid(options.error().message());
  return Pending<Session>(
      std::make_unique<detail::PendingImpl<Session>>(std::move(box), std::move(convert)));
}

Session::Session(std::unique_ptr<detail::SessionImpl> impl) noexcept : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

SessionState Session::state() const noexcept {
  if (!impl_) return SessionState::closed;
  switch (ffi::session_state(*impl_->box)) {
    case ffi::SessionStateKind::Connected:
      return SessionState::connected;
    case ffi::SessionStateKind::Reconnecting:
      return SessionState::reconnecting;
    default:
      return SessionState::closed;
  }
}

void Session::on_closed(Callback<void(const Status&)> callback) noexcept {
  if (!impl_) return;
  detail::SessionCore& core = *impl_->core;
  detail::set_on_closed(core.mutex, core.on_closed, core.terminal, std::move(callback),
                        "session on_closed callback");
}

void Session::on_state_change(Callback<void(SessionState, const Status&)> callback) noexcept {
  if (!impl_) return;
  Callback<void(SessionState, const Status&)> replaced;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(impl_->core->mutex);
  if (impl_->core->terminal) return;  // ended: no change is reported any more
  replaced = std::move(impl_->core->on_state_change);
  impl_->core->on_state_change = std::move(callback);
}

void Session::on_goaway(Callback<void(std::string_view)> callback) noexcept {
  if (!impl_ || !callback) return;
  std::optional<std::string> uri;
  Callback<void(std::string_view)> replaced;  // destroyed outside the lock
  Callback<void(std::string_view)> now;       // called outside the lock
  {
    std::lock_guard<std::mutex> lock(impl_->core->mutex);
    if (impl_->core->terminal) return;  // ended: no GOAWAY is reported any more
    uri = impl_->core->goaway_uri;
    if (uri) {
      // Already came: this callback sees it now, once, and is not kept.
      now = std::move(callback);
    } else {
      replaced = std::move(impl_->core->on_goaway);
      impl_->core->on_goaway = std::move(callback);
    }
  }
  if (now && uri) detail::call_user(now, *uri);
}

Status Session::close(uint64_t code, std::string_view reason) noexcept {
  if (!impl_) return detail::moved_from("Session::close");
  return detail::to_status(ffi::session_close(*impl_->box, code, detail::as_slice(reason)));
}

Result<SessionStats> Session::stats() const noexcept {
  if (!impl_) return detail::moved_from("Session::stats");
  ffi::Status status = detail::new_status();
  ffi::SessionCounters c = ffi::session_stats(*impl_->box, status);
  if (status.code != ffi::Code::Ok) return detail::to_error(status);
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

Result<Announcement> Session::announce(const Namespace& ns) noexcept {
  if (!impl_) return detail::moved_from("Session::announce");
  if (ffi::on_runtime_thread()) return detail::would_block("Session::announce", "announce_async");
  return announce_async(ns).wait(std::chrono::milliseconds::max());
}

Pending<Announcement> Session::announce_async(const Namespace& ns) noexcept {
  auto convert = [ns](rust::Box<ffi::PendingResult> result) -> Result<Announcement> {
    ffi::Status status = detail::new_status();
    rust::Box<ffi::AnnouncementBox> box = ffi::pending_result_announcement(std::move(result), status);
    if (status.code != ffi::Code::Ok) return detail::to_error(status);
    auto core = std::make_shared<detail::AnnouncementCore>();
    // Registered once, before any request can reach a handler: setting one
    // later only swaps it under the core's lock.
    ffi::announcement_on_track_requested(*box, std::make_unique<ffi::TrackRequestEvents>(core));
    return Announcement(std::make_unique<detail::AnnouncementImpl>(std::move(box), ns, std::move(core)));
  };
  rust::Box<ffi::PendingBox> box =
      impl_ ? ffi::session_announce_async(*impl_->box, ns.parts())
            : ffi::pending_invalid(detail::moved_from("Session::announce_async").message());
  return Pending<Announcement>(
      std::make_unique<detail::PendingImpl<Announcement>>(std::move(box), std::move(convert)));
}

}  // namespace moq
