// Destroying a handle from inside one of its own callbacks, for every kind of
// callback: the destructor returns (it never waits for the callback it runs
// in), no callback of that handle starts afterwards, and the library goes on
// working. Each case repeats, since the race it guards against is timing.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "test_util.hpp"

namespace {

using namespace moq_test;

constexpr int kRounds = 5;

// A handle that one callback destroys, and what happened around that.
template <typename Handle>
struct Owned {
  std::mutex mutex;
  std::optional<Handle> handle;
  std::atomic<int> calls_after_destroy{0};
  std::atomic<bool> destroyed{false};

  // From a callback of the handle: destroys it (once).
  void destroy_from_callback() {
    std::lock_guard<std::mutex> lock(mutex);
    if (destroyed.load()) {
      ++calls_after_destroy;
      return;
    }
    handle.reset();
    destroyed = true;
  }
  // From any later callback of the handle: must never happen.
  void note_call() {
    if (destroyed.load()) ++calls_after_destroy;
  }
};

// Waits until the handle was destroyed from its callback, then a little
// longer, so a callback started after the destructor would be seen.
template <typename Handle>
void expect_destroyed_and_silent(Owned<Handle>& owned, const char* what) {
  EXPECT_TRUE(wait_until([&] { return owned.destroyed.load(); }, 15000ms))
      << what << ": the callback did not destroy its handle (or never ran)";
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(owned.calls_after_destroy.load(), 0) << what << ": a callback ran after its handle was destroyed";
}

TEST(DestroyFromCallback, GoawayCallbackDestroysItsSession) {
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::string error;
    auto peer = TestPeer::start({"--goaway", "moqt://localhost:1/next", "--goaway-after-ms", "100"},
                                &error);
    ASSERT_NE(peer, nullptr) << error;
    Owned<moq::Session> owned;
    moq::SessionHandlers handlers;
    handlers.on_closed = [&](const moq::Status&) { owned.note_call(); };
    handlers.on_goaway = [&](std::string_view) { owned.destroy_from_callback(); };
    {
      // Under the lock: the GOAWAY callback waits until the session is in its holder.
      std::lock_guard<std::mutex> lock(owned.mutex);
      auto session = moq::Session::connect(peer->url(), config_trusting(peer->ca_file()),
                                           std::move(handlers));
      ASSERT_MOQ_OK(session);
      owned.handle.emplace(std::move(session).value());
    }
    expect_destroyed_and_silent(owned, "GOAWAY");
    EXPECT_TRUE(wait_until([&] { return peer->wait_report("client closed the session", 100ms) != ""; },
                           10000ms))
        << "the destroyed session did not close: " << peer->process().stderr_text();
  }
}

TEST(DestroyFromCallback, OfferHandlerDestroysItsListenerAndAcceptedTrackDestroysItsSession) {
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::string error;
    auto peer = TestPeer::start({"--publish", "peer/ns/t", "--groups", "20"}, &error);
    ASSERT_NE(peer, nullptr) << error;
    auto session = moq::Session::connect(peer->url(), config_trusting(peer->ca_file()));
    ASSERT_MOQ_OK(session);
    // The offer handler accepts the track, then destroys its own listener:
    // that stops the accepted track's delivery too.
    Owned<moq::PublishListener> listener;
    std::atomic<int> objects{0};
    {
      std::lock_guard<std::mutex> lock(listener.mutex);
      auto made = session->on_publish([&](const moq::Namespace&, std::string_view) {
        moq::AcceptedTrack accepted;
        accepted.on_object = [&](const moq::Object&) {
          ++objects;
          listener.note_call();
        };
        accepted.on_closed = [&](const moq::Status&) { listener.note_call(); };
        listener.destroy_from_callback();
        return std::optional<moq::AcceptedTrack>(std::move(accepted));
      });
      ASSERT_MOQ_OK(made);
      listener.handle.emplace(std::move(made).value());
    }
    expect_destroyed_and_silent(listener, "PUBLISH offer");
    EXPECT_EQ(session->state(), moq::SessionState::connected);
  }
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("accepted track, round " + std::to_string(round));
    std::string error;
    auto peer = TestPeer::start({"--publish", "peer/ns/t", "--groups", "20"}, &error);
    ASSERT_NE(peer, nullptr) << error;
    auto session = moq::Session::connect(peer->url(), config_trusting(peer->ca_file()));
    ASSERT_MOQ_OK(session);
    // An accepted track's object callback destroys the whole session (and
    // with it the listener).
    Owned<moq::Session> owned;
    std::optional<moq::PublishListener> listener;
    {
      std::lock_guard<std::mutex> lock(owned.mutex);
      owned.handle.emplace(std::move(session).value());
      auto made = owned.handle->on_publish([&](const moq::Namespace&, std::string_view) {
        moq::AcceptedTrack accepted;
        accepted.on_object = [&](const moq::Object&) {
          std::lock_guard<std::mutex> lock(owned.mutex);
          if (owned.destroyed.load()) {
            ++owned.calls_after_destroy;
            return;
          }
          listener.reset();
          owned.handle.reset();
          owned.destroyed = true;
        };
        accepted.on_closed = [&](const moq::Status&) { owned.note_call(); };
        return std::optional<moq::AcceptedTrack>(std::move(accepted));
      });
      ASSERT_MOQ_OK(made);
      listener.emplace(std::move(made).value());
    }
    expect_destroyed_and_silent(owned, "accepted track object");
  }
}

TEST(DestroyFromCallback, TrackRequestHandlerDestroysItsAnnouncement) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto ns = moq::Namespace::parse(test_namespace().to_string() + "/" + std::to_string(round));
    ASSERT_MOQ_OK(ns);
    auto publisher = connect_to(*relay);
    ASSERT_MOQ_OK(publisher);
    auto announcement = publisher->announce(*ns);
    ASSERT_MOQ_OK(announcement);
    Owned<moq::Announcement> owned;
    {
      std::lock_guard<std::mutex> lock(owned.mutex);
      owned.handle.emplace(std::move(announcement).value());
      owned.handle->on_track_requested([&](moq::TrackRequest) { owned.destroy_from_callback(); });
    }
    // The request is refused (the handler took no track): subscribe fails,
    // and does not hang.
    auto sub = subscriber->subscribe(*ns, "t", [](const moq::Object&) {});
    EXPECT_FALSE(sub);
    expect_destroyed_and_silent(owned, "track request");
    EXPECT_EQ(publisher->state(), moq::SessionState::connected);
  }
}

TEST(DestroyFromCallback, NamespaceWatchCallbacksDestroyTheirWatch) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto announcer = connect_to(*relay);
  ASSERT_MOQ_OK(announcer);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto prefix = moq::Namespace::parse(test_namespace().to_string() + "/" + std::to_string(round));
    ASSERT_MOQ_OK(prefix);
    auto session = connect_to(*relay);
    ASSERT_MOQ_OK(session);
    Owned<moq::NamespaceWatch> owned;
    {
      std::lock_guard<std::mutex> lock(owned.mutex);
      auto watch = session->subscribe_namespace(
          *prefix, {[&](const moq::Namespace&) { owned.destroy_from_callback(); },
                    [&](const moq::Namespace&) { owned.note_call(); },
                    [&](const moq::Status&) { owned.note_call(); }});
      ASSERT_MOQ_OK(watch);
      owned.handle.emplace(std::move(watch).value());
    }
    auto a = moq::Namespace::parse(prefix->to_string() + "/a");
    auto b = moq::Namespace::parse(prefix->to_string() + "/b");
    ASSERT_MOQ_OK(a);
    ASSERT_MOQ_OK(b);
    auto first = announcer->announce(*a);
    auto second = announcer->announce(*b);
    ASSERT_MOQ_OK(first);
    ASSERT_MOQ_OK(second);
    expect_destroyed_and_silent(owned, "namespace added");
    EXPECT_EQ(session->state(), moq::SessionState::connected);
  }
}

TEST(DestroyFromCallback, FetchCallbacksDestroyTheirFetch) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  moq::TrackOptions history;
  history.history = moq::HistoryLimits{8, 1 << 20};
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, history));
  ASSERT_TRUE(write_group(*pub.track, {"a", "b", "c"}));
  ASSERT_TRUE(write_group(*pub.track, {"d", "e", "f"}));
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // From on_object: the first object destroys the fetch.
    Owned<moq::Fetch> by_object;
    {
      std::lock_guard<std::mutex> lock(by_object.mutex);
      auto fetch = session->fetch(ns, "t", moq::FetchRange::groups(0, 1),
                                  {[&](const moq::Object&) { by_object.destroy_from_callback(); },
                                   [&](const moq::Status&) { by_object.note_call(); }});
      ASSERT_MOQ_OK(fetch);
      by_object.handle.emplace(std::move(fetch).value());
    }
    expect_destroyed_and_silent(by_object, "fetch object");

    // From on_closed (it waits for the lock until the fetch is in its holder).
    Owned<moq::Fetch> by_end;
    {
      std::lock_guard<std::mutex> lock(by_end.mutex);
      auto fetch = session->fetch(ns, "t", moq::FetchRange::groups(0, 1),
                                  {[&](const moq::Object&) { by_end.note_call(); },
                                   [&](const moq::Status&) { by_end.destroy_from_callback(); }});
      ASSERT_MOQ_OK(fetch);
      by_end.handle.emplace(std::move(fetch).value());
    }
    expect_destroyed_and_silent(by_end, "fetch end");
  }
  EXPECT_EQ(session->state(), moq::SessionState::connected);
}

TEST(DestroyFromCallback, LogHandlerMayCallIntoTheLibrary) {
  // The log handler runs like any callback: it may use the library, even
  // destroy a session, without deadlocking the thread that logged.
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  Owned<moq::Session> owned;
  {
    auto session = connect_to(*relay);
    ASSERT_MOQ_OK(session);
    std::lock_guard<std::mutex> lock(owned.mutex);
    owned.handle.emplace(std::move(session).value());
  }
  moq::set_log_handler([&](moq::LogLevel, std::string_view message) {
    if (message.find("boom-for-the-log") == std::string_view::npos) return;
    (void)moq::Namespace::parse("from/the/log");
    owned.destroy_from_callback();
  });
  // A callback that throws is logged: that runs the handler above.
  auto sub_session = connect_to(*relay);
  ASSERT_MOQ_OK(sub_session);
  auto watch = sub_session->subscribe_namespace(
      test_namespace(), [](const moq::Namespace&) { throw std::runtime_error("boom-for-the-log"); });
  ASSERT_MOQ_OK(watch);
  auto announced = moq::Namespace::parse(test_namespace().to_string() + "/x");
  ASSERT_MOQ_OK(announced);
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto announcement = publisher->announce(*announced);
  ASSERT_MOQ_OK(announcement);
  EXPECT_TRUE(wait_until([&] { return owned.destroyed.load(); }, 10000ms));
  moq::set_log_handler({});
}

}  // namespace
