// Handle lifetimes: what destroying a TrackWriter, Announcement, Subscription
// or Session does to the other side; terminal events; closed sessions.
#include "test_util.hpp"

using namespace moq_test;

namespace {

// A subscriber session + push subscription that records its terminal events.
struct Watched {
  Collector got;
  std::mutex mu;
  std::condition_variable cv;
  int closed_events = 0;
  std::optional<moq::Status> status;
  Clock::time_point closed_at;
  // Last, so they are destroyed first (their callbacks use the members above).
  std::optional<moq::Session> session;
  std::optional<moq::Subscription> sub;

  void on_closed(const moq::Status& st) {
    std::lock_guard<std::mutex> lk(mu);
    ++closed_events;
    status = st;
    closed_at = Clock::now();
    cv.notify_all();
  }
  bool wait_closed(milliseconds timeout) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, timeout, [&] { return closed_events > 0; });
  }
  int events() {
    std::lock_guard<std::mutex> lk(mu);
    return closed_events;
  }
};

// `session_handlers` go to the watcher's session (what they capture must
// outlive `w`).
void watch(const Relay& relay, const moq::Namespace& ns, const std::string& track, Watched* w,
           moq::SessionHandlers session_handlers = {}) {
  auto session = moq::Session::connect(relay.url(), config_for(relay), std::move(session_handlers));
  ASSERT_MOQ_OK(session);
  w->session.emplace(std::move(session).value());
  auto sub = w->session->subscribe(
      ns, track, {w->got.callback(), [w](const moq::Status& st) { w->on_closed(st); }});
  ASSERT_MOQ_OK(sub);
  w->sub.emplace(std::move(sub).value());
}

// make_publisher, watch the track from a fresh session, then warm_up until
// the watcher received something. Fails the test on error.
void publish_and_watch(const Relay& relay, const moq::Namespace& ns, const std::string& track,
                       Publisher* pub, Watched* w, moq::SessionHandlers session_handlers = {}) {
  make_publisher(relay, ns, track, pub);
  if (::testing::Test::HasFatalFailure()) return;
  watch(relay, ns, track, w, std::move(session_handlers));
  if (::testing::Test::HasFatalFailure()) return;
  ASSERT_TRUE(warm_up(*pub->track, [w] { return w->got.size() > 0; }));
}

// Subscribes on a fresh session and returns the outcome.
moq::Result<moq::Subscription> try_subscribe(const Relay& relay, const moq::Namespace& ns,
                                             const std::string& track,
                                             std::optional<moq::Session>* keep) {
  auto session = connect_to(relay);
  if (!session) return session.error();
  keep->emplace(std::move(session).value());
  return (*keep)->subscribe(ns, track, [](const moq::Object&) {});
}

}  // namespace

TEST(Lifetime, DestroyingTrackWriterEndsSubscriptionNormally) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  Watched w;
  publish_and_watch(*relay, ns, "t", &pub, &w);
  if (HasFatalFailure()) return;
  EXPECT_FALSE(w.sub->closed());
  EXPECT_EQ(w.events(), 0);

  pub.track.reset();  // ends the track
  ASSERT_TRUE(w.wait_closed(10000ms)) << "no terminal event after the TrackWriter was destroyed";
  {
    std::lock_guard<std::mutex> lk(w.mu);
    ASSERT_TRUE(w.status.has_value());
    EXPECT_TRUE(w.status->has_value())
        << "a normal end must be an ok Status, got " << describe(w.status->error());
  }
  EXPECT_TRUE(w.sub->closed());
  // Still exactly one terminal event, also after more session activity and teardown.
  std::this_thread::sleep_for(200ms);
  EXPECT_MOQ_OK(pub.session->close());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(w.events(), 1);
}

TEST(Lifetime, PullSubscriptionReportsEndOfTrackAfterQueueDrains) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto sub = session->subscribe(ns, "t");
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up_pull(*pub.track, *sub));
  ASSERT_TRUE(write_group(*pub.track, {"last"}));
  // Wait for "last" to be queued before ending the track.
  std::vector<std::string> seen;
  ASSERT_TRUE(wait_until([&] {
    while (auto o = sub->try_next()) seen.push_back(o->payload.to_string());
    return !seen.empty() && seen.back() == "last";
  }, 10000ms));
  pub.track.reset();
  ASSERT_TRUE(wait_until([&] { return sub->closed(); }, 10000ms));
  auto r = sub->next(5000ms);
  EXPECT_MOQ_ERROR(r, moq::Errc::end_of_track);  // a normal end, told apart from a failure
}

TEST(Lifetime, DestroyingAnnouncementWithdrawsTheNamespace) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  {
    // Positive control: while announced, the track can be subscribed.
    std::optional<moq::Session> s;
    auto r = try_subscribe(*relay, ns, "t", &s);
    ASSERT_MOQ_OK(r);
  }
  pub.announcement.reset();  // the TrackWriter stays alive: only the announcement goes
  // Withdrawal travels to the relay asynchronously: poll with fresh sessions.
  moq::Errc last = moq::Errc::internal;
  std::string last_message;
  const bool gone = wait_until([&] {
    std::optional<moq::Session> s;
    auto r = try_subscribe(*relay, ns, "t", &s);
    if (r) {
      std::this_thread::sleep_for(50ms);
      return false;
    }
    last = r.error().code();
    last_message = r.error().message();
    return last == moq::Errc::not_found;
  }, 10000ms);
  EXPECT_TRUE(gone) << "still subscribable (or other error: " << moq::to_string(last) << ": "
                    << last_message << ") after the Announcement was destroyed";
  EXPECT_FALSE(last_message.empty());
  // The orphaned TrackWriter is still safe to use and destroy.
  auto g = pub.track->begin_group();
  if (g) (void)g->write(moq::Bytes::copy("nobody listens"));
}

TEST(Lifetime, DestroyingSubscriptionStopsCallbacks) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  std::atomic<bool> destroyed{false};
  std::atomic<int> before{0}, after{0}, closed_calls{0};
  auto sub = session->subscribe(
      ns, "t",
      {[&](const moq::Object&) { (destroyed ? after : before).fetch_add(1); },
       [&](const moq::Status&) { closed_calls.fetch_add(1); }});
  ASSERT_MOQ_OK(sub);

  // Keep publishing from another thread the whole time.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      auto g = pub.track->begin_group();
      if (!g) return;
      for (int i = 0; i < 5; ++i) {
        if (!g->write(moq::Bytes::copy("data"))) return;
      }
      if (!g->finish()) return;
      std::this_thread::sleep_for(2ms);
    }
  });
  const bool flowing = wait_until([&] { return before.load() >= 20; }, 15000ms);
  {
    moq::Subscription doomed = std::move(sub).value();
    // ~Subscription runs at the end of this scope.
  }
  destroyed = true;
  std::this_thread::sleep_for(1000ms);  // publishing continues
  stop = true;
  writer.join();
  ASSERT_TRUE(flowing) << "objects never flowed (positive control)";
  EXPECT_EQ(after.load(), 0) << "callbacks ran after ~Subscription returned";
  EXPECT_EQ(closed_calls.load(), 0) << "on_closed must not run when the user destroys it";
  // The session is still healthy: a new subscription to the same track works.
  expect_still_receives(*session, ns, "t", *pub.track);
}

TEST(Lifetime, PublisherCloseReachesSubscriberWellBeforeIdleTimeout) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  Watched w;
  publish_and_watch(*relay, ns, "t", &pub, &w);
  if (HasFatalFailure()) return;
  const auto start = Clock::now();
  ASSERT_MOQ_OK(pub.session->close(0, "bye"));
  ASSERT_TRUE(w.wait_closed(9000ms)) << "no terminal event: the relay did not see a CLOSE";
  const double took = std::chrono::duration<double>(w.closed_at - start).count();
  EXPECT_LT(took, 5.0) << "terminal event after " << took
                       << " s: looks like an idle timeout, not a graceful close";
  EXPECT_EQ(w.events(), 1);
}

TEST(Lifetime, DestroyingPublisherSessionReachesSubscriberQuickly) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  Watched w;
  publish_and_watch(*relay, ns, "t", &pub, &w);
  if (HasFatalFailure()) return;
  const auto start = Clock::now();
  // Destroy everything, session first (the other handles outlive it).
  pub.session.reset();
  // Bounded well below the idle timeout (10 s), with room for a loaded machine.
  EXPECT_LT(seconds_since(start), 3.0) << "~Session must not wait on the network";
  ASSERT_TRUE(w.wait_closed(9000ms));
  EXPECT_LT(std::chrono::duration<double>(w.closed_at - start).count(), 5.0);
  pub.track.reset();
  pub.announcement.reset();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(w.events(), 1);
}

TEST(Lifetime, HandlesOutlivingTheirSessionReportClosed) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto group = pub.track->begin_group();
  ASSERT_MOQ_OK(group);
  ASSERT_MOQ_OK(group->write(moq::Bytes::copy("before")));
  pub.session.reset();
  EXPECT_MOQ_ERROR(group->write(moq::Bytes::copy("after")), moq::Errc::closed);
  EXPECT_MOQ_ERROR(pub.track->begin_group(), moq::Errc::closed);
  EXPECT_MOQ_ERROR(pub.announcement->create_track("t2"), moq::Errc::closed);
  EXPECT_EQ(pub.announcement->ns(), ns);
  // Destroyed after the session: must be safe.
}

TEST(Lifetime, CallsOnAClosedSessionReturnClosed) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto group = pub.track->begin_group();
  ASSERT_MOQ_OK(group);
  ASSERT_MOQ_OK(pub.session->close());
  EXPECT_EQ(pub.session->state(), moq::SessionState::closed);

  const auto start = Clock::now();
  EXPECT_MOQ_ERROR(pub.session->announce(test_namespace("other")), moq::Errc::closed);
  EXPECT_MOQ_ERROR(pub.session->subscribe(ns, "t", [](const moq::Object&) {}), moq::Errc::closed);
  EXPECT_MOQ_ERROR(pub.session->subscribe(ns, "t"), moq::Errc::closed);
  EXPECT_MOQ_ERROR(pub.announcement->create_track("t2"), moq::Errc::closed);
  EXPECT_MOQ_ERROR(pub.track->begin_group(), moq::Errc::closed);
  EXPECT_MOQ_ERROR(group->write(moq::Bytes::copy("x")), moq::Errc::closed);
  EXPECT_MOQ_ERROR(pub.session->close(), moq::Errc::closed);
  EXPECT_LT(seconds_since(start), 2.0) << "calls on a closed session must not wait";
}

TEST(Lifetime, SessionTerminalEventAfterLocalCloseIsOnceWithNullError) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  bool success = false;
  std::thread::id thread;
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status& status) {
    std::lock_guard<std::mutex> lk(mu);
    ++calls;
    success = status.has_value();
    thread = std::this_thread::get_id();
    cv.notify_all();
  };
  auto session = moq::Session::connect(relay->url(), config_for(*relay), std::move(handlers));
  ASSERT_MOQ_OK(session);
  EXPECT_EQ(session->state(), moq::SessionState::connected);
  ASSERT_MOQ_OK(session->close(7, "done"));
  {
    std::unique_lock<std::mutex> lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 5s, [&] { return calls > 0; }));
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_MOQ_ERROR(session->close(), moq::Errc::closed);
  session = moq::Error(moq::Errc::internal, "drop the session");  // destroys it
  std::this_thread::sleep_for(100ms);
  std::lock_guard<std::mutex> lk(mu);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(success) << "a local close() must end the session with success";
  EXPECT_NE(thread, std::this_thread::get_id()) << "callbacks run on library threads";
}

TEST(Lifetime, EndIsSeenAtOnceAfterTheTerminalEvent) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  // The terminal event is delivered to the callback given at connect...
  std::atomic<int> calls{0};
  std::atomic<bool> success{false};
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status& status) {
    success = status.has_value();
    calls.fetch_add(1);
  };
  auto session = moq::Session::connect(relay->url(), config_for(*relay), std::move(handlers));
  ASSERT_MOQ_OK(session);
  ASSERT_MOQ_OK(session->close());
  ASSERT_TRUE(wait_until([&] { return calls.load() > 0; }, 5000ms));
  // ...and once it has run, this thread sees the end at once.
  EXPECT_EQ(session->state(), moq::SessionState::closed);
  EXPECT_MOQ_ERROR(session->close(), moq::Errc::closed);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(success.load());
}

TEST(Lifetime, LaterCallbacksReplaceEarlierOnes) {
  // The track request handler is the one callback that can still be set
  // again: the one given to announce() is replaced by the setter, and only
  // the later one runs. (Terminal callbacks are given once, at creation.)
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  std::atomic<int> first_calls{0}, second_calls{0};
  std::mutex mu;
  std::vector<moq::TrackWriter> made;
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto announcement =
      publisher->announce(ns, [&](moq::TrackRequest) { first_calls.fetch_add(1); });
  ASSERT_MOQ_OK(announcement);
  announcement->on_track_requested([&](moq::TrackRequest request) {
    second_calls.fetch_add(1);
    auto track = request.accept();
    if (!track) return;
    std::lock_guard<std::mutex> lk(mu);
    made.push_back(std::move(track).value());
  });
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  auto sub = subscriber->subscribe(ns, "t", [](const moq::Object&) {});
  ASSERT_MOQ_OK(sub);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(first_calls.load(), 0) << "the replaced handler ran";
  EXPECT_EQ(second_calls.load(), 1);
  std::lock_guard<std::mutex> lk(mu);
  EXPECT_EQ(made.size(), 1u);
}

TEST(Lifetime, RelayDeathEndsSessionWithAnError) {
  // Its own relay: this test kills it.
  std::string err;
  auto relay = Relay::start(&err);
  ASSERT_TRUE(relay) << err;
  const auto ns = test_namespace();
  // Before the watcher's session, whose on_closed uses them.
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  std::optional<moq::Error> error;
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status& status) {
    std::lock_guard<std::mutex> lk(mu);
    ++calls;
    if (!status) error = status.error();
    cv.notify_all();
  };
  Publisher pub;
  Watched w;
  publish_and_watch(*relay, ns, "t", &pub, &w, std::move(handlers));
  if (HasFatalFailure()) return;

  const auto start = Clock::now();
  relay->stop();  // SIGTERM, then SIGKILL: no graceful close from the relay
  // Destructors never wait on the network, also when the peer is gone.
  const auto destroy_start = Clock::now();
  pub.session.reset();
  EXPECT_LT(seconds_since(destroy_start), 3.0) << "~Session waited for a dead relay";
  {
    std::unique_lock<std::mutex> lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 16s, [&] { return calls > 0; }))
        << "no terminal event within 16 s of the relay's death (idle timeout is 10 s)";
    ASSERT_TRUE(error.has_value()) << "a lost session must report an Error, not nullptr";
    EXPECT_FALSE(error->message().empty());
    std::cout << "session lost after " << seconds_since(start) << " s: " << describe(*error)
              << "\n";
  }
  EXPECT_EQ(w.session->state(), moq::SessionState::closed);
  // The subscription ended with an error too (not a normal end), exactly once.
  ASSERT_TRUE(w.wait_closed(5000ms));
  {
    std::lock_guard<std::mutex> lk(w.mu);
    ASSERT_TRUE(w.status.has_value());
    EXPECT_FALSE(w.status->has_value()) << "a lost relay is not a normal end of track";
  }
  // Calls after the loss fail cleanly.
  EXPECT_MOQ_ERROR(w.session->subscribe(ns, "other"), moq::Errc::closed);
  EXPECT_MOQ_ERROR(w.session->close(), moq::Errc::closed);
  std::this_thread::sleep_for(100ms);
  std::lock_guard<std::mutex> lk(mu);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(w.events(), 1);
}

TEST(Lifetime, LocalSessionCloseEndsItsSubscriptionsWithAnError) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto second = pub.announcement->create_track("pull");
  ASSERT_MOQ_OK(second);
  Watched w;
  watch(*relay, ns, "t", &w);
  if (HasFatalFailure()) return;
  auto pull = w.session->subscribe(ns, "pull");
  ASSERT_MOQ_OK(pull);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return w.got.size() > 0; }));
  ASSERT_MOQ_OK(w.session->close());
  ASSERT_TRUE(w.wait_closed(5000ms)) << "closing the session must end its subscriptions";
  {
    std::lock_guard<std::mutex> lk(w.mu);
    ASSERT_TRUE(w.status.has_value());
    EXPECT_FALSE(w.status->has_value()) << "the track did not end normally: the session closed";
  }
  ASSERT_TRUE(wait_until([&] { return pull->closed(); }, 5000ms));
  EXPECT_MOQ_ERROR(pull->next(1000ms), moq::Errc::closed);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(w.events(), 1);
}

namespace {

// Live handles (with data flowing) in static storage, destroyed by exit().
[[noreturn]] void exit_with_live_handles(const moq::Namespace& ns) {
  Relay* relay = shared_relay();
  if (relay == nullptr) std::exit(3);
  struct Statics {
    Collector got;
    Publisher pub;
    std::optional<moq::Session> sub_session;
    std::optional<moq::Subscription> sub;
  };
  static Statics s;  // destroyed during exit(), before the relay (constructed later)
  // A log handler that is still busy as the process exits.
  moq::set_log_handler([](moq::LogLevel, std::string_view) { std::this_thread::sleep_for(1ms); });
  make_publisher(*relay, ns, "t", &s.pub);
  auto session = connect_to(*relay);
  if (!s.pub.track || !session) std::exit(4);
  s.sub_session.emplace(std::move(session).value());
  auto sub = s.sub_session->subscribe(ns, "t", s.got.callback());
  if (!sub) std::exit(5);
  s.sub.emplace(std::move(sub).value());
  if (!warm_up(*s.pub.track, [&] { return s.got.size() > 0; })) std::exit(6);
  auto group = s.pub.track->begin_group();
  if (group) (void)group->write(moq::Bytes::copy("in flight at exit"));
  std::exit(0);
}

}  // namespace

TEST(Lifetime, ShutdownClosesAndDrainsSessionsWhoseHandlesAreStillHeld) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto closed_by_user = connect_to(*relay);
  auto left_open = connect_to(*relay);
  ASSERT_MOQ_OK(closed_by_user);
  ASSERT_MOQ_OK(left_open);
  auto announcement = left_open->announce(test_namespace());
  ASSERT_MOQ_OK(announcement);
  ASSERT_MOQ_OK(closed_by_user->close(0, "done"));
  // Both handles (and the announcement) stay alive across the call.
  ASSERT_MOQ_OK(moq::shutdown(5000ms));
  EXPECT_EQ(closed_by_user->state(), moq::SessionState::closed);
  EXPECT_EQ(left_open->state(), moq::SessionState::closed);
  // The library stays usable.
  auto again = connect_to(*relay);
  ASSERT_MOQ_OK(again);
  EXPECT_EQ(again->state(), moq::SessionState::connected);
}

TEST(LifetimeDeathTest, LiveHandlesInStaticStorageAtExitAreSafe) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto ns = test_namespace();
  EXPECT_EXIT(exit_with_live_handles(ns), ::testing::ExitedWithCode(0), "");
}
