// SubscribeOptions against the real relay: rendezvous, filters, validation.
#include <gtest/gtest.h>

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
    auto group = pub.track->begin_group();
    for (int i = 0; i < 60 && group; ++i) {
      group->write(moq::Bytes::copy("tick"));
      std::this_thread::sleep_for(50ms);
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

TEST(SubscribeOptions, NextGroupFilterStartsAtAGroupBoundary) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  // A first subscriber gets the relay forwarding the track.
  PubSub f;
  ASSERT_NO_FATAL_FAILURE(make_pubsub(*relay, ns, "t", &f));

  auto open = f.pub.track->begin_group();
  ASSERT_MOQ_OK(open);
  ASSERT_MOQ_OK(open->write(moq::Bytes::copy("old-0")));
  ASSERT_MOQ_OK(open->write(moq::Bytes::copy("old-1")));

  auto second_session = connect_to(*relay);
  ASSERT_MOQ_OK(second_session);
  Collector second;
  moq::SubscribeOptions options;
  options.filter = moq::SubscribeFilter::next_group();
  auto second_sub = second_session->subscribe(ns, "t", second.callback(), options);
  ASSERT_MOQ_OK(second_sub);
  ASSERT_MOQ_OK(open->write(moq::Bytes::copy("old-2")));
  ASSERT_MOQ_OK(open->finish());
  // A subscriber attaching to a forwarded track may miss the next group
  // (DESIGN §1): keep starting groups until one arrives.
  bool arrived = false;
  for (int i = 0; i < 20 && !arrived; ++i) {
    ASSERT_TRUE(write_group(*f.pub.track, {"new-0", "new-1"}));
    arrived = second.wait_count(1, 500ms);
  }
  ASSERT_TRUE(arrived) << "no group arrived for the next_group subscription";
  auto objects = second.objects();
  EXPECT_GT(objects.front().group_id, open->group_id())
      << "a next_group subscription started inside group " << open->group_id();
  EXPECT_EQ(objects.front().object_id, 0u);
  EXPECT_EQ(objects.front().payload.to_string(), "new-0");
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
