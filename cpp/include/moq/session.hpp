// moq/session.hpp — a MoQT session with a relay or peer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "moq/error.hpp"
#include "moq/names.hpp"
#include "moq/publish.hpp"
#include "moq/subscribe.hpp"
#include "moq/tls.hpp"

namespace moq {

enum class SessionState { connecting, connected, closed };

struct SessionConfig {
  TlsConfig tls;
  /// Bound on Session::connect (QUIC + TLS + WebTransport + MoQT SETUP).
  std::chrono::milliseconds connect_timeout{10000};
  /// Bound on calls that wait for the peer's answer (announce, subscribe).
  std::chrono::milliseconds request_timeout{10000};
  /// Local address to bind, e.g. "127.0.0.1:0". Empty: any local address of
  /// the peer's address family.
  std::string bind;
  /// Largest object payload GroupWriter::write accepts (bytes).
  std::size_t max_object_size = 64 * 1024 * 1024;
};

namespace detail {
struct SessionImpl;
}

/// One MoQT session (draft 18) with a relay or peer, over WebTransport
/// (`https://host:port/path`) or raw QUIC (`moqt://host:port/path`; port
/// defaults to 443).
///
/// Ownership: move-only RAII. Destroying a connected Session closes it
/// gracefully (never waits on the network). A moved-from Session is inert:
/// its calls return Errc::invalid_argument. Handles made from a session
/// (Announcement, Subscription, ...) may outlive it; they then report
/// Errc::closed.
///
/// Threads: every call may come from any thread. connect, announce and
/// subscribe block until the peer answers (bounded by the timeouts in
/// SessionConfig); made from a moq callback they return Errc::would_block.
class Session {
 public:
  /// Connects and completes MoQT SETUP. Blocks up to config.connect_timeout.
  /// Errors: invalid_url, invalid_argument, tls, connect_failed, timeout,
  /// would_block.
  static Result<Session> connect(std::string_view url, SessionConfig config = {}) noexcept;

  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();

  /// connected until the session ends, then closed. A moved-from Session is closed.
  SessionState state() const noexcept;

  /// Sets the callback for the session's single terminal event: called once
  /// with SessionState::closed and the Error that ended it, or nullptr after a
  /// local close(). If the session has already ended, it is called at once on
  /// this thread. Runs on a library thread otherwise. Replaces any earlier
  /// callback; released after the terminal event.
  void on_state_change(std::function<void(SessionState, const Error*)> callback) noexcept;

  /// Closes the session: the peer sees a graceful close with `code` and
  /// `reason` (UTF-8, at most 1024 bytes). Never blocks. Errors: closed if
  /// already closed, invalid_argument for a bad reason or code > 2^32-1.
  Status close(uint64_t code = 0, std::string_view reason = {}) noexcept;

  /// Announces `ns` (PUBLISH_NAMESPACE) and waits for the peer's OK.
  /// Errors: closed, timeout, would_block, duplicate, protocol.
  Result<Announcement> announce(const Namespace& ns) noexcept;

  /// Subscribes to `track` in `ns` and waits for the publisher's answer.
  /// Push mode: `on_object` is called for every object, on a library thread,
  /// one call at a time, in arrival order (objects of one group in order).
  /// Errors: not_found (nobody publishes the track), duplicate (this session
  /// already subscribes to it), invalid_argument, closed, timeout, would_block.
  Result<Subscription> subscribe(const Namespace& ns, std::string_view track,
                                 std::function<void(const Object&)> on_object,
                                 SubscribeOptions options = {}) noexcept;

  /// Pull mode: objects queue inside the Subscription; take them with
  /// Subscription::try_next or Subscription::next.
  Result<Subscription> subscribe(const Namespace& ns, std::string_view track,
                                 SubscribeOptions options = {}) noexcept;

 private:
  explicit Session(std::unique_ptr<detail::SessionImpl> impl) noexcept;
  Result<Subscription> subscribe_impl(const Namespace& ns, std::string_view track,
                                      std::function<void(const Object&)> on_object,
                                      const SubscribeOptions& options) noexcept;
  std::unique_ptr<detail::SessionImpl> impl_;
};

}  // namespace moq
