// SubscribeOptions against the real relay: rendezvous, filters, validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <thread>

#include "test_util.hpp"

namespace {

using namespace moq_test;

TEST(SubscribeOptions, RendezvousWaitsForALatePublisher) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);

  // Without a rendezvous, a track nobody publishes is not_found at once.
  auto none = subscriber->subscribe(ns, "late", [](const moq::Object&) {});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), moq::Errc::not_found);

  // The publisher appears 1 s after the SUBSCRIBE and then writes objects.
  std::thread late([&] {
    std::this_thread::sleep_for(1000ms);
    Publisher pub;
    make_publisher(*relay, ns, "late", &pub);
    if (!pub.track) return;
    // Six groups, not one: a SUBSCRIBE retried after not_found may arrive
    // once the first is under way, and must still find a group to start on.
    for (int g = 0; g < 6; ++g) {
      auto group = pub.track->begin_group();
      for (int i = 0; i < 10 && group; ++i) {
        if (!group->write(moq::Bytes::copy("tick"))) return;
        std::this_thread::sleep_for(50ms);
      }
      if (!group || !group->finish()) return;
    }
  });
  struct Joiner {
    std::thread& t;
    ~Joiner() { t.join(); }  // also when an assertion returns early
  } joiner{late};
  Collector collector;
  moq::SubscribeOptions options;
  options.rendezvous_timeout = 8000ms;
  const auto started = Clock::now();
  auto sub = subscriber->subscribe(ns, "late", collector.callback(), options);
  // Known gap (README): a SUBSCRIBE forwarded in the instant between the
  // publisher's announce() and its create_track() is answered not_found. Only
  // that case is retried, once; without a rendezvous nothing would arrive.
  if (!sub && sub.error().code() == moq::Errc::not_found) {
    sub = subscriber->subscribe(ns, "late", collector.callback(), options);
  }
  ASSERT_MOQ_OK(sub);
  EXPECT_GE(seconds_since(started), 0.5) << "the subscription did not wait for the publisher";
  EXPECT_TRUE(collector.wait_count(1, 10000ms)) << "no object after the rendezvous";
}

// One try of NextGroupFilterStartsAtAGroupBoundary on a fresh namespace.
// Returns false, with no failure, when the control subscriber missed the
// open group: that is the relay's known limit (DESIGN §1, README "Known
// limits"), and a try where even the default filter misses the open group
// cannot tell next_group from it.
bool next_group_try(Relay& relay, int attempt) {
  auto ns = test_namespace();
  // A first subscriber gets the relay forwarding the track.
  PubSub f;
  make_pubsub(relay, ns, "t", &f);
  if (::testing::Test::HasFatalFailure()) return false;

  auto open = f.pub.track->begin_group();
  EXPECT_MOQ_OK(open);
  if (!open) return false;
  EXPECT_MOQ_OK(open->write(moq::Bytes::copy("old-0")));
  EXPECT_MOQ_OK(open->write(moq::Bytes::copy("old-1")));

  auto second_session = connect_to(relay);
  EXPECT_MOQ_OK(second_session);
  if (!second_session) return false;
  Collector second;
  moq::SubscribeOptions options;
  options.filter = moq::SubscribeFilter::next_group();
  auto second_sub = second_session->subscribe(ns, "t", second.callback(), options);
  EXPECT_MOQ_OK(second_sub);
  // The control: the default filter (latest object), subscribed at the same
  // point, gets the rest of the open group.
  auto control_session = connect_to(relay);
  EXPECT_MOQ_OK(control_session);
  if (!second_sub || !control_session) return false;
  Collector control;
  auto control_sub = control_session->subscribe(ns, "t", control.callback());
  EXPECT_MOQ_OK(control_sub);
  if (!control_sub) return false;
  EXPECT_MOQ_OK(open->write(moq::Bytes::copy("old-2")));
  EXPECT_MOQ_OK(open->finish());
  const bool control_got_open_group = control.wait([&](const std::vector<moq::Object>& v) {
    return std::any_of(v.begin(), v.end(), [&](const moq::Object& o) {
      return o.group_id == open->group_id() && o.payload.view() == "old-2";
    });
  }, 5000ms);
  // Whatever the control saw, next_group never starts inside the open group.
  if (!warm_up_by([&] { return write_group(*f.pub.track, {"new-0", "new-1"}).has_value(); },
                  [&] { return second.size() > 0; })) {
    ADD_FAILURE() << "try " << attempt << ": no group arrived for the next_group subscription";
    return false;
  }
  auto objects = second.objects();
  EXPECT_GT(objects.front().group_id, open->group_id())
      << "try " << attempt << ": a next_group subscription started inside group " << open->group_id();
  EXPECT_EQ(objects.front().object_id, 0u);
  EXPECT_EQ(objects.front().payload.to_string(), "new-0");
  if (!control_got_open_group) {
    std::cerr << "try " << attempt << ": the control missed the open group (" << control.size()
              << " objects): the relay's known limit; trying again\n";
  }
  return control_got_open_group;
}

TEST(SubscribeOptions, NextGroupFilterStartsAtAGroupBoundary) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  try_until_conclusive(
      3, [&](int attempt) { return next_group_try(*relay, attempt); },
      "the default filter never delivered the open group, so nothing showed that next_group "
      "skips it");
}

// Publishes `count` groups of objects "g{id}o0", "g{id}o1" on `track`;
// returns the id of the first.
uint64_t publish_labelled_groups(moq::TrackWriter& track, int count) {
  uint64_t first = 0;
  for (int i = 0; i < count; ++i) {
    auto group = track.begin_group();
    if (!group) {
      ADD_FAILURE() << describe(group.error());
      return first;
    }
    if (i == 0) first = group->group_id();
    const std::string g = "g" + std::to_string(group->group_id());
    EXPECT_TRUE(group->write(moq::Bytes::copy(g + "o0")));
    EXPECT_TRUE(group->write(moq::Bytes::copy(g + "o1")));
    EXPECT_TRUE(group->finish());
  }
  return first;
}

// The payloads received, by (group, object): groups travel on their own
// streams, so their objects may interleave; within a group they are in order.
std::vector<std::string> payloads(const Collector& got) {
  auto objects = got.objects();
  std::map<uint64_t, uint64_t> next_in_group;
  for (const auto& o : objects) {
    auto [it, fresh] = next_in_group.try_emplace(o.group_id, o.object_id);
    EXPECT_GE(o.object_id, it->second) << "group " << o.group_id << " out of order";
    it->second = o.object_id + 1;
  }
  std::stable_sort(objects.begin(), objects.end(), [](const moq::Object& a, const moq::Object& b) {
    return std::make_pair(a.group_id, a.object_id) < std::make_pair(b.group_id, b.object_id);
  });
  std::vector<std::string> out;
  for (const auto& o : objects) out.push_back(o.payload.to_string());
  return out;
}

TEST(SubscribeOptions, AbsoluteRangeDeliversExactlyTheRange) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  // Groups 0 and 1 exist before the subscription; it asks for 3 (from its
  // object 1) through 5; the publisher goes on to 8.
  publish_labelled_groups(*pub.track, 2);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Collector got;
  moq::SubscribeOptions options;
  options.filter = moq::SubscribeFilter::absolute_range(3, 1, 5);
  auto sub = session->subscribe(ns, "t", got.callback(), options);
  ASSERT_MOQ_OK(sub);
  publish_labelled_groups(*pub.track, 7);  // groups 2..8
  ASSERT_TRUE(got.wait_count(5, 10000ms)) << "received: " << got.size();
  // Nothing beyond the range follows (the relay forwards groups 6..8 to
  // nobody else): a last group through the same relay path proves the
  // window was long enough to see it.
  Subscriber control;
  ASSERT_NO_FATAL_FAILURE(subscribe_push(*relay, ns, "t", &control));
  ASSERT_TRUE(warm_up(*pub.track, [&] { return control.got.size() > 0; }));
  EXPECT_EQ(payloads(got), (std::vector<std::string>{"g3o1", "g4o0", "g4o1", "g5o0", "g5o1"}));
  // moq-relay-ietf 0.8.0 sends no PUBLISH_DONE after the range (README): the
  // subscription stays open until it is destroyed.
}

TEST(SubscribeOptions, AbsoluteStartDeliversFromItsStartOn) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  publish_labelled_groups(*pub.track, 2);  // groups 0, 1
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Collector got;
  moq::SubscribeOptions options;
  options.filter = moq::SubscribeFilter::absolute_start(3, 1);
  auto sub = session->subscribe(ns, "t", got.callback(), options);
  ASSERT_MOQ_OK(sub);
  publish_labelled_groups(*pub.track, 4);  // groups 2..5
  ASSERT_TRUE(got.wait_count(5, 10000ms)) << "received: " << got.size();
  ASSERT_TRUE(write_group(*pub.track, {"g6o0"}));
  ASSERT_TRUE(got.wait_count(6, 10000ms));
  EXPECT_EQ(payloads(got), (std::vector<std::string>{"g3o1", "g4o0", "g4o1", "g5o0", "g5o1", "g6o0"}));
}

TEST(SubscribeOptions, ForwardFalseDeliversNothing) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  // The control: a forwarding subscriber on another session.
  Subscriber control;
  ASSERT_NO_FATAL_FAILURE(subscribe_push(*relay, ns, "t", &control));
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  Collector held;
  moq::SubscribeOptions options;
  options.forward = false;
  auto sub = session->subscribe(ns, "t", held.callback(), options);
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return control.got.size() > 0; }));
  publish_labelled_groups(*pub.track, 5);
  ASSERT_TRUE(control.got.wait([](const std::vector<moq::Object>& v) {
    return std::count_if(v.begin(), v.end(), [](const moq::Object& o) { return !is_warmup(o); }) == 10;
  })) << "the control received " << control.got.size();
  EXPECT_EQ(held.size(), 0u) << "a forward=false subscription received objects";
  EXPECT_FALSE(sub->closed());
}

TEST(SubscribeOptions, InvalidOptionsAreRefused) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  moq::SubscribeOptions range;
  range.filter = moq::SubscribeFilter::absolute_range(5, 0, 2);
  auto a = session->subscribe(test_namespace(), "t", [](const moq::Object&) {}, range);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), moq::Errc::invalid_argument);
  EXPECT_FALSE(a.error().message().empty());

  moq::SubscribeOptions negative;
  negative.rendezvous_timeout = -1ms;
  auto b = session->subscribe(test_namespace(), "t", [](const moq::Object&) {}, negative);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), moq::Errc::invalid_argument);
}

}  // namespace
