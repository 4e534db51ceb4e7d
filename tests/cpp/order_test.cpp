// GroupOrder::ascending orders delivery: groups whose streams overlap reach
// the subscriber one after the other, never interleaved, through a real relay;
// a group that does not end within the reorder window is skipped and counted.
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace {

using namespace moq_test;

std::vector<std::pair<uint64_t, std::string>> received(const std::vector<moq::Object>& objects) {
  std::vector<std::pair<uint64_t, std::string>> out;
  for (const auto& o : objects) {
    if (!is_warmup(o)) out.emplace_back(o.group_id, std::string(o.payload.view()));
  }
  return out;
}

// How many objects (warm-up aside) have come: a Collector::wait predicate.
auto at_least(std::size_t n) {
  return [n](const std::vector<moq::Object>& objects) { return received(objects).size() >= n; };
}

struct Ordered {
  Publisher pub;
  std::optional<moq::Session> session;
  Collector got;
  std::optional<moq::Subscription> subscription;
};

void make_ordered(const Relay& relay, std::chrono::milliseconds window, Ordered* out) {
  const auto ns = test_namespace();
  ASSERT_NO_FATAL_FAILURE(make_publisher(relay, ns, "t", &out->pub));
  auto session = connect_to(relay);
  ASSERT_MOQ_OK(session);
  out->session.emplace(std::move(session).value());
  moq::SubscribeOptions options;
  options.group_order = moq::GroupOrder::ascending;
  options.reorder_window = window;
  auto subscription = out->session->subscribe(ns, "t", out->got.callback(), options);
  ASSERT_MOQ_OK(subscription);
  out->subscription.emplace(std::move(subscription).value());
  ASSERT_GT(warm_up(*out->pub.track, [&] { return out->got.size() > 0; }), 0);
}

TEST(GroupOrder, AscendingDeliversOverlappingGroupsOneAfterTheOther) {
  // Repeated: the interleaving it prevents depends on timing.
  constexpr int kRounds = 5;
  Ordered o;
  ASSERT_NO_FATAL_FAILURE(make_ordered(*shared_relay(), 5000ms, &o));
  std::vector<std::pair<uint64_t, std::string>> expected;
  for (int round = 0; round < kRounds; ++round) {
    // Two groups open at once: the first one starts, then the second is
    // written whole and ends while the first is still open.
    auto first = o.pub.track->begin_group();
    ASSERT_MOQ_OK(first);
    ASSERT_MOQ_OK(first->write(moq::Bytes::copy("a0")));
    ASSERT_TRUE(o.got.wait(at_least(expected.size() + 1), 10000ms)) << "round " << round;
    auto second = o.pub.track->begin_group();
    ASSERT_MOQ_OK(second);
    for (int i = 0; i < 3; ++i) {
      ASSERT_MOQ_OK(second->write(moq::Bytes::copy("b" + std::to_string(i))));
    }
    ASSERT_MOQ_OK(second->finish());
    std::this_thread::sleep_for(100ms);  // the second group is at the subscriber by now
    for (int i = 1; i < 3; ++i) {
      ASSERT_MOQ_OK(first->write(moq::Bytes::copy("a" + std::to_string(i))));
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_MOQ_OK(first->finish());
    for (int i = 0; i < 3; ++i) expected.emplace_back(first->group_id(), "a" + std::to_string(i));
    for (int i = 0; i < 3; ++i) expected.emplace_back(second->group_id(), "b" + std::to_string(i));
    ASSERT_TRUE(o.got.wait(at_least(expected.size()), 10000ms)) << "round " << round;
  }
  EXPECT_EQ(received(o.got.objects()), expected);
  EXPECT_EQ(o.subscription->stats().skipped_groups, 0u);
}

TEST(GroupOrder, AGroupThatDoesNotEndWithinTheWindowIsSkipped) {
  Ordered o;
  ASSERT_NO_FATAL_FAILURE(make_ordered(*shared_relay(), 300ms, &o));
  auto stalled = o.pub.track->begin_group();
  ASSERT_MOQ_OK(stalled);
  ASSERT_MOQ_OK(stalled->write(moq::Bytes::copy("s0")));
  ASSERT_TRUE(o.got.wait(at_least(1), 10000ms));
  auto next = o.pub.track->begin_group();
  ASSERT_MOQ_OK(next);
  ASSERT_MOQ_OK(next->write(moq::Bytes::copy("n0")));
  ASSERT_MOQ_OK(next->finish());
  // The stalled group does not end: after the window the next one comes.
  const auto start = Clock::now();
  ASSERT_TRUE(o.got.wait(at_least(2), 10000ms));
  EXPECT_GE(seconds_since(start), 0.25) << "held for the window";
  // What the stalled group sends now is late: never delivered.
  ASSERT_MOQ_OK(stalled->write(moq::Bytes::copy("s1")));
  ASSERT_MOQ_OK(stalled->finish());
  auto last = o.pub.track->begin_group();
  ASSERT_MOQ_OK(last);
  ASSERT_MOQ_OK(last->write(moq::Bytes::copy("l0")));
  ASSERT_MOQ_OK(last->finish());
  ASSERT_TRUE(o.got.wait(at_least(3), 10000ms));
  std::this_thread::sleep_for(200ms);
  const std::vector<std::pair<uint64_t, std::string>> expected = {
      {stalled->group_id(), "s0"}, {next->group_id(), "n0"}, {last->group_id(), "l0"}};
  EXPECT_EQ(received(o.got.objects()), expected);
  EXPECT_EQ(o.subscription->stats().skipped_groups, 1u);
}

TEST(GroupOrder, ANegativeWindowIsRefused) {
  auto session = connect_to(*shared_relay());
  ASSERT_MOQ_OK(session);
  moq::SubscribeOptions options;
  options.reorder_window = -1ms;
  EXPECT_MOQ_ERROR(session->subscribe(test_namespace(), "t", options), moq::Errc::invalid_argument);
}

}  // namespace
