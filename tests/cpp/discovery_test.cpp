// Namespace discovery (Session::subscribe_namespace) and single-track PUBLISH
// (Session::publish_track, Session::on_publish) against the real relay.
//
// moq-relay-ietf 0.8 never sends PUBLISH to a client (only in answer to
// SUBSCRIBE_TRACKS, which moq-transport 0.17 cannot send), so here the
// receiving side of PUBLISH is covered by its registration rules;
// peer_test.cpp receives a PUBLISH from moq-test-peer.
#include "test_util.hpp"

using namespace moq_test;

namespace {

// Namespace events as "+a/b" (added) and "-a/b" (removed), in arrival order.
class NsEvents {
 public:
  std::function<void(const moq::Namespace&)> added() {
    return [this](const moq::Namespace& ns) { push("+" + ns.to_string()); };
  }
  std::function<void(const moq::Namespace&)> removed() {
    return [this](const moq::Namespace& ns) { push("-" + ns.to_string()); };
  }
  void push(std::string event) {
    std::lock_guard<std::mutex> lk(mu_);
    events_.push_back(std::move(event));
    cv_.notify_all();
  }
  bool wait_for(const std::string& event, milliseconds timeout = 10000ms) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, timeout, [&] {
      return std::find(events_.begin(), events_.end(), event) != events_.end();
    });
  }
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lk(mu_);
    return events_;
  }
  std::string dump() const {
    std::string out;
    for (const auto& e : events()) out += " " + e;
    return out.empty() ? " (none)" : out;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
};

// Terminal events of one handle.
struct Terminal {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<moq::Status> statuses;
  std::thread::id called_on;  // the thread of the last call

  std::function<void(const moq::Status&)> callback() {
    return [this](const moq::Status& st) {
      std::lock_guard<std::mutex> lk(mu);
      statuses.push_back(st);
      called_on = std::this_thread::get_id();
      cv.notify_all();
    };
  }
  bool wait(milliseconds timeout = 10000ms) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, timeout, [&] { return !statuses.empty(); });
  }
  std::size_t count() {
    std::lock_guard<std::mutex> lk(mu);
    return statuses.size();
  }
  moq::Status first() {
    std::lock_guard<std::mutex> lk(mu);
    return statuses.front();
  }
  std::thread::id thread() {
    std::lock_guard<std::mutex> lk(mu);
    return called_on;
  }
};

moq::Namespace ns_of(const std::string& path) { return moq::Namespace::parse(path).value(); }

// Writes one-object "warmup" groups until the subscriber saw one (the relay
// may not forward the first group to a subscriber that just attached).
bool warm_up_published(moq::PublishedTrack& track, Collector& got, milliseconds timeout = 15000ms) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto group = track.begin_group();
    if (!group) return false;
    if (!group->write(moq::Bytes::copy("warmup")) || !group->finish()) return false;
    if (wait_until([&] { return got.size() > 0; }, 200ms)) return true;
  }
  return false;
}

}  // namespace

// ------------------------------------------------------------------ SUBSCRIBE_NAMESPACE

TEST(Discovery, NamespacesUnderThePrefixAreAddedAndRemoved) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace prefix = test_namespace();
  const std::string p = prefix.to_string();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto watcher = connect_to(*relay);
  ASSERT_MOQ_OK(watcher);

  // Announced before the watch starts: reported as part of the snapshot.
  auto early = publisher->announce(test_namespace("early"));
  ASSERT_MOQ_OK(early);

  NsEvents got;
  auto watch = watcher->subscribe_namespace(prefix, {got.added(), got.removed()});
  ASSERT_MOQ_OK(watch);
  EXPECT_EQ(watch->prefix(), prefix);
  ASSERT_TRUE(got.wait_for("+" + p + "/early")) << "events:" << got.dump();

  // Outside the prefix (a longer first field is not the prefix field, and a
  // sibling), then inside it. The relay reports in order, so anything outside
  // the prefix that leaked would arrive before the namespace inside it.
  auto outside1 = publisher->announce(ns_of(p + "x/y"));
  ASSERT_MOQ_OK(outside1);
  auto outside2 = publisher->announce(ns_of("elsewhere/" + p));
  ASSERT_MOQ_OK(outside2);
  auto room = publisher->announce(test_namespace("room1/cam"));
  ASSERT_MOQ_OK(room);
  ASSERT_TRUE(got.wait_for("+" + p + "/room1/cam")) << "events:" << got.dump();
  EXPECT_EQ(got.events(), (std::vector<std::string>{"+" + p + "/early", "+" + p + "/room1/cam"}));

  // Withdrawn when the Announcement is destroyed.
  room = moq::Error(moq::Errc::cancelled, "destroy the announcement");
  ASSERT_TRUE(got.wait_for("-" + p + "/room1/cam")) << "events:" << got.dump();
  early = moq::Error(moq::Errc::cancelled, "destroy the announcement");
  ASSERT_TRUE(got.wait_for("-" + p + "/early")) << "events:" << got.dump();
  // Withdrawing a namespace outside the prefix is not reported either.
  outside1 = moq::Error(moq::Errc::cancelled, "destroy the announcement");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(got.events(),
            (std::vector<std::string>{"+" + p + "/early", "+" + p + "/room1/cam",
                                      "-" + p + "/room1/cam", "-" + p + "/early"}));
  EXPECT_FALSE(watch->closed());
}

TEST(Discovery, SubscribeNamespaceAsyncWatchesAndCancelsWhenDestroyed) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace prefix = test_namespace();
  const std::string p = prefix.to_string();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto room = publisher->announce(test_namespace("room"));
  ASSERT_MOQ_OK(room);
  auto watcher = connect_to(*relay);
  ASSERT_MOQ_OK(watcher);

  // Answered, not taken, destroyed: the watch ends (so the same prefix may
  // be watched again on this session) and its callbacks go with the Pending.
  for (int round = 0; round < 3; ++round) {
    auto gone = std::make_shared<int>(0);
    std::weak_ptr<int> alive = gone;
    {
      auto pending = watcher->subscribe_namespace_async(
          prefix, {[gone](const moq::Namespace&) {}, [gone](const moq::Namespace&) {}});
      gone.reset();
      ASSERT_TRUE(wait_until([&] { return pending.ready(); }, 15000ms)) << "round " << round;
    }
    EXPECT_TRUE(alive.expired()) << "round " << round << ": a callback outlived its Pending";
  }
  EXPECT_MOQ_ERROR(watcher->subscribe_namespace_async(prefix, nullptr).wait(5000ms),
                   moq::Errc::invalid_argument);

  NsEvents got;
  // Retried while the last cancelled watch may still be leaving (duplicate).
  auto watch = retry_while_duplicate([&] {
    return watcher->subscribe_namespace_async(prefix, {got.added(), got.removed()}).wait(15000ms);
  });
  ASSERT_TRUE(watch.has_value()) << "a cancelled watch was never ended: " << describe(watch);
  ASSERT_TRUE(got.wait_for("+" + p + "/room")) << "events:" << got.dump();
  EXPECT_EQ(got.events(), std::vector<std::string>{"+" + p + "/room"});
}

TEST(Discovery, DestroyingTheWatchStopsCallbacks) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace prefix = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto watcher = connect_to(*relay);
  ASSERT_MOQ_OK(watcher);

  std::atomic<bool> destroyed{false};
  std::atomic<int> before{0}, after{0};
  Terminal terminal;
  auto count = [&](const moq::Namespace&) { (destroyed ? after : before).fetch_add(1); };
  auto watch = watcher->subscribe_namespace(prefix, {count, count, terminal.callback()});
  ASSERT_MOQ_OK(watch);
  auto a = publisher->announce(test_namespace("a"));
  ASSERT_MOQ_OK(a);
  ASSERT_TRUE(wait_until([&] { return before.load() >= 1; }, 10000ms)) << "positive control";
  {
    moq::NamespaceWatch doomed = std::move(watch).value();
    // ~NamespaceWatch runs at the end of this scope.
  }
  destroyed = true;
  a = moq::Error(moq::Errc::cancelled, "withdraw");
  auto b = publisher->announce(test_namespace("b"));
  ASSERT_MOQ_OK(b);
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(after.load(), 0) << "callbacks ran after ~NamespaceWatch returned";
  EXPECT_EQ(terminal.count(), 0u) << "on_closed must not run when the user destroys the watch";
  // Cancelling one request leaves the session alone, even while the relay is
  // still writing on the watch's stream (it used to end the session: see
  // Request in src/discovery.rs).
  EXPECT_EQ(watcher->state(), moq::SessionState::connected);

  // The prefix is released: the same session can watch it again (the cancel
  // is processed by the session task, so allow it a moment).
  NsEvents again;
  auto second = retry_while_duplicate(
      [&] { return watcher->subscribe_namespace(prefix, {again.added(), again.removed()}); },
      10000ms);
  ASSERT_MOQ_OK(second);
  EXPECT_TRUE(again.wait_for("+" + prefix.to_string() + "/b")) << "events:" << again.dump();
}

TEST(Discovery, WatchMayBeDestroyedInsideItsOwnCallback) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace prefix = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto watcher = connect_to(*relay);
  ASSERT_MOQ_OK(watcher);

  std::mutex mu;
  std::optional<moq::NamespaceWatch> holder;
  std::atomic<int> calls{0};
  std::atomic<bool> inner_done{false};
  std::optional<moq::Errc> blocking_call;
  auto watch = watcher->subscribe_namespace(prefix, [&](const moq::Namespace&) {
    calls.fetch_add(1);
    // A blocking call from a callback thread is refused, never deadlocks.
    auto nested = watcher->subscribe_namespace(ns_of("nested/" + prefix.to_string()),
                                               [](const moq::Namespace&) {});
    std::lock_guard<std::mutex> lk(mu);
    if (!nested) blocking_call = nested.error().code();
    holder.reset();  // destroys the watch from inside its own callback
    inner_done = true;
  });
  ASSERT_MOQ_OK(watch);
  {
    std::lock_guard<std::mutex> lk(mu);
    holder.emplace(std::move(watch).value());
  }
  auto a = publisher->announce(test_namespace("a"));
  ASSERT_MOQ_OK(a);
  ASSERT_TRUE(wait_until([&] { return inner_done.load(); }, 10000ms));
  auto b = publisher->announce(test_namespace("b"));
  ASSERT_MOQ_OK(b);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(calls.load(), 1) << "a callback ran after the watch destroyed itself";
  std::lock_guard<std::mutex> lk(mu);
  ASSERT_TRUE(blocking_call.has_value()) << "subscribe_namespace from a callback succeeded";
  EXPECT_EQ(*blocking_call, moq::Errc::would_block);
  EXPECT_FALSE(holder.has_value());
}

TEST(Discovery, SessionCloseIsTheOneTerminalEvent) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto watcher = connect_to(*relay);
  ASSERT_MOQ_OK(watcher);
  NsEvents got;
  Terminal terminal;
  auto watch =
      watcher->subscribe_namespace(test_namespace(), {got.added(), nullptr, terminal.callback()});
  ASSERT_MOQ_OK(watch);
  EXPECT_FALSE(watch->closed());

  ASSERT_MOQ_OK(watcher->close(0, "bye"));
  ASSERT_TRUE(terminal.wait()) << "no terminal event after the session closed";
  EXPECT_TRUE(watch->closed());
  moq::Status status = terminal.first();
  ASSERT_FALSE(status.has_value()) << "a namespace watch always ends with an error";
  EXPECT_EQ(status.error().code(), moq::Errc::closed) << describe(status.error());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(terminal.count(), 1u);
  // on_closed, given at creation, ran once, on a library thread.
  EXPECT_NE(terminal.thread(), std::this_thread::get_id());

  // A closed session refuses new watches.
  auto refused = watcher->subscribe_namespace(test_namespace("again"), got.added());
  EXPECT_MOQ_ERROR(refused, moq::Errc::closed);
}

TEST(Discovery, BadInputsAndOverlappingPrefixes) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto watcher = connect_to(*relay);
  ASSERT_MOQ_OK(watcher);
  const moq::Namespace prefix = test_namespace();

  auto no_callback = watcher->subscribe_namespace(prefix, nullptr);
  EXPECT_MOQ_ERROR(no_callback, moq::Errc::invalid_argument);

  NsEvents got;
  auto first = watcher->subscribe_namespace(test_namespace("a"), got.added());
  ASSERT_MOQ_OK(first);
  // One is a prefix of the other, either way round: refused on one session.
  EXPECT_MOQ_ERROR(watcher->subscribe_namespace(prefix, got.added()), moq::Errc::duplicate);
  EXPECT_MOQ_ERROR(watcher->subscribe_namespace(test_namespace("a/b"), got.added()),
                   moq::Errc::duplicate);
  // A disjoint prefix is fine meanwhile.
  auto disjoint = watcher->subscribe_namespace(test_namespace("b"), got.added());
  ASSERT_MOQ_OK(disjoint);
  // The same prefix on another session is independent.
  auto other = connect_to(*relay);
  ASSERT_MOQ_OK(other);
  auto elsewhere = other->subscribe_namespace(test_namespace("a"), got.added());
  ASSERT_MOQ_OK(elsewhere);
}

TEST(Discovery, MovedFromHandlesAreInert) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto watcher = connect_to(*relay);
  ASSERT_MOQ_OK(watcher);
  NsEvents got;
  std::atomic<bool> called{false};
  auto watch = watcher->subscribe_namespace(
      test_namespace(), {got.added(), nullptr, [&](const moq::Status&) { called = true; }});
  ASSERT_MOQ_OK(watch);
  moq::NamespaceWatch moved = std::move(*watch);
  EXPECT_TRUE(watch->closed());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(watch->prefix().to_string(), "moved-from");
  EXPECT_FALSE(called) << "moving a watch is not its terminal event";
  EXPECT_FALSE(moved.closed());
  EXPECT_EQ(moved.prefix(), test_namespace());

  moq::Session session = std::move(*watcher);
  EXPECT_MOQ_ERROR(watcher->subscribe_namespace(test_namespace("x"), got.added()),
                   moq::Errc::invalid_argument);
  // Move-assigning over a live watch destroys it; the moved-to one still works.
  watch = moq::Error(moq::Errc::cancelled, "reset");
  EXPECT_FALSE(moved.closed());
  EXPECT_FALSE(called);
}

// ------------------------------------------------------------------ PUBLISH (sending)

TEST(PublishTrack, RoundTripToASubscriberAndNormalEnd) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  // PUBLISH alone, no announce(): the relay accepts it as an exact track.
  auto track = publisher->publish_track(ns, "video");
  ASSERT_MOQ_OK(track);
  EXPECT_EQ(track->ns(), ns);
  EXPECT_EQ(track->name(), "video");

  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  Collector got;
  Terminal terminal;
  auto sub = subscriber->subscribe(ns, "video", {got.callback(), terminal.callback()});
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up_published(*track, got)) << "no warm-up object arrived";

  auto group = track->begin_group(64);
  ASSERT_MOQ_OK(group);
  const uint64_t group_id = group->group_id();
  for (int i = 0; i < 50; ++i) {
    ASSERT_MOQ_OK(group->write(moq::Bytes::copy("pub " + std::to_string(i))));
  }
  ASSERT_MOQ_OK(group->finish());
  EXPECT_MOQ_ERROR(group->write(moq::Bytes::copy("late")), moq::Errc::closed);
  ASSERT_TRUE(got.wait([&](const std::vector<moq::Object>& objects) {
    return std::count_if(objects.begin(), objects.end(),
                         [&](const moq::Object& o) { return o.group_id == group_id; }) >= 50;
  })) << "the published group did not arrive";
  uint64_t expected = 0;
  for (const auto& o : got.objects()) {
    if (o.group_id != group_id) continue;
    EXPECT_EQ(o.object_id, expected);
    EXPECT_EQ(o.payload.to_string(), "pub " + std::to_string(expected));
    EXPECT_EQ(o.priority, 64);
    ++expected;
  }
  EXPECT_EQ(expected, 50u);
  EXPECT_EQ(terminal.count(), 0u);

  // Destroying the PublishedTrack ends the track: a normal end downstream.
  track = moq::Error(moq::Errc::cancelled, "end the track");
  ASSERT_TRUE(terminal.wait()) << "no terminal event after the PublishedTrack was destroyed";
  moq::Status status = terminal.first();
  EXPECT_TRUE(status.has_value()) << "expected a normal end, got " << describe(status.error());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(terminal.count(), 1u);
}

TEST(PublishTrack, PublishTrackAsyncOffersTheTrackAndRefusesADuplicate) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto track = publisher->publish_track_async(ns, "video").wait(15000ms);
  ASSERT_MOQ_OK(track);
  EXPECT_EQ(track->ns(), ns);
  EXPECT_EQ(track->name(), "video");
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  Collector got;
  auto sub = subscriber->subscribe(ns, "video", got.callback());
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up_published(*track, got)) << "no warm-up object arrived";

  EXPECT_MOQ_ERROR(publisher->publish_track_async(ns, "video").wait(15000ms), moq::Errc::duplicate);
  EXPECT_MOQ_ERROR(publisher->publish_track_async(ns, "").wait(5000ms), moq::Errc::invalid_argument);
}

TEST(PublishTrack, DestroyingAnAnswerNotTakenWithdrawsTheTrack) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  // Destroyed at once, then once answered, then once answered again.
  for (int round = 0; round < 3; ++round) {
    auto pending = publisher->publish_track_async(ns, "t");
    if (round > 0) {
      ASSERT_TRUE(wait_until([&] { return pending.ready(); }, 15000ms)) << "round " << round;
    }
  }
  // Withdrawn: the same session may publish the track again (retried while
  // the relay may still be processing the last withdrawal), and it delivers.
  auto track = retry_while_duplicate([&] { return publisher->publish_track(ns, "t"); });
  ASSERT_TRUE(track.has_value()) << "a cancelled publish_track_async was never withdrawn: "
                                 << describe(track);
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  Collector got;
  auto sub = subscriber->subscribe(ns, "t", got.callback());
  ASSERT_MOQ_OK(sub);
  EXPECT_TRUE(warm_up_published(*track, got)) << "no warm-up object arrived";
}

TEST(PublishTrack, BadNamesAndDuplicatesAreRefused) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  auto first = connect_to(*relay);
  ASSERT_MOQ_OK(first);
  auto second = connect_to(*relay);
  ASSERT_MOQ_OK(second);

  EXPECT_MOQ_ERROR(first->publish_track(ns, ""), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(first->publish_track(ns, std::string("\xff\xfe", 2)), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(first->publish_track(ns, std::string(5000, 'x')), moq::Errc::invalid_argument);

  auto track = first->publish_track(ns, "t");
  ASSERT_MOQ_OK(track);
  // The same session again: refused locally.
  EXPECT_MOQ_ERROR(first->publish_track(ns, "t"), moq::Errc::duplicate);
  // Another session: refused by the relay (another publisher has the track).
  EXPECT_MOQ_ERROR(second->publish_track(ns, "t"), moq::Errc::duplicate);
  // Another name is fine.
  ASSERT_MOQ_OK(first->publish_track(ns, "u"));
  // The refusals left the first track working.
  ASSERT_MOQ_OK(track->begin_group());

  // A closed session refuses, and its tracks report closed.
  ASSERT_MOQ_OK(first->close());
  EXPECT_MOQ_ERROR(first->publish_track(ns, "v"), moq::Errc::closed);
  EXPECT_MOQ_ERROR(track->begin_group(), moq::Errc::closed);
}

TEST(PublishTrack, MovedFromHandlesAreInert) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto track = session->publish_track(ns, "t");
  ASSERT_MOQ_OK(track);
  moq::PublishedTrack moved = std::move(*track);
  EXPECT_MOQ_ERROR(track->begin_group(), moq::Errc::invalid_argument);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(track->name(), "");
  EXPECT_EQ(track->ns().to_string(), "moved-from");
  EXPECT_EQ(moved.name(), "t");
  ASSERT_MOQ_OK(moved.begin_group());

  auto reject_all = [](const moq::Namespace&, std::string_view) {
    return std::optional<moq::AcceptedTrack>();
  };
  auto listener = session->on_publish(reject_all);
  ASSERT_MOQ_OK(listener);
  moq::PublishListener kept = std::move(*listener);
  listener = moq::Error(moq::Errc::cancelled, "destroy the moved-from listener");

  moq::Session other = std::move(*session);
  EXPECT_MOQ_ERROR(session->publish_track(ns, "u"), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session->on_publish(reject_all), moq::Errc::invalid_argument);
  // The moved-to listener still holds the session's one listener slot.
  EXPECT_MOQ_ERROR(other.on_publish(reject_all), moq::Errc::duplicate);
}

// ------------------------------------------------------------------ PUBLISH (receiving)

TEST(PublishListener, OneListenerPerSessionUntilItIsDestroyed) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto reject_all = [](const moq::Namespace&, std::string_view) {
    return std::optional<moq::AcceptedTrack>();
  };

  EXPECT_MOQ_ERROR(session->on_publish(nullptr), moq::Errc::invalid_argument);

  auto listener = session->on_publish(reject_all);
  ASSERT_MOQ_OK(listener);
  EXPECT_MOQ_ERROR(session->on_publish(reject_all), moq::Errc::duplicate);
  // Each session has its own slot.
  auto other = connect_to(*relay);
  ASSERT_MOQ_OK(other);
  ASSERT_MOQ_OK(other->on_publish(reject_all));

  // Destroying the listener frees the slot.
  listener = moq::Error(moq::Errc::cancelled, "destroy the listener");
  auto again = session->on_publish(reject_all);
  ASSERT_MOQ_OK(again);

  // A closed session refuses.
  again = moq::Error(moq::Errc::cancelled, "destroy the listener");
  ASSERT_MOQ_OK(session->close());
  EXPECT_MOQ_ERROR(session->on_publish(reject_all), moq::Errc::closed);
}
