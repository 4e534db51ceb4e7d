// The only place user callbacks are invoked. boundary.cpp is compiled with
// exceptions on (the rest of the library with them off), so an exception
// escaping a user callback is caught here and logged; it never unwinds into
// library frames or into Rust.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "moq/error.hpp"
#include "moq/log.hpp"
#include "moq/names.hpp"
#include "moq/publish_track.hpp"
#include "moq/session.hpp"
#include "moq/subscribe.hpp"

namespace moq {
namespace detail {

void call_user(const ObjectCallback& callback, Object&& object) noexcept;
void call_user(const LogHandler& handler, LogLevel level, std::string_view message) noexcept;
void call_user(const Callback<void(std::string_view)>& on_goaway,
               std::string_view new_uri) noexcept;
void call_user(const Callback<void(const Namespace&)>& callback, const Namespace& ns) noexcept;
/// A terminal-event callback of something other than a subscription; `what`
/// names it in the log message.
void call_user(const char* what, const Callback<void(const Status&)>& callback,
               const Status& status) noexcept;
void call_user(const Callback<void(SessionState, const Status&)>& on_state_change,
               SessionState state, const Status& cause) noexcept;
/// A Pending's completion (moq/pending.hpp).
void call_user(const Callback<void(Result<Session>)>& on_done, Result<Session> answer) noexcept;
void call_user(const Callback<void(Result<Announcement>)>& on_done,
               Result<Announcement> answer) noexcept;
void call_user(const Callback<void(Result<Subscription>)>& on_done,
               Result<Subscription> answer) noexcept;
void call_user(const Callback<void(Result<NamespaceWatch>)>& on_done,
               Result<NamespaceWatch> answer) noexcept;
void call_user(const Callback<void(Result<PublishedTrack>)>& on_done,
               Result<PublishedTrack> answer) noexcept;
void call_user(const Callback<void(Result<Fetch>)>& on_done, Result<Fetch> answer) noexcept;
/// The offer handler's answer; an exception rejects the track (nullopt).
std::optional<AcceptedTrack> call_user(const PublishOfferHandler& handler, const Namespace& ns,
                                       std::string_view track) noexcept;
void call_user(const Callback<void(TrackRequest)>& handler, TrackRequest request) noexcept;

/// Writes a library log message (to the user's handler, or stderr for warn+).
void log(LogLevel level, std::string_view message) noexcept;

}  // namespace detail
}  // namespace moq
