// FETCH through the real relay: standalone ranges from our own publisher's
// history, joining fetch on a live subscription, errors, and the lifetime
// promises of moq::Fetch (destroying it stops callbacks; moved-from is inert).
#include "test_util.hpp"

#include <algorithm>
#include <iostream>
#include <set>

namespace {

using namespace moq_test;

using Location = std::pair<uint64_t, uint64_t>;

// What one fetch delivered: its objects (checked to arrive on a library
// thread, one call at a time) and its terminal event.
class FetchEvents {
 public:
  std::function<void(const moq::Object&)> on_object() {
    return [this](const moq::Object& o) {
      if (inside_.fetch_add(1) != 0) overlapped_ = true;
      if (std::this_thread::get_id() == caller_) on_caller_thread_ = true;
      objects_.add(o);
      inside_.fetch_sub(1);
    };
  }
  std::function<void(const moq::Status&)> on_closed() {
    return [this](const moq::Status& status) {
      if (std::this_thread::get_id() == caller_) closed_on_caller_thread_ = true;
      std::lock_guard<std::mutex> lk(mu_);
      ++closed_count_;
      closed_ = status;
      cv_.notify_all();
    };
  }
  // Waits for the terminal event; false on timeout.
  bool wait_closed(milliseconds timeout = 15000ms) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return closed_.has_value(); });
  }
  std::optional<moq::Status> closed() const {
    std::lock_guard<std::mutex> lk(mu_);
    return closed_;
  }
  int closed_count() const {
    std::lock_guard<std::mutex> lk(mu_);
    return closed_count_;
  }
  std::vector<moq::Object> objects() const { return objects_.objects(); }
  std::vector<Location> locations() const {
    std::vector<Location> out;
    for (const auto& o : objects_.objects()) out.emplace_back(o.group_id, o.object_id);
    return out;
  }
  bool overlapped() const { return overlapped_; }
  bool on_caller_thread() const { return on_caller_thread_; }
  bool closed_on_caller_thread() const { return closed_on_caller_thread_; }

 private:
  Collector objects_;
  std::thread::id caller_ = std::this_thread::get_id();
  std::atomic<int> inside_{0};
  std::atomic<bool> overlapped_{false};
  std::atomic<bool> on_caller_thread_{false};
  std::atomic<bool> closed_on_caller_thread_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int closed_count_ = 0;
  std::optional<moq::Status> closed_;
};

moq::TrackOptions with_history(std::size_t max_groups, std::size_t max_bytes = 16 << 20) {
  moq::TrackOptions options;
  options.history = moq::HistoryLimits{max_groups, max_bytes};
  return options;
}

std::string label(uint64_t group, uint64_t object) {
  return "g" + std::to_string(group) + "o" + std::to_string(object);
}

// Writes `groups` groups of `per_group` objects "g{g}o{o}" (+ `padding` bytes).
void publish_groups(moq::TrackWriter& track, uint64_t groups, uint64_t per_group,
                    std::size_t padding = 0) {
  for (uint64_t i = 0; i < groups; ++i) {
    auto group = track.begin_group(3);
    ASSERT_MOQ_OK(group);
    const uint64_t g = group->group_id();
    for (uint64_t o = 0; o < per_group; ++o) {
      ASSERT_MOQ_OK(group->write(moq::Bytes::copy(label(g, o) + std::string(padding, 'x'))));
    }
    ASSERT_MOQ_OK(group->finish());
  }
}

std::vector<Location> every_object(uint64_t first_group, uint64_t last_group, uint64_t per_group) {
  std::vector<Location> out;
  for (uint64_t g = first_group; g <= last_group; ++g)
    for (uint64_t o = 0; o < per_group; ++o) out.emplace_back(g, o);
  return out;
}

TEST(FetchTest, StandaloneRangesFromOwnPublisherHistory) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, with_history(3)));
  // Groups 0..4 of 4 objects; the history keeps groups 2, 3, 4.
  ASSERT_NO_FATAL_FAILURE(publish_groups(*pub.track, 5, 4));

  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);

  // Whole groups 2..4, in order, on a library thread, one call at a time.
  {
    FetchEvents events;
    auto fetch = subscriber->fetch(ns, "t", moq::FetchRange::groups(2, 4),
                                   {events.on_object(), events.on_closed()});
    ASSERT_MOQ_OK(fetch);
    EXPECT_EQ(fetch->end_group(), 4u);
    EXPECT_EQ(fetch->end_object(), std::optional<uint64_t>(3));
    EXPECT_FALSE(fetch->end_of_track());
    ASSERT_TRUE(events.wait_closed()) << "no terminal event; got " << events.locations().size()
                                      << " objects";
    ASSERT_TRUE(events.closed()->has_value()) << describe(events.closed()->error());
    EXPECT_TRUE(fetch->closed());
    EXPECT_EQ(events.locations(), every_object(2, 4, 4));
    for (const auto& o : events.objects()) {
      EXPECT_EQ(o.payload.to_string(), label(o.group_id, o.object_id));
      EXPECT_EQ(o.priority, 3);
      EXPECT_EQ(o.subgroup_id, 0u);
    }
    EXPECT_FALSE(events.overlapped());
    EXPECT_FALSE(events.on_caller_thread());
    // on_closed, given at creation: called once, on a library thread.
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(events.closed_count(), 1);
    EXPECT_FALSE(events.closed_on_caller_thread());
  }

  // An inclusive object range inside the history.
  {
    FetchEvents events;
    auto fetch = subscriber->fetch(ns, "t", moq::FetchRange::objects(2, 3, 3, 1),
                                   {events.on_object(), events.on_closed()});
    ASSERT_MOQ_OK(fetch);
    EXPECT_EQ(fetch->end_group(), 3u);
    EXPECT_EQ(fetch->end_object(), std::optional<uint64_t>(1));
    ASSERT_TRUE(events.wait_closed());
    ASSERT_TRUE(events.closed()->has_value()) << describe(events.closed()->error());
    EXPECT_EQ(events.locations(), (std::vector<Location>{{2, 3}, {3, 0}, {3, 1}}));
  }

  // A range reaching past what exists gets what is retained, and says so.
  {
    FetchEvents events;
    auto fetch = subscriber->fetch(ns, "t", moq::FetchRange::groups(3, 9),
                                   {events.on_object(), events.on_closed()});
    ASSERT_MOQ_OK(fetch);
    EXPECT_EQ(fetch->end_group(), 4u);
    EXPECT_EQ(fetch->end_object(), std::optional<uint64_t>(3));
    ASSERT_TRUE(events.wait_closed());
    ASSERT_TRUE(events.closed()->has_value()) << describe(events.closed()->error());
    EXPECT_EQ(events.locations(), every_object(3, 4, 4));
  }

  // Evicted groups and groups not published yet: not_found.
  EXPECT_MOQ_ERROR(subscriber->fetch(ns, "t", moq::FetchRange::groups(0, 4), [](const moq::Object&) {}),
                   moq::Errc::not_found);
  EXPECT_MOQ_ERROR(subscriber->fetch(ns, "t", moq::FetchRange::groups(7, 9), [](const moq::Object&) {}),
                   moq::Errc::not_found);
}

TEST(FetchTest, FetchFromACallbackThreadIsWouldBlock) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, with_history(2)));
  ASSERT_NO_FATAL_FAILURE(publish_groups(*pub.track, 1, 2));
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);

  std::mutex mu;
  std::optional<moq::Errc> inner;
  FetchEvents events;
  auto forward = events.on_object();
  auto on_object = [&](const moq::Object& o) {
    auto nested = subscriber->fetch(ns, "t", moq::FetchRange::group(0), [](const moq::Object&) {});
    {
      std::lock_guard<std::mutex> lk(mu);
      if (!inner) inner = nested ? moq::Errc::internal : nested.error().code();
    }
    forward(o);
  };
  auto fetch =
      subscriber->fetch(ns, "t", moq::FetchRange::group(0), {on_object, events.on_closed()});
  ASSERT_MOQ_OK(fetch);
  ASSERT_TRUE(events.wait_closed());
  std::lock_guard<std::mutex> lk(mu);
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(*inner, moq::Errc::would_block) << "a blocking call from a callback must not block";
}

TEST(FetchTest, UnknownTrackIsNotFound) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, with_history(2)));
  ASSERT_NO_FATAL_FAILURE(publish_groups(*pub.track, 1, 1));
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);

  // A namespace our publisher announced, a track it does not have.
  auto missing = subscriber->fetch(ns, "missing", moq::FetchRange::groups(0, 1),
                                   [](const moq::Object&) {});
  EXPECT_MOQ_ERROR(missing, moq::Errc::not_found);
  EXPECT_NE(missing.error().message().find("missing"), std::string::npos)
      << missing.error().message();
  // A namespace nobody announced.
  EXPECT_MOQ_ERROR(subscriber->fetch(test_namespace("nobody"), "x", moq::FetchRange::groups(0, 1),
                                     [](const moq::Object&) {}),
                   moq::Errc::not_found);
  // A track published without history: not_found too.
  auto plain = pub.announcement->create_track("plain");
  ASSERT_MOQ_OK(plain);
  ASSERT_TRUE(write_group(*plain, {"a"}).has_value());
  EXPECT_MOQ_ERROR(
      subscriber->fetch(ns, "plain", moq::FetchRange::group(0), [](const moq::Object&) {}),
      moq::Errc::not_found);
  // The session is still usable.
  FetchEvents events;
  auto fetch = subscriber->fetch(ns, "t", moq::FetchRange::group(0),
                                 {events.on_object(), events.on_closed()});
  ASSERT_MOQ_OK(fetch);
  ASSERT_TRUE(events.wait_closed());
  EXPECT_EQ(events.locations(), (std::vector<Location>{{0, 0}}));
}

TEST(FetchTest, InvalidArgumentsAreRefusedBeforeSending) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  auto nothing = [](const moq::Object&) {};

  EXPECT_MOQ_ERROR(subscriber->fetch(ns, "t", moq::FetchRange::groups(3, 2), nothing),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(subscriber->fetch(ns, "t", moq::FetchRange::objects(2, 4, 2, 3), nothing),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(subscriber->fetch(ns, "", moq::FetchRange::group(0), nothing),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(subscriber->fetch(ns, "t", moq::FetchRange::group(0), nullptr),
                   moq::Errc::invalid_argument);
  // The session is unaffected.
  EXPECT_EQ(subscriber->state(), moq::SessionState::connected);
}

TEST(FetchTest, DestroyingAFetchStopsItsCallbacks) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, with_history(8)));
  // Enough that the fetch is still delivering when it is destroyed.
  ASSERT_NO_FATAL_FAILURE(publish_groups(*pub.track, 8, 100, 1000));
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);

  // Destroyed from another thread while its callback runs: the destructor
  // waits for that callback, and none runs afterwards.
  std::atomic<int> calls{0};
  std::atomic<bool> entered{false};
  std::atomic<bool> first_done{false};
  std::atomic<bool> closed_called{false};
  {
    auto on_object = [&](const moq::Object&) {
      if (calls.fetch_add(1) == 0) {
        entered = true;
        std::this_thread::sleep_for(300ms);
        first_done = true;
      }
    };
    auto fetch =
        subscriber->fetch(ns, "t", moq::FetchRange::groups(0, 7),
                          {on_object, [&](const moq::Status&) { closed_called = true; }});
    ASSERT_MOQ_OK(fetch);
    ASSERT_TRUE(wait_until([&] { return entered.load(); }));
    std::optional<moq::Fetch> owned(std::move(fetch).value());
    owned.reset();
    EXPECT_TRUE(first_done) << "~Fetch returned while its callback was still running";
  }
  const int after = calls.load();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(calls.load(), after) << "a callback ran after ~Fetch returned";
  EXPECT_LT(after, 800) << "the fetch was not cancelled";
  EXPECT_FALSE(closed_called) << "on_closed must not be called when the Fetch is destroyed";

  // Destroyed from inside its own callback: no call after that one.
  std::mutex mu;
  std::condition_variable cv;
  std::optional<moq::Fetch> holder;
  std::atomic<int> self_calls{0};
  auto fetch = subscriber->fetch(ns, "t", moq::FetchRange::groups(0, 7), [&](const moq::Object&) {
    self_calls.fetch_add(1);
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, 10s, [&] { return holder.has_value(); });
    std::optional<moq::Fetch> victim = std::move(holder);
    holder.reset();
    lk.unlock();
    victim.reset();  // ~Fetch inside its own callback: must not deadlock
  });
  ASSERT_MOQ_OK(fetch);
  {
    std::lock_guard<std::mutex> lk(mu);
    holder.emplace(std::move(fetch).value());
    cv.notify_all();
  }
  ASSERT_TRUE(wait_until([&] { return self_calls.load() >= 1; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(self_calls.load(), 1) << "callbacks continued after the Fetch destroyed itself";

  // The session still fetches.
  FetchEvents events;
  auto again = subscriber->fetch(ns, "t", moq::FetchRange::group(7),
                                 {events.on_object(), events.on_closed()});
  ASSERT_MOQ_OK(again);
  ASSERT_TRUE(events.wait_closed());
  EXPECT_EQ(events.locations().size(), 100u);
}

TEST(FetchTest, MovedFromHandlesAreInert) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, with_history(2)));
  ASSERT_NO_FATAL_FAILURE(publish_groups(*pub.track, 1, 3));
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);

  FetchEvents events;
  auto fetch = subscriber->fetch(ns, "t", moq::FetchRange::group(0),
                                 {events.on_object(), events.on_closed()});
  ASSERT_MOQ_OK(fetch);
  moq::Fetch moved = std::move(fetch).value();
  moq::Fetch& from = *fetch;  // moved-from
  EXPECT_TRUE(from.closed());
  EXPECT_EQ(from.end_group(), 0u);
  EXPECT_FALSE(from.end_object().has_value());
  EXPECT_FALSE(from.end_of_track());
  // The moved-to handle carries the fetch on.
  ASSERT_TRUE(events.wait_closed());
  EXPECT_EQ(events.locations().size(), 3u);
  // Move-assignment over a live handle, then destroy both.
  moq::Fetch other = std::move(moved);
  EXPECT_TRUE(moved.closed());
  EXPECT_EQ(other.end_group(), 0u);
  EXPECT_EQ(other.end_object(), std::optional<uint64_t>(2));
  EXPECT_EQ(events.closed_count(), 1) << "the moves repeated the terminal event";

  // A moved-from session and a moved-from subscription.
  moq::Session taken = std::move(subscriber).value();
  moq::Session& gone = *subscriber;
  EXPECT_MOQ_ERROR(gone.fetch(ns, "t", moq::FetchRange::group(0), [](const moq::Object&) {}),
                   moq::Errc::invalid_argument);
  auto sub = taken.subscribe(ns, "t", [](const moq::Object&) {});
  ASSERT_MOQ_OK(sub);
  moq::Subscription live = std::move(sub).value();
  EXPECT_MOQ_ERROR(gone.joining_fetch(live, 0, [](const moq::Object&) {}),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(taken.joining_fetch(*sub, 0, [](const moq::Object&) {}),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(taken.joining_fetch(live, 0, nullptr), moq::Errc::invalid_argument);
  // The non-blocking form answers with the same errors.
  EXPECT_MOQ_ERROR(gone.joining_fetch_async(live, 0, [](const moq::Object&) {}).wait(5000ms),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(taken.joining_fetch_async(*sub, 0, [](const moq::Object&) {}).wait(5000ms),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(taken.joining_fetch_async(live, 0, nullptr).wait(5000ms),
                   moq::Errc::invalid_argument);

  // Destroyed before its answer was taken (at once, then once answered,
  // whatever the answer): its on_object goes with the Pending.
  for (int round = 0; round < 2; ++round) {
    auto gone_flag = std::make_shared<int>(0);
    std::weak_ptr<int> alive = gone_flag;
    {
      auto cancelled = taken.joining_fetch_async(live, 0, [gone_flag](const moq::Object&) {});
      gone_flag.reset();
      if (round > 0) {
        ASSERT_TRUE(wait_until([&] { return cancelled.ready(); }, 15000ms));
      }
    }
    EXPECT_TRUE(alive.expired()) << "round " << round << ": on_object outlived its Pending";
  }
}

// A publisher thread writing groups of `kPerGroup` objects "g{g}o{o}", one
// object every 40 ms, until stopped.
constexpr uint64_t kPerGroup = 5;

struct LiveWriter {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> current{0};
  std::thread thread;

  void start(moq::TrackWriter& track) {
    thread = std::thread([this, &track] {
      while (!stop) {
        auto group = track.begin_group(0);
        if (!group) return;
        current = group->group_id();
        for (uint64_t o = 0; o < kPerGroup && !stop; ++o) {
          if (!group->write(moq::Bytes::copy(label(group->group_id(), o)))) return;
          std::this_thread::sleep_for(40ms);
        }
        if (!group->finish()) return;
      }
    });
  }
  ~LiveWriter() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
};

Location successor(Location l) {
  return l.second + 1 == kPerGroup ? Location{l.first + 1, 0} : Location{l.first, l.second + 1};
}

TEST(FetchTest, FetchAsyncAnswersThroughThenAndCancelsWhenDestroyed) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, with_history(3)));
  ASSERT_NO_FATAL_FAILURE(publish_groups(*pub.track, 5, 2));
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);

  // The answer through then(), on a library thread; the objects as fetch().
  FetchEvents events;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<moq::Result<moq::Fetch>> answer;
  auto pending = subscriber->fetch_async(ns, "t", moq::FetchRange::groups(3, 4),
                                         {events.on_object(), events.on_closed()});
  ASSERT_MOQ_OK(pending.then([&](moq::Result<moq::Fetch> fetch) {
    std::lock_guard<std::mutex> lk(mu);
    answer.emplace(std::move(fetch));
    cv.notify_all();
  }));
  {
    std::unique_lock<std::mutex> lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 15s, [&] { return answer.has_value(); }));
    ASSERT_MOQ_OK(*answer);
    EXPECT_EQ((*answer)->end_group(), 4u);
  }
  ASSERT_TRUE(events.wait_closed());
  EXPECT_EQ(events.locations(), every_object(3, 4, 2));

  // Errors are fetch()'s.
  EXPECT_MOQ_ERROR(subscriber->fetch_async(ns, "nobody", moq::FetchRange::groups(0, 1),
                                           [](const moq::Object&) {}).wait(15000ms),
                   moq::Errc::not_found);
  EXPECT_MOQ_ERROR(subscriber->fetch_async(ns, "t", moq::FetchRange::groups(0, 1), nullptr).wait(5000ms),
                   moq::Errc::invalid_argument);

  // Destroyed before its answer was taken: the fetch ends and on_object is
  // destroyed with the Pending, the objects it got so far or not.
  for (int round = 0; round < 3; ++round) {
    auto gone = std::make_shared<std::atomic<bool>>(false);
    struct Flag {
      std::shared_ptr<std::atomic<bool>> flag;
      ~Flag() {
        if (flag && flag.use_count() == 2) flag->store(true);
      }
    };
    {
      auto flag = std::make_shared<Flag>(Flag{gone});
      auto cancelled = subscriber->fetch_async(ns, "t", moq::FetchRange::groups(2, 4),
                                               [flag](const moq::Object&) {});
      flag.reset();
      if (round > 0) {
        ASSERT_TRUE(wait_until([&] { return cancelled.ready(); }, 15000ms));
      }
    }
    EXPECT_TRUE(gone->load()) << "round " << round << ": on_object outlived its Pending";
  }
}

// One try of JoiningFetchOnALiveSubscription on a fresh namespace. Sets
// `*conclusive` unless the live subscriber missed the group that follows
// the joining location: the relay's known limit for a subscriber attaching
// to a track it already forwards (DESIGN §1, README "Known limits"), which
// leaves nothing to compare the joining location with.
void joining_fetch_try(Relay& relay, int attempt, bool* conclusive) {
  const moq::Namespace ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(relay, ns, "live", &pub, with_history(8)));
  LiveWriter writer;
  writer.start(*pub.track);
  ASSERT_TRUE(wait_until([&] { return writer.current.load() >= 2; }))
      << "the publisher thread is stuck";

  // A subscription the relay accepts while it is not yet forwarding the track
  // has no joining location. A first session makes the relay forward it.
  auto warm = connect_to(relay);
  ASSERT_MOQ_OK(warm);
  Collector warm_objects;
  auto warm_sub = warm->subscribe(ns, "live", warm_objects.callback());
  ASSERT_MOQ_OK(warm_sub);
  ASSERT_TRUE(warm_objects.wait_count(1)) << "the warm-up subscriber got nothing";

  auto session = connect_to(relay);
  ASSERT_MOQ_OK(session);
  Collector live;
  auto sub = session->subscribe(ns, "live", live.callback());
  ASSERT_MOQ_OK(sub);

  // Another session's subscription cannot be joined from this one.
  EXPECT_MOQ_ERROR(warm->joining_fetch(*sub, 0, [](const moq::Object&) {}),
                   moq::Errc::invalid_argument);

  FetchEvents events;
  // The non-blocking form (the blocking one is a thin wrapper over it).
  auto fetch =
      session->joining_fetch_async(*sub, 1, {events.on_object(), events.on_closed()}).wait(15000ms);
  ASSERT_MOQ_OK(fetch);
  ASSERT_TRUE(fetch->end_object().has_value());
  const Location joining{fetch->end_group(), *fetch->end_object()};
  ASSERT_TRUE(events.wait_closed());
  ASSERT_TRUE(events.closed()->has_value()) << describe(events.closed()->error());

  // History: the group before the joining group from its first object, then
  // every object up to and including the joining location, in order.
  const std::vector<Location> history = events.locations();
  ASSERT_FALSE(history.empty());
  ASSERT_GE(joining.first, 1u);
  EXPECT_EQ(history.front(), Location(joining.first - 1, 0));
  EXPECT_EQ(history.back(), joining);
  for (std::size_t i = 1; i < history.size(); ++i) {
    EXPECT_EQ(history[i], successor(history[i - 1])) << "gap or repeat at index " << i;
  }
  for (const auto& o : events.objects()) {
    EXPECT_EQ(o.payload.to_string(), label(o.group_id, o.object_id));
  }
  EXPECT_FALSE(events.overlapped());

  // Live continues after the joining location; earlier live objects are the
  // duplicates the user drops.
  ASSERT_TRUE(live.wait([&](const std::vector<moq::Object>& v) {
    for (const auto& o : v)
      if (Location(o.group_id, o.object_id) > joining) return true;
    return false;
  })) << "no live object after the joining location";
  const Location next = successor(joining);
  const auto objects = live.objects();
  const bool missed_next_group = std::none_of(objects.begin(), objects.end(), [&](const moq::Object& o) {
    return o.group_id == next.first;
  });
  if (missed_next_group) {
    std::cerr << "try " << attempt << ": the live subscriber missed group " << next.first
              << ": the relay's known limit; trying again\n";
    return;
  }
  *conclusive = true;
  for (const auto& o : objects) {
    if (Location(o.group_id, o.object_id) <= joining) continue;
    EXPECT_EQ(Location(o.group_id, o.object_id), next)
        << "the first live object after the joining location does not follow it";
    break;
  }
}

TEST(FetchTest, JoiningFetchOnALiveSubscription) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  try_until_conclusive(
      3,
      [&](int attempt) {
        bool done = false;
        joining_fetch_try(*relay, attempt, &done);
        return done;
      },
      "the live subscriber never got the group after the joining location");
}

}  // namespace
