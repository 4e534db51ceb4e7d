#include "boundary.hpp"

#include <exception>
#include <string>

namespace moq::detail {
namespace {

template <class Call>
void guard(const char* what, Call&& call) noexcept {
  try {
    call();
  } catch (const std::exception& e) {
    log(LogLevel::error, std::string("a ") + what + " threw an exception, which moq caught and "
                             "ignored (callbacks must not throw): " + e.what());
  } catch (...) {
    log(LogLevel::error, std::string("a ") + what + " threw a non-std exception, which moq "
                                                     "caught and ignored (callbacks must not throw)");
  }
}

}  // namespace

void call_user(const ObjectCallback& callback, Object&& object) noexcept {
  guard("subscription object callback", [&] { callback(std::move(object)); });
}

void call_user(const Callback<void(std::string_view)>& on_goaway,
               std::string_view new_uri) noexcept {
  guard("session on_goaway callback", [&] { on_goaway(new_uri); });
}

void call_user(const Callback<void(const Namespace&)>& callback, const Namespace& ns) noexcept {
  guard("namespace watch callback", [&] { callback(ns); });
}

void call_user(const char* what, const Callback<void(const Status&)>& callback,
               const Status& status) noexcept {
  guard(what, [&] { callback(status); });
}

void call_user(const Callback<void(SessionState, const Status&)>& on_state_change,
               SessionState state, const Status& cause) noexcept {
  guard("session on_state_change callback", [&] { on_state_change(state, cause); });
}

void call_user(const Callback<void(TrackRequest)>& handler, TrackRequest request) noexcept {
  guard("track request handler (the request is refused)", [&] { handler(std::move(request)); });
}

void call_user(const Callback<void(Result<Session>)>& on_done, Result<Session> answer) noexcept {
  guard("connect_async completion", [&] { on_done(std::move(answer)); });
}

void call_user(const Callback<void(Result<Announcement>)>& on_done,
               Result<Announcement> answer) noexcept {
  guard("announce_async completion", [&] { on_done(std::move(answer)); });
}

void call_user(const Callback<void(Result<Subscription>)>& on_done,
               Result<Subscription> answer) noexcept {
  guard("subscribe_async completion", [&] { on_done(std::move(answer)); });
}

void call_user(const Callback<void(Result<NamespaceWatch>)>& on_done,
               Result<NamespaceWatch> answer) noexcept {
  guard("subscribe_namespace_async completion", [&] { on_done(std::move(answer)); });
}

void call_user(const Callback<void(Result<PublishedTrack>)>& on_done,
               Result<PublishedTrack> answer) noexcept {
  guard("publish_track_async completion", [&] { on_done(std::move(answer)); });
}

void call_user(const Callback<void(Result<Fetch>)>& on_done, Result<Fetch> answer) noexcept {
  guard("fetch_async completion", [&] { on_done(std::move(answer)); });
}

std::optional<AcceptedTrack> call_user(const PublishOfferHandler& handler, const Namespace& ns,
                                       std::string_view track) noexcept {
  std::optional<AcceptedTrack> answer;
  guard("PUBLISH offer handler (the track is rejected)", [&] { answer = handler(ns, track); });
  return answer;
}

void call_user(const LogHandler& handler, LogLevel level, std::string_view message) noexcept {
  try {
    handler(level, message);
  } catch (...) {
    // A throwing log handler has nowhere left to report to.
  }
}

}  // namespace moq::detail
