// The callback boundary: every kind of user callback is released after its
// handle's terminal event (not only when the handle is destroyed), an
// exception thrown from any kind of callback is contained and logged, and a
// Rust panic comes out as Errc::internal.
#include <gtest/gtest.h>

#include <stdexcept>

#include "support/test_hooks.hpp"
#include "test_util.hpp"

namespace {

using namespace moq_test;

// A value the callbacks capture: how many copies the library still holds is
// use_count() - 1.
struct Token {
  std::shared_ptr<int> value = std::make_shared<int>(0);
  long held_by_library() const { return value.use_count() - 1; }
};

// A track publishing groups with history, for fetches.
moq::TrackOptions with_history() {
  moq::TrackOptions options;
  options.history = moq::HistoryLimits{4, 1 << 20};
  return options;
}

// ------------------------------------------------------------------ release

TEST(Release, SubscriptionCallbacksAreReleasedAtItsTerminalEvent) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Token token;
  std::atomic<int> objects{0};
  std::atomic<bool> closed{false};
  auto sub = session->subscribe(
      ns, "t",
      {[&, t = token.value](const moq::Object&) { ++objects; },
       [&closed, t = token.value](const moq::Status&) { closed = true; }});
  ASSERT_MOQ_OK(sub);
  EXPECT_EQ(token.held_by_library(), 2);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return objects.load() > 0; }));

  pub.track.reset();  // ends the track: the subscription's terminal event
  ASSERT_TRUE(wait_until([&] { return closed.load(); }, 10000ms));
  EXPECT_TRUE(wait_until([&] { return token.held_by_library() == 0; }, 5000ms))
      << token.held_by_library() << " callbacks still held after the terminal event";
  EXPECT_TRUE(sub->closed());  // the handle itself is still alive
}

// A pull subscription takes no callbacks (so none to release): its terminal
// event is what next() reports once the queue is empty.
TEST(Release, PullSubscriptionReachesItsTerminalEvent) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto sub = session->subscribe(ns, "t");
  ASSERT_MOQ_OK(sub);
  ASSERT_MOQ_OK(session->close());
  ASSERT_TRUE(wait_until([&] { return sub->closed(); }, 10000ms));
  EXPECT_MOQ_ERROR(sub->next(0ms), moq::Errc::closed);
}

TEST(Release, SessionCallbacksAreReleasedAtItsTerminalEvent) {
  std::string error;
  auto peer = TestPeer::start({}, &error);  // a peer that never sends GOAWAY
  ASSERT_NE(peer, nullptr) << error;
  Token token;
  std::atomic<bool> ended{false};
  moq::SessionHandlers handlers;
  handlers.on_closed = [&ended, t = token.value](const moq::Status&) { ended = true; };
  handlers.on_goaway = [t = token.value](std::string_view) {};
  auto session =
      moq::Session::connect(peer->url(), config_trusting(peer->ca_file()), std::move(handlers));
  ASSERT_MOQ_OK(session);
  EXPECT_EQ(token.held_by_library(), 2);
  ASSERT_MOQ_OK(session->close());
  ASSERT_TRUE(wait_until([&] { return ended.load(); }, 10000ms));
  EXPECT_TRUE(wait_until([&] { return token.held_by_library() == 0; }, 5000ms))
      << token.held_by_library() << " callbacks still held after the terminal event";
  EXPECT_EQ(session->state(), moq::SessionState::closed);
}

TEST(Release, FetchCallbacksAreReleasedAtItsTerminalEvent) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, with_history()));
  ASSERT_TRUE(write_group(*pub.track, {"a", "b"}));
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Token token;
  std::atomic<int> objects{0};
  std::atomic<bool> closed{false};
  auto fetch = session->fetch(ns, "t", moq::FetchRange::groups(0, 0),
                              {[&objects, t = token.value](const moq::Object&) { ++objects; },
                               [&closed, t = token.value](const moq::Status&) { closed = true; }});
  ASSERT_MOQ_OK(fetch);
  ASSERT_TRUE(wait_until([&] { return closed.load(); }, 10000ms));
  EXPECT_EQ(objects.load(), 2);
  EXPECT_TRUE(wait_until([&] { return token.held_by_library() == 0; }, 5000ms))
      << token.held_by_library() << " callbacks still held after the terminal event";
  EXPECT_TRUE(fetch->closed());
}

TEST(Release, NamespaceWatchCallbacksAreReleasedAtItsTerminalEvent) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Token token;
  std::atomic<bool> closed{false};
  auto watch = session->subscribe_namespace(
      test_namespace(), {[t = token.value](const moq::Namespace&) {},
                         [t = token.value](const moq::Namespace&) {},
                         [&closed, t = token.value](const moq::Status&) { closed = true; }});
  ASSERT_MOQ_OK(watch);
  EXPECT_EQ(token.held_by_library(), 3);
  ASSERT_MOQ_OK(session->close());
  ASSERT_TRUE(wait_until([&] { return closed.load(); }, 10000ms));
  EXPECT_TRUE(wait_until([&] { return token.held_by_library() == 0; }, 5000ms))
      << token.held_by_library() << " callbacks still held after the terminal event";
}

TEST(Release, TrackRequestHandlerIsReleasedWhenTheSessionEnds) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto announcement = session->announce(test_namespace());
  ASSERT_MOQ_OK(announcement);
  Token token;
  announcement->on_track_requested([t = token.value](moq::TrackRequest) {});
  EXPECT_EQ(token.held_by_library(), 1);
  ASSERT_MOQ_OK(session->close());
  EXPECT_TRUE(wait_until([&] { return token.held_by_library() == 0; }, 5000ms))
      << "the handler is still held after the session ended";
}

TEST(Release, PublishOfferHandlerIsReleasedWhenTheSessionEnds) {
  std::string error;
  auto peer = TestPeer::start({}, &error);
  ASSERT_NE(peer, nullptr) << error;
  auto session = moq::Session::connect(peer->url(), config_trusting(peer->ca_file()));
  ASSERT_MOQ_OK(session);
  Token token;
  auto listener = session->on_publish(
      [t = token.value](const moq::Namespace&, std::string_view) { return std::optional<moq::AcceptedTrack>(); });
  ASSERT_MOQ_OK(listener);
  EXPECT_EQ(token.held_by_library(), 1);
  ASSERT_MOQ_OK(session->close());
  EXPECT_TRUE(wait_until([&] { return token.held_by_library() == 0; }, 5000ms))
      << "the offer handler is still held after the session ended";
}

// ------------------------------------------------------------------ exceptions and panics

TEST(Boundary, RustPanicBecomesInternalAndIsLogged) {
  LogCapture log;
  const moq::Status status = moq::test_hooks::panic_in_rust();
  EXPECT_MOQ_ERROR(status, moq::Errc::internal);
  EXPECT_NE(status.error().message().find("a panic on purpose"), std::string::npos)
      << status.error().message();
  EXPECT_TRUE(wait_until([&] { return log.contains(moq::LogLevel::error, "a panic on purpose"); },
                         5000ms))
      << log.dump();
  // The library goes on working after a panic.
  EXPECT_MOQ_ERROR(moq::test_hooks::panic_in_rust(), moq::Errc::internal);
  ASSERT_MOQ_OK(moq::Namespace::parse("still/working"));
}

TEST(Boundary, ExceptionsFromGoawayAndOfferHandlersAreContained) {
  LogCapture log;
  std::string error;
  auto peer = TestPeer::start({"--goaway", "moqt://localhost:1/next", "--goaway-after-ms", "300",
                               "--publish", "peer/ns/t", "--groups", "5"},
                              &error);
  ASSERT_NE(peer, nullptr) << error;
  std::atomic<int> goaways{0};
  moq::SessionHandlers handlers;
  handlers.on_goaway = [&](std::string_view) {
    ++goaways;
    throw std::runtime_error("boom-from-goaway");
  };
  auto session =
      moq::Session::connect(peer->url(), config_trusting(peer->ca_file()), std::move(handlers));
  ASSERT_MOQ_OK(session);
  std::atomic<int> offers{0};
  auto listener = session->on_publish([&](const moq::Namespace&, std::string_view) -> std::optional<moq::AcceptedTrack> {
    ++offers;
    throw std::runtime_error("boom-from-offer");
  });
  ASSERT_MOQ_OK(listener);
  ASSERT_TRUE(wait_until([&] { return goaways.load() == 1 && offers.load() == 1; }, 10000ms))
      << "goaway " << goaways.load() << ", offers " << offers.load();
  EXPECT_TRUE(wait_until([&] { return log.contains(moq::LogLevel::error, "boom-from-goaway"); }, 5000ms))
      << log.dump();
  EXPECT_TRUE(wait_until([&] { return log.contains(moq::LogLevel::error, "boom-from-offer"); }, 5000ms))
      << log.dump();
  // A throwing offer handler rejects the track.
  EXPECT_FALSE(peer->wait_report("PUBLISH refused", 5000ms).empty())
      << peer->process().stderr_text();
  EXPECT_EQ(session->state(), moq::SessionState::connected);
}

TEST(Boundary, ExceptionsFromWatchFetchAndTrackRequestCallbacksAreContained) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  LogCapture log;
  const auto prefix = test_namespace();
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);

  // Namespace watch: on_added and on_closed throw.
  std::atomic<int> added{0};
  auto on_added = [&](const moq::Namespace&) {
    ++added;
    throw std::runtime_error("boom-from-on-added");
  };
  auto on_watch_closed = [](const moq::Status&) {
    throw std::runtime_error("boom-from-watch-closed");
  };
  auto watch = session->subscribe_namespace(prefix, {on_added, nullptr, on_watch_closed});
  ASSERT_MOQ_OK(watch);
  auto announcement = session->announce(test_namespace("tracks"));
  ASSERT_MOQ_OK(announcement);
  ASSERT_TRUE(wait_until([&] { return added.load() == 1; }, 10000ms));

  // Track request handler throws: the request is refused, nothing else breaks.
  std::atomic<int> requests{0};
  announcement->on_track_requested([&](moq::TrackRequest) {
    ++requests;
    throw std::runtime_error("boom-from-track-request");
  });
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  auto refused = subscriber->subscribe(test_namespace("tracks"), "asked", [](const moq::Object&) {});
  EXPECT_MOQ_ERROR(refused, moq::Errc::not_found);
  EXPECT_EQ(requests.load(), 1);

  // Fetch: on_object and on_closed throw; every object is still delivered.
  auto track = announcement->create_track("history", with_history());
  ASSERT_MOQ_OK(track);
  ASSERT_TRUE(write_group(*track, {"one", "two", "three"}));
  std::atomic<int> fetched{0};
  std::atomic<bool> fetch_closed{false};
  auto on_fetched = [&](const moq::Object&) {
    ++fetched;
    throw 7;  // not a std::exception
  };
  auto on_fetch_closed = [&](const moq::Status&) {
    fetch_closed = true;
    throw std::runtime_error("boom-from-fetch-closed");
  };
  auto fetch = subscriber->fetch(test_namespace("tracks"), "history", moq::FetchRange::groups(0, 0),
                                 {on_fetched, on_fetch_closed});
  ASSERT_MOQ_OK(fetch);
  ASSERT_TRUE(wait_until([&] { return fetch_closed.load(); }, 10000ms));
  EXPECT_EQ(fetched.load(), 3);

  ASSERT_MOQ_OK(session->close());
  ASSERT_TRUE(wait_until([&] { return watch->closed(); }, 10000ms));
  for (const char* thrown : {"boom-from-on-added", "boom-from-track-request", "non-std",
                             "boom-from-fetch-closed", "boom-from-watch-closed"}) {
    EXPECT_TRUE(wait_until([&] { return log.dump().find(thrown) != std::string::npos; }, 5000ms))
        << "not logged: " << thrown << "\n" << log.dump();
  }
  EXPECT_EQ(subscriber->state(), moq::SessionState::connected);
}

TEST(Boundary, ThrowingLogHandlerIsContained) {
  std::atomic<int> calls{0};
  moq::set_log_handler([&](moq::LogLevel, std::string_view) {
    ++calls;
    throw std::runtime_error("boom-from-log-handler");
  });
  // Disabling verification logs a warning: the handler throws inside it.
  moq::SessionConfig config = quick_config();
  config.tls.disable_verify = true;
  auto session = moq::Session::connect("https://127.0.0.1:9/", config);
  EXPECT_FALSE(session);
  EXPECT_GE(calls.load(), 1);
  EXPECT_MOQ_ERROR(moq::test_hooks::panic_in_rust(), moq::Errc::internal);
  moq::set_log_handler(nullptr);
}

// ------------------------------------------------------------------ the engine's log

TEST(Log, TheEngineLogsThroughTheHandlerAtTheChosenLevel) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  {
    // At the default level (warn) a plain connect and close log nothing.
    LogCapture log;
    auto session = connect_to(*relay);
    ASSERT_MOQ_OK(session);
    ASSERT_MOQ_OK(session->close());
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(log.contains(moq::LogLevel::debug, "moq_transport")) << log.dump();
  }
  {
    // At debug, the engine's own events (made on the library's threads and
    // on this one, inside connect) reach the handler.
    LogCapture log;
    moq::set_log_level(moq::LogLevel::debug);
    auto session = connect_to(*relay);
    moq::set_log_level(moq::LogLevel::warn);
    ASSERT_MOQ_OK(session);
    EXPECT_TRUE(wait_until([&] { return log.contains(moq::LogLevel::debug, "moq_transport: "); },
                           5000ms))
        << log.dump();
    // Messages made before the level went back up are still delivered (to
    // the handler installed then): let them drain into this capture.
    std::this_thread::sleep_for(300ms);
  }
}

}  // namespace
