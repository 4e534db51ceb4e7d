// DESIGN §4 promises: any thread, serialized in-order callbacks, callbacks that
// destroy their own handles, destructors that wait for running callbacks,
// exactly one terminal event, would_block from callbacks, exceptions caught,
// inert moved-from handles.
#include "test_util.hpp"

#include <map>
#include <set>
#include <stdexcept>

using namespace moq_test;

namespace {

// Publishes on a background thread until stopped (for "while data flows" tests).
class BackgroundWriter {
 public:
  explicit BackgroundWriter(moq::TrackWriter& track, int objects_per_group = 5)
      : thread_([this, &track, objects_per_group] {
          while (!stop_) {
            auto g = track.begin_group();
            if (!g) return;
            for (int i = 0; i < objects_per_group; ++i) {
              if (!g->write(moq::Bytes::copy("data" + std::to_string(i)))) return;
            }
            if (!g->finish()) return;
            groups_.fetch_add(1);
            std::this_thread::sleep_for(2ms);
          }
        }) {}
  ~BackgroundWriter() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int groups() const { return groups_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> groups_{0};
  std::thread thread_;
};

}  // namespace

TEST(Threading, FourThreadsWriteGroupsOfOneTrackConcurrently) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  PubSub f;
  make_pubsub(*relay, ns, "t", &f);
  if (HasFatalFailure()) return;

  constexpr int kThreads = 4, kGroupsEach = 5, kObjects = 50;
  std::mutex mu;
  std::map<uint64_t, int> group_owner;  // group id -> thread*kGroupsEach+n
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kGroupsEach; ++n) {
        auto g = f.pub.track->begin_group();
        if (!g) {
          failures.fetch_add(1);
          continue;
        }
        const int tag = t * kGroupsEach + n;
        {
          std::lock_guard<std::mutex> lk(mu);
          group_owner[g->group_id()] = tag;
        }
        for (int i = 0; i < kObjects; ++i)
          if (!g->write(moq::Bytes(pattern(tag * 1000 + i, 100)))) failures.fetch_add(1);
        if (!g->finish()) failures.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(group_owner.size(), static_cast<std::size_t>(kThreads * kGroupsEach))
      << "group ids were handed out twice";
  // Ids are consecutive: no id lost or reused under concurrency.
  EXPECT_EQ(group_owner.rbegin()->first - group_owner.begin()->first,
            static_cast<uint64_t>(kThreads * kGroupsEach - 1));

  const std::size_t total = kThreads * kGroupsEach * kObjects;
  ASSERT_TRUE(f.sub.got.wait([&](const std::vector<moq::Object>& v) {
    std::size_t n = 0;
    for (const auto& o : v) n += group_owner.count(o.group_id);
    return n >= total;
  }, 20000ms));
  std::set<std::pair<uint64_t, uint64_t>> seen;
  std::map<uint64_t, uint64_t> next;
  for (const auto& o : f.sub.got.objects()) {
    auto it = group_owner.find(o.group_id);
    if (it == group_owner.end()) continue;  // warm-up
    EXPECT_TRUE(seen.insert({o.group_id, o.object_id}).second);
    EXPECT_EQ(o.object_id, next[o.group_id]++) << "group " << o.group_id << " out of order";
    EXPECT_TRUE(matches_pattern(o.payload, it->second * 1000 + o.object_id, 100));
  }
  EXPECT_EQ(seen.size(), total);
}

TEST(Threading, FourThreadsWriteOneGroupConcurrently) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  PubSub f;
  make_pubsub(*relay, ns, "t", &f);
  if (HasFatalFailure()) return;

  auto group = f.pub.track->begin_group();
  ASSERT_MOQ_OK(group);
  const uint64_t gid = group->group_id();
  constexpr int kThreads = 4, kEach = 200;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        if (!group->write(moq::Bytes::copy("t" + std::to_string(t) + ":" + std::to_string(i))))
          failures.fetch_add(1);
    });
  for (auto& th : threads) th.join();
  ASSERT_MOQ_OK(group->finish());
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(f.sub.got.wait([&](const std::vector<moq::Object>& v) {
    std::size_t n = 0;
    for (const auto& o : v) n += o.group_id == gid;
    return n >= kThreads * kEach;
  }));
  // Every write is one object; object ids are 0..N-1; each thread's writes keep their order.
  std::vector<int> last(kThreads, -1);
  uint64_t expected_id = 0;
  for (const auto& o : f.sub.got.objects()) {
    if (o.group_id != gid) continue;
    EXPECT_EQ(o.object_id, expected_id++);
    const std::string text = o.payload.to_string();
    const auto colon = text.find(':');
    ASSERT_NE(colon, std::string::npos) << text;
    const int t = std::stoi(text.substr(1, colon - 1));
    const int i = std::stoi(text.substr(colon + 1));
    ASSERT_TRUE(t >= 0 && t < kThreads);
    EXPECT_EQ(i, last[t] + 1) << "thread " << t << "'s objects were reordered or lost";
    last[t] = i;
  }
  EXPECT_EQ(expected_id, static_cast<uint64_t>(kThreads * kEach));
}

TEST(Threading, FourThreadsSubscribeOnOneSessionConcurrently) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t0", &pub);
  if (HasFatalFailure()) return;
  std::vector<moq::TrackWriter> tracks;
  tracks.push_back(std::move(*pub.track));
  for (int i = 1; i < 4; ++i) {
    auto t = pub.announcement->create_track("t" + std::to_string(i));
    ASSERT_MOQ_OK(t);
    tracks.push_back(std::move(t).value());
  }
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Collector got[4];
  std::optional<moq::Subscription> subs[4];
  std::string errors[4];
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      auto r = session->subscribe(ns, "t" + std::to_string(i), got[i].callback());
      if (r) subs[i].emplace(std::move(r).value());
      else errors[i] = describe(r.error());
    });
  for (auto& th : threads) th.join();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(subs[i].has_value()) << "subscribe t" << i << ": " << errors[i];
    ASSERT_TRUE(warm_up(tracks[i], [&] { return got[i].size() > 0; })) << "track t" << i;
  }
  // Each subscription gets its own track only.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(write_group(tracks[i], {"only t" + std::to_string(i)}));
  for (int i = 0; i < 4; ++i) {
    const std::string mine = "only t" + std::to_string(i);
    EXPECT_TRUE(wait_until([&] { return got[i].has_payload(mine); }, 10000ms)) << "t" << i;
    for (const auto& o : got[i].objects())
      EXPECT_TRUE(is_warmup(o) || o.payload.view() == mine) << "t" << i << " got " << o.payload.view();
  }
  for (int i = 0; i < 4; ++i) subs[i].reset();
}

TEST(Threading, TrackRequestHandlersInstalledFromManyThreadsAtOnce) {
  // on_track_requested from four threads at once (the sanitizer builds see
  // any race), while requests arrive; afterwards the last handler serves.
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  auto publisher = connect_to(*relay);
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  ASSERT_MOQ_OK(subscriber);
  auto announcement = publisher->announce(ns);
  ASSERT_MOQ_OK(announcement);
  std::mutex made_mutex;
  std::vector<std::pair<std::string, moq::TrackWriter>> made;  // name, track
  auto accept_into = [&]() {
    return [&](moq::TrackRequest request) {
      std::string name(request.name());
      auto track = request.accept();
      if (!track) return;
      std::lock_guard<std::mutex> lock(made_mutex);
      made.emplace_back(std::move(name), std::move(track).value());
    };
  };
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 200; ++i) {
        if (i % 2 == 0) {
          announcement->on_track_requested(accept_into());
        } else {
          announcement->on_track_requested({});  // removes the handler
        }
      }
      announcement->on_track_requested(accept_into());
    });
  go = true;
  // Requests while the handlers change: each is answered one way or the
  // other, never hangs.
  std::vector<moq::Subscription> during;
  for (int i = 0; i < 5; ++i) {
    auto sub = subscriber->subscribe(ns, "during-" + std::to_string(i), [](const moq::Object&) {});
    if (sub) during.push_back(std::move(sub).value());
    else EXPECT_EQ(sub.error().code(), moq::Errc::not_found) << describe(sub.error());
  }
  for (auto& th : threads) th.join();
  auto after = subscriber->subscribe(ns, "after", [](const moq::Object&) {});
  ASSERT_MOQ_OK(after);
  std::lock_guard<std::mutex> lock(made_mutex);
  ASSERT_FALSE(made.empty());
  EXPECT_EQ(made.back().first, "after");
}

TEST(Threading, CallbacksOfOneSubscriptionNeverOverlapAndArriveInOrder) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  std::atomic<int> inside{0}, overlaps{0}, calls{0};
  std::mutex mu;
  std::map<uint64_t, std::vector<uint64_t>> order;  // group -> object ids as delivered
  std::atomic<bool> warmed{false};
  auto sub = session->subscribe(ns, "t", [&](const moq::Object& o) {
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    if (is_warmup(o)) {
      warmed = true;
    } else {
      std::lock_guard<std::mutex> lk(mu);
      order[o.group_id].push_back(o.object_id);
    }
    calls.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // widen the window
    inside.fetch_sub(1);
  });
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return warmed.load(); }));
  // Many groups in flight at once (one QUIC stream each) from several threads.
  std::set<uint64_t> gids;
  std::mutex gids_mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      std::vector<moq::GroupWriter> open;
      for (int g = 0; g < 5; ++g) {
        auto r = pub.track->begin_group();
        if (!r) return;
        std::lock_guard<std::mutex> lk(gids_mu);
        gids.insert(r->group_id());
        open.push_back(std::move(r).value());
      }
      for (int i = 0; i < 40; ++i)
        for (auto& g : open) EXPECT_MOQ_OK(g.write(moq::Bytes::copy("x")));  // interleaved
      for (auto& g : open) EXPECT_MOQ_OK(g.finish());
    });
  for (auto& th : threads) th.join();
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lk(mu);
    std::size_t n = 0;
    for (const auto& [g, ids] : order) n += gids.count(g) ? ids.size() : 0;
    return n >= 20 * 40;
  }, 20000ms));
  EXPECT_EQ(overlaps.load(), 0) << "two callbacks of one subscription ran at the same time";
  std::lock_guard<std::mutex> lk(mu);
  for (uint64_t g : gids) {
    const auto& ids = order[g];
    ASSERT_EQ(ids.size(), 40u) << "group " << g;
    for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], i) << "group " << g;
  }
}

TEST(Threading, CallbackMayDestroyItsOwnSubscription) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);

  std::mutex mu;
  std::unique_ptr<moq::Subscription> sub;
  std::atomic<int> calls{0}, calls_after_destroy{0};
  std::atomic<bool> destroyed{false};
  auto r = session->subscribe(ns, "t", [&](const moq::Object&) {
    if (destroyed) {
      calls_after_destroy.fetch_add(1);
      return;
    }
    calls.fetch_add(1);
    std::lock_guard<std::mutex> lk(mu);  // sub is assigned under mu
    if (sub) {
      sub.reset();  // ~Subscription inside its own callback: must not deadlock
      destroyed = true;
    }
  });
  ASSERT_MOQ_OK(r);
  {
    std::lock_guard<std::mutex> lk(mu);
    sub = std::make_unique<moq::Subscription>(std::move(r).value());
  }
  BackgroundWriter writer(*pub.track);
  ASSERT_TRUE(wait_until([&] { return destroyed.load(); }, 15000ms))
      << "the callback never destroyed its subscription (deadlock?)";
  const int groups_then = writer.groups();
  ASSERT_TRUE(wait_until([&] { return writer.groups() > groups_then + 50; }, 10000ms));
  writer.stop();
  EXPECT_EQ(calls_after_destroy.load(), 0) << "callbacks after the destroying callback returned";
  // The session still works.
  expect_still_receives(*session, ns, "t", *pub.track);
}

TEST(Threading, CallbackMayDestroyItsSubscriptionAndSession) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;

  std::mutex mu;
  std::unique_ptr<moq::Session> session;
  std::unique_ptr<moq::Subscription> sub;
  std::atomic<bool> done{false};
  std::atomic<int> after{0};
  {
    auto s = connect_to(*relay);
    ASSERT_MOQ_OK(s);
    session = std::make_unique<moq::Session>(std::move(s).value());
  }
  auto r = session->subscribe(ns, "t", [&](const moq::Object&) {
    if (done) {
      after.fetch_add(1);
      return;
    }
    std::lock_guard<std::mutex> lk(mu);
    if (!sub) return;
    sub.reset();
    session.reset();  // also the session, from the callback thread
    done = true;
  });
  ASSERT_MOQ_OK(r);
  {
    std::lock_guard<std::mutex> lk(mu);
    sub = std::make_unique<moq::Subscription>(std::move(r).value());
  }
  BackgroundWriter writer(*pub.track);
  ASSERT_TRUE(wait_until([&] { return done.load(); }, 15000ms)) << "deadlock or no delivery";
  std::this_thread::sleep_for(300ms);
  writer.stop();
  EXPECT_EQ(after.load(), 0);
  std::lock_guard<std::mutex> lk(mu);
  EXPECT_FALSE(session);
}

TEST(Threading, OnClosedMayDestroyItsSubscription) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Collector got;
  std::mutex mu;
  std::atomic<bool> destroyed{false};
  std::unique_ptr<moq::Subscription> sub;
  {
    // Under mu: on_closed waits until the subscription is in `sub`.
    std::lock_guard<std::mutex> lk(mu);
    auto r = session->subscribe(ns, "t", {got.callback(), [&](const moq::Status&) {
                                            std::lock_guard<std::mutex> lk2(mu);
                                            sub.reset();
                                            destroyed = true;
                                          }});
    ASSERT_MOQ_OK(r);
    sub = std::make_unique<moq::Subscription>(std::move(r).value());
  }
  ASSERT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));
  pub.track.reset();
  EXPECT_TRUE(wait_until([&] { return destroyed.load(); }, 10000ms));
}

TEST(Threading, StateCallbackMayDestroyItsSession) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  std::mutex mu;
  std::atomic<bool> destroyed{false};
  std::unique_ptr<moq::Session> session;
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status&) {
    std::lock_guard<std::mutex> lk2(mu);
    session.reset();
    destroyed = true;
  };
  auto s = moq::Session::connect(relay->url(), config_for(*relay), std::move(handlers));
  ASSERT_MOQ_OK(s);
  {
    std::lock_guard<std::mutex> lk(mu);
    session = std::make_unique<moq::Session>(std::move(s).value());
    ASSERT_MOQ_OK(session->close());
  }
  EXPECT_TRUE(wait_until([&] { return destroyed.load(); }, 10000ms));
}

TEST(Threading, SubscriptionDestructorWaitsForRunningCallback) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  std::atomic<bool> entered{false}, finished{false}, armed{true}, destroyed{false};
  std::atomic<int> late{0};
  auto r = session->subscribe(ns, "t", [&](const moq::Object&) {
    if (destroyed) late.fetch_add(1);
    if (!armed.exchange(false)) return;
    entered = true;
    std::this_thread::sleep_for(200ms);
    finished = true;
  });
  ASSERT_MOQ_OK(r);
  std::optional<moq::Subscription> sub(std::move(r).value());
  BackgroundWriter writer(*pub.track);
  ASSERT_TRUE(wait_until([&] { return entered.load(); }, 15000ms));
  const auto start = Clock::now();
  sub.reset();  // the callback is sleeping on a library thread right now
  const bool was_finished = finished.load();
  destroyed = true;
  const double waited = seconds_since(start);
  EXPECT_TRUE(was_finished) << "~Subscription returned while its callback was still running";
  EXPECT_LT(waited, 5.0);
  // The writer goes on publishing: no callback may start any more.
  const int groups_then = writer.groups();
  EXPECT_TRUE(wait_until([&] { return writer.groups() >= groups_then + 20; }, 5000ms));
  writer.stop();
  EXPECT_EQ(late.load(), 0) << "a callback ran after ~Subscription returned";
}

TEST(Threading, SessionDestructorWaitsForRunningStateCallback) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  std::atomic<bool> entered{false}, finished{false};
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status&) {
    entered = true;
    std::this_thread::sleep_for(200ms);
    finished = true;
  };
  auto s = moq::Session::connect(relay->url(), config_for(*relay), std::move(handlers));
  ASSERT_MOQ_OK(s);
  std::optional<moq::Session> session(std::move(s).value());
  ASSERT_MOQ_OK(session->close());
  ASSERT_TRUE(wait_until([&] { return entered.load(); }, 10000ms));
  session.reset();
  EXPECT_TRUE(finished.load()) << "~Session returned while its callback was still running";
}

TEST(Threading, ExactlyOneTerminalEventPerSubscriptionAndSession) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  std::atomic<int> sub_events{0}, session_events{0}, pub_session_events{0};
  std::atomic<int> objects_after_end{0};
  std::atomic<bool> ended{false};
  Publisher pub;
  {
    moq::SessionHandlers handlers;
    handlers.on_closed = [&](const moq::Status&) { pub_session_events.fetch_add(1); };
    make_publisher_at(relay->url(), config_for(*relay), ns, "t", &pub, {}, std::move(handlers));
    if (HasFatalFailure()) return;
  }
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status&) { session_events.fetch_add(1); };
  auto session = moq::Session::connect(relay->url(), config_for(*relay), std::move(handlers));
  ASSERT_MOQ_OK(session);
  Collector got;
  auto sub = session->subscribe(ns, "t",
                                {[&](const moq::Object& o) {
                                   if (ended) objects_after_end.fetch_add(1);
                                   got.add(o);
                                 },
                                 [&](const moq::Status&) {
                                   ended = true;
                                   sub_events.fetch_add(1);
                                 }});
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));
  // Every way of ending, one after the other: track end, publisher session
  // close, subscriber session close, destruction.
  pub.track.reset();
  ASSERT_TRUE(wait_until([&] { return sub_events.load() > 0; }, 10000ms));
  pub.announcement.reset();
  ASSERT_MOQ_OK(pub.session->close());
  ASSERT_MOQ_OK(session->close());
  ASSERT_TRUE(wait_until([&] { return session_events.load() > 0 && pub_session_events.load() > 0; },
                         10000ms));
  EXPECT_MOQ_ERROR(session->close(), moq::Errc::closed);
  std::this_thread::sleep_for(500ms);
  sub = moq::Error(moq::Errc::internal, "destroy");
  session = moq::Error(moq::Errc::internal, "destroy");
  pub.session.reset();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(sub_events.load(), 1);
  EXPECT_EQ(session_events.load(), 1);
  EXPECT_EQ(pub_session_events.load(), 1);
  EXPECT_EQ(objects_after_end.load(), 0) << "objects delivered after the terminal event";
}

TEST(Threading, BlockingCallsFromCallbacksReturnWouldBlock) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto other_track = pub.announcement->create_track("other");
  ASSERT_MOQ_OK(other_track);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto pull = session->subscribe(ns, "other");  // a pull subscription to call next() on
  ASSERT_MOQ_OK(pull);

  struct Outcome {
    std::optional<moq::Error> connect, announce, subscribe_push, subscribe_pull, next;
    bool try_next_returned = false;
    bool write_ok = false;
    double seconds = 0;
  };
  std::mutex mu;
  std::optional<Outcome> outcome;
  const std::string url = relay->url();
  const auto cfg = config_for(*relay);
  auto sub = session->subscribe(ns, "t", [&](const moq::Object&) {
    {
      std::lock_guard<std::mutex> lk(mu);
      if (outcome) return;
    }
    Outcome out;
    const auto start = Clock::now();
    auto c = moq::Session::connect(url, cfg);
    if (!c) out.connect = c.error();
    auto a = session->announce(test_namespace("from-callback"));
    if (!a) out.announce = a.error();
    auto sp = session->subscribe(ns, "other2", [](const moq::Object&) {});
    if (!sp) out.subscribe_push = sp.error();
    auto sl = session->subscribe(ns, "other2");
    if (!sl) out.subscribe_pull = sl.error();
    auto n = pull->next(5000ms);
    if (!n) out.next = n.error();
    // Non-blocking calls are fine from a callback.
    (void)pull->try_next();
    out.try_next_returned = true;
    auto g = other_track->begin_group();
    out.write_ok = g && g->write(moq::Bytes::copy("from callback")) && g->finish();
    out.seconds = seconds_since(start);
    std::lock_guard<std::mutex> lk(mu);
    outcome = std::move(out);
  });
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up(*pub.track, [&] {
    std::lock_guard<std::mutex> lk(mu);
    return outcome.has_value();
  }, 20000ms));
  std::lock_guard<std::mutex> lk(mu);
  const Outcome& o = *outcome;
  auto check = [](const std::optional<moq::Error>& e, const char* what) {
    ASSERT_TRUE(e.has_value()) << what << " succeeded from a callback";
    EXPECT_EQ(e->code(), moq::Errc::would_block) << what << ": " << describe(*e);
    EXPECT_GE(e->message().size(), 10u) << what;
  };
  check(o.connect, "Session::connect");
  check(o.announce, "Session::announce");
  check(o.subscribe_push, "Session::subscribe (push)");
  check(o.subscribe_pull, "Session::subscribe (pull)");
  check(o.next, "Subscription::next");
  EXPECT_TRUE(o.try_next_returned);
  EXPECT_TRUE(o.write_ok) << "publishing (non-blocking) from a callback must work";
  EXPECT_LT(o.seconds, 2.0) << "the refused calls must return at once";
}

TEST(Threading, BlockingCallFromOnClosedReturnsWouldBlock) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Collector got;
  std::mutex mu;
  std::optional<moq::Errc> code;
  auto sub = session->subscribe(ns, "t", {got.callback(), [&](const moq::Status&) {
                                            auto r = session->subscribe(
                                                ns, "t", [](const moq::Object&) {});
                                            std::lock_guard<std::mutex> lk(mu);
                                            code = r ? moq::Errc::internal : r.error().code();
                                          }});
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));
  pub.track.reset();
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lk(mu);
    return code.has_value();
  }, 10000ms));
  std::lock_guard<std::mutex> lk(mu);
  EXPECT_EQ(*code, moq::Errc::would_block) << moq::to_string(*code);
}

TEST(Threading, ExceptionsFromCallbacksAreCaughtAndLogged) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  LogCapture log;
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  moq::SessionHandlers handlers;
  handlers.on_closed = [](const moq::Status&) { throw std::runtime_error("boom-from-state"); };
  auto session = moq::Session::connect(relay->url(), config_for(*relay), std::move(handlers));
  ASSERT_MOQ_OK(session);
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<std::string> delivered;
  auto sub = session->subscribe(
      ns, "t",
      {[&](const moq::Object& o) {
         const int n = calls.fetch_add(1);
         {
           std::lock_guard<std::mutex> lk(mu);
           delivered.push_back(o.payload.to_string());
         }
         if (n % 2 == 0) throw std::runtime_error("boom-from-test-callback");
         throw 42;  // not a std::exception
       },
       [](const moq::Status&) { throw std::logic_error("boom-from-on-closed"); }});
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return calls.load() > 0; }));
  // Later objects are still delivered after callbacks threw.
  ASSERT_TRUE(write_group(*pub.track, {"after-1", "after-2", "after-3"}));
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lk(mu);
    return !delivered.empty() && delivered.back() == "after-3";
  }, 10000ms));
  EXPECT_TRUE(log.contains(moq::LogLevel::error, "boom-from-test-callback")) << log.dump();
  EXPECT_TRUE(wait_until([&] { return log.dump().find("non-std") != std::string::npos; }, 1000ms))
      << "a non-std exception must be logged too:\n" << log.dump();
  // The terminal callbacks throw as well; the process survives.
  pub.track.reset();
  ASSERT_TRUE(wait_until([&] { return sub->closed(); }, 10000ms));
  EXPECT_TRUE(wait_until([&] { return log.contains(moq::LogLevel::error, "boom-from-on-closed"); },
                         5000ms)) << log.dump();
  ASSERT_MOQ_OK(session->close());
  EXPECT_TRUE(wait_until([&] { return log.contains(moq::LogLevel::error, "boom-from-state"); },
                         5000ms)) << log.dump();
}

TEST(Threading, MovedFromHandlesAreInert) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  // The handlers given at connect move with the Session.
  std::atomic<bool> state_called{false};
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status&) { state_called = true; };
  auto s = moq::Session::connect(relay->url(), config_for(*relay), std::move(handlers));
  ASSERT_MOQ_OK(s);
  moq::Session session = std::move(s).value();
  moq::Session session2 = std::move(session);
  // Session
  EXPECT_EQ(session.state(), moq::SessionState::closed);
  EXPECT_MOQ_ERROR(session.close(), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session.announce(ns), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session.subscribe(ns, "t", [](const moq::Object&) {}), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session.subscribe(ns, "t"), moq::Errc::invalid_argument);
  EXPECT_EQ(session2.state(), moq::SessionState::connected) << "the moved-to session works";

  auto a = session2.announce(ns);
  ASSERT_MOQ_OK(a);
  moq::Announcement ann = std::move(a).value();
  moq::Announcement ann2 = std::move(ann);
  EXPECT_MOQ_ERROR(ann.create_track("t"), moq::Errc::invalid_argument);
  (void)ann.ns();  // safe, whatever it returns
  EXPECT_EQ(ann2.ns(), ns);

  auto t = ann2.create_track("t");
  ASSERT_MOQ_OK(t);
  moq::TrackWriter track = std::move(t).value();
  moq::TrackWriter track2 = std::move(track);
  EXPECT_MOQ_ERROR(track.begin_group(), moq::Errc::invalid_argument);

  auto g = track2.begin_group();
  ASSERT_MOQ_OK(g);
  moq::GroupWriter group = std::move(g).value();
  moq::GroupWriter group2 = std::move(group);
  EXPECT_MOQ_ERROR(group.write(moq::Bytes::copy("x")), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(group.finish(), moq::Errc::invalid_argument);
  (void)group.group_id();
  ASSERT_MOQ_OK(group2.write(moq::Bytes::copy("x")));

  auto r = session2.subscribe(ns, "t");
  ASSERT_MOQ_OK(r);
  moq::Subscription sub = std::move(r).value();
  moq::Subscription sub2 = std::move(sub);
  EXPECT_FALSE(sub.try_next().has_value());
  EXPECT_MOQ_ERROR(sub.next(10ms), moq::Errc::invalid_argument);
  EXPECT_TRUE(sub.closed());
  EXPECT_EQ(sub.stats().dropped_objects, 0u);
  EXPECT_FALSE(sub2.closed());

  // Move-assignment over a live handle releases the old one; over a moved-from one revives it.
  sub = std::move(sub2);
  EXPECT_FALSE(sub.closed());
  group = std::move(group2);
  ASSERT_MOQ_OK(group.write(moq::Bytes::copy("y")));
  ASSERT_MOQ_OK(group.finish());
  session = std::move(session2);
  EXPECT_EQ(session.state(), moq::SessionState::connected);
  EXPECT_EQ(session2.state(), moq::SessionState::closed);
  EXPECT_FALSE(state_called.load()) << "calls on a moved-from Session must not end the session";
  // Every moved-from handle is destroyed at the end of the test: must be safe.
}

TEST(Threading, MoveAssigningOverALiveSubscriptionUnsubscribesIt) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "a", &pub);
  if (HasFatalFailure()) return;
  auto track_b = pub.announcement->create_track("b");
  ASSERT_MOQ_OK(track_b);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  std::atomic<bool> replaced{false};
  std::atomic<int> a_after{0};
  Collector got_a, got_b;
  auto a = session->subscribe(ns, "a", [&](const moq::Object& o) {
    if (replaced) a_after.fetch_add(1);
    got_a.add(o);
  });
  ASSERT_MOQ_OK(a);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return got_a.size() > 0; }));
  auto b = session->subscribe(ns, "b", got_b.callback());
  ASSERT_MOQ_OK(b);
  moq::Subscription sub = std::move(a).value();
  sub = std::move(b).value();  // releases the subscription to "a" (waits for its callbacks)
  replaced = true;
  BackgroundWriter writer(*pub.track);
  ASSERT_TRUE(warm_up(*track_b, [&] { return got_b.size() > 0; }));
  std::this_thread::sleep_for(300ms);
  writer.stop();
  EXPECT_GT(writer.groups(), 10);
  EXPECT_EQ(a_after.load(), 0);
}
