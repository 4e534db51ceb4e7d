// Callbacks given when a handle is made (SessionHandlers, ObjectHandlers,
// NamespaceHandlers, announce's track-request handler): how they convert,
// that a refused or failed request never calls on_closed and releases them
// at once, and that an end which comes before the Pending's answer is taken
// still reaches on_closed (the callback existed from the start).
#include <type_traits>

#include "test_util.hpp"

namespace moq_test {
namespace {

using ClosedCallback = moq::Callback<void(const moq::Status&)>;

// Counts how many copies of a callback the library still holds.
struct Held {
  std::shared_ptr<int> token = std::make_shared<int>(0);
  // True once the library destroyed every copy it was given.
  bool released() const { return token.use_count() == 1; }
};

TEST(Handlers, ALambdaAloneOrABracedListMakesTheHandlers) {
  auto on_object = [](const moq::Object&) {};
  auto on_closed = [](const moq::Status&) {};
  auto on_added = [](const moq::Namespace&) {};
  static_assert(std::is_convertible<decltype(on_object), moq::ObjectHandlers>::value,
                "a lambda alone is the on_object of ObjectHandlers");
  static_assert(std::is_convertible<decltype(on_added), moq::NamespaceHandlers>::value,
                "a lambda alone is the on_added of NamespaceHandlers");
  static_assert(!std::is_convertible<decltype(on_closed), moq::ObjectHandlers>::value,
                "a terminal-event callback is not an object callback");
  static_assert(!std::is_copy_constructible<moq::ObjectHandlers>::value &&
                    std::is_nothrow_move_constructible<moq::ObjectHandlers>::value,
                "handlers are move-only");
  static_assert(!std::is_copy_constructible<moq::SessionHandlers>::value, "move-only");
  static_assert(std::is_same<moq::AcceptedTrack, moq::ObjectHandlers>::value,
                "an accepted PUBLISH track takes the same handlers as a subscription");

  moq::ObjectHandlers only_object = on_object;
  EXPECT_TRUE(only_object.on_object);
  EXPECT_FALSE(only_object.on_closed);
  moq::ObjectHandlers both{on_object, on_closed};
  EXPECT_TRUE(both.on_object && both.on_closed);
  // Move-only state in a callback.
  moq::ObjectHandlers owning{[state = std::make_unique<int>(7)](const moq::Object&) { (void)*state; },
                             [state = std::make_unique<int>(8)](const moq::Status&) { (void)*state; }};
  EXPECT_TRUE(owning.on_object && owning.on_closed);

  moq::NamespaceHandlers added_only = on_added;
  EXPECT_TRUE(added_only.on_added);
  EXPECT_FALSE(added_only.on_removed || added_only.on_closed);
  moq::NamespaceHandlers all{on_added, on_added, on_closed};
  EXPECT_TRUE(all.on_added && all.on_removed && all.on_closed);
}

TEST(Handlers, AFailedConnectNeverCallsItsHandlersAndReleasesThem) {
  Held held;
  std::atomic<int> calls{0};
  moq::SessionHandlers handlers;
  handlers.on_closed = [&calls, token = held.token](const moq::Status&) { ++calls; };
  handlers.on_goaway = [&calls, token = held.token](std::string_view) { ++calls; };
  handlers.on_state_change = [&calls, token = held.token](moq::SessionState, const moq::Status&) {
    ++calls;
  };
  // Nothing listens on port 9 here: the connect fails (refused or timed out).
  auto session = moq::Session::connect("moqt://127.0.0.1:9/x", quick_config(), std::move(handlers));
  ASSERT_FALSE(session) << "connected to nothing?";
  EXPECT_TRUE(held.released()) << "a failed connect keeps its handlers (" << held.token.use_count() - 1
                               << " copies)";
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls.load(), 0) << "a session that never existed reported an event";
}

TEST(Handlers, ARefusedSubscribeNeverCallsOnClosedAndReleasesItsCallbacksAtOnce) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Held held;
  std::atomic<int> calls{0};
  auto sub = session->subscribe(
      test_namespace(), "nobody-publishes-this",
      {[&calls, token = held.token](const moq::Object&) { ++calls; },
       [&calls, token = held.token](const moq::Status&) { ++calls; }});
  EXPECT_MOQ_ERROR(sub, moq::Errc::not_found);
  EXPECT_TRUE(held.released()) << "a refused subscribe keeps its callbacks";

  // The same for a fetch of a track nobody publishes.
  auto fetch = session->fetch(test_namespace(), "nothing-to-fetch", moq::FetchRange::group(0),
                              {[&calls, token = held.token](const moq::Object&) { ++calls; },
                               [&calls, token = held.token](const moq::Status&) { ++calls; }});
  EXPECT_FALSE(fetch);
  EXPECT_TRUE(held.released()) << "a refused fetch keeps its callbacks";
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls.load(), 0) << "a refused request called its handlers";
}

TEST(Handlers, AnEndBeforeTheAnswerIsTakenReachesOnClosedOnce) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Collector got;  // before the Pending: outlives the callbacks
  Ends ends;
  moq::Pending<moq::Subscription> pending =
      session->subscribe_async(ns, "t", {got.callback(), ends.callback()});
  ASSERT_TRUE(wait_until([&] { return pending.ready(); })) << "no answer to the SUBSCRIBE";
  ASSERT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }))
      << "objects must reach the handlers before the answer is taken";

  pub.track.reset();  // ends the track while the answer is still in the Pending
  std::optional<moq::Status> end = ends.wait_first(10000ms);
  ASSERT_TRUE(end.has_value()) << "the end did not reach on_closed before the answer was taken";
  EXPECT_TRUE(end->has_value()) << "a normal end must be ok, got " << describe(end->error());

  std::optional<moq::Result<moq::Subscription>> answer = pending.try_get();
  ASSERT_TRUE(answer.has_value());
  ASSERT_MOQ_OK(*answer);
  EXPECT_TRUE((*answer)->closed());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(ends.count(), 1u) << "on_closed must be called exactly once";
}

TEST(Handlers, SessionOnClosedGivenAtConnectSeesALocalCloseOnceOnALibraryThread) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  Ends ends;
  std::atomic<bool> on_caller_thread{false};
  const std::thread::id caller = std::this_thread::get_id();
  moq::SessionHandlers handlers;
  handlers.on_closed = [&, record = ends.callback()](const moq::Status& status) {
    on_caller_thread = std::this_thread::get_id() == caller;
    record(status);
  };
  auto session = connect_to(*relay, config_for(*relay), std::move(handlers));
  ASSERT_MOQ_OK(session);
  EXPECT_EQ(ends.count(), 0u);
  ASSERT_MOQ_OK(session->close());
  std::optional<moq::Status> end = ends.wait_first(10000ms);
  ASSERT_TRUE(end.has_value()) << "no terminal event after close()";
  EXPECT_TRUE(end->has_value()) << "a local close is a success, got " << describe(end->error());
  EXPECT_FALSE(on_caller_thread.load()) << "on_closed ran inside close()";
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(ends.count(), 1u);
}

// Accepts every track requested of an announcement and keeps its writer.
// Declare it before the announcement: it must outlive the handler.
struct AcceptAll {
  std::mutex mu;
  std::vector<moq::TrackWriter> served;
  std::vector<std::string> requested;

  moq::Callback<void(moq::TrackRequest)> handler() {
    return [this](moq::TrackRequest request) {
      std::string name(request.name());
      auto track = request.accept();
      std::lock_guard<std::mutex> lk(mu);
      requested.push_back(name);
      if (track) served.push_back(std::move(track).value());
    };
  }
};

TEST(Handlers, AnnounceTakesItsTrackRequestHandlerUpFront) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  AcceptAll tracks;
  auto announcement = publisher->announce(ns, tracks.handler());
  ASSERT_MOQ_OK(announcement);

  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  Collector got;
  auto sub = subscriber->subscribe(ns, "on-demand", got.callback());
  ASSERT_MOQ_OK(sub);
  std::lock_guard<std::mutex> lk(tracks.mu);
  ASSERT_EQ(tracks.requested, std::vector<std::string>{"on-demand"});
  EXPECT_EQ(tracks.served.size(), 1u);
}

TEST(Handlers, ATrackRequestedBeforeTheAnnounceAnswerIsTakenReachesTheHandler) {
  // announce_async's handler is in place when the namespace is announced,
  // not when the answer is taken: a SUBSCRIBE in between reaches it.
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  AcceptAll tracks;
  auto pending = publisher->announce_async(ns, tracks.handler());
  ASSERT_TRUE(wait_until([&] { return pending.ready(); }, 15000ms)) << "no answer to announce";

  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  Collector got;
  auto sub = subscriber->subscribe(ns, "on-demand", got.callback());
  ASSERT_TRUE(sub.has_value()) << "the handler missed a request before the answer was taken: "
                               << describe(sub);
  {
    std::lock_guard<std::mutex> lk(tracks.mu);
    ASSERT_EQ(tracks.requested, std::vector<std::string>{"on-demand"});
    ASSERT_EQ(tracks.served.size(), 1u);
  }
  auto announcement = pending.wait(0ms);
  ASSERT_MOQ_OK(announcement);
  std::lock_guard<std::mutex> lk(tracks.mu);
  ASSERT_TRUE(write_group(tracks.served.front(), {"after"}));
  EXPECT_TRUE(got.wait_count(1)) << "the accepted track delivered nothing";
}

TEST(Handlers, DestroyingAnAnnounceNotTakenWithdrawsItAndReleasesItsHandler) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  // Destroyed at once, then once answered: the handler goes with the Pending.
  for (int round = 0; round < 3; ++round) {
    auto gone = std::make_shared<int>(0);
    std::weak_ptr<int> alive = gone;
    {
      auto pending = publisher->announce_async(ns, [gone](moq::TrackRequest) {});
      gone.reset();
      if (round > 0) {
        ASSERT_TRUE(wait_until([&] { return pending.ready(); }, 15000ms)) << "round " << round;
      }
    }
    EXPECT_TRUE(alive.expired()) << "round " << round << ": the handler outlived its Pending";
  }
  // The namespace was withdrawn: another session may announce it (retried
  // while the relay may still be processing the last withdrawal).
  auto other = connect_to(*relay);
  ASSERT_MOQ_OK(other);
  auto announcement = retry_while_duplicate([&] { return other->announce(ns); });
  EXPECT_TRUE(announcement.has_value()) << "a cancelled announcement was never withdrawn: "
                                        << describe(announcement);
}

}  // namespace
}  // namespace moq_test
