// Liveness: SessionConfig::idle_timeout and keep_alive_interval, against a
// relay of the test's own that is killed (SIGKILL: no CONNECTION_CLOSE ever
// comes, only silence) or that stays up while nothing is said.
#include <gtest/gtest.h>

#include <csignal>

#include "test_util.hpp"

namespace {

using namespace moq_test;

moq::SessionConfig with_liveness(const Relay& relay, std::chrono::milliseconds idle,
                                 std::chrono::milliseconds keep_alive) {
  auto cfg = config_for(relay);
  cfg.idle_timeout = idle;
  cfg.keep_alive_interval = keep_alive;
  return cfg;
}

// When a terminal event arrived, seen from the test thread.
struct EndClock {
  std::mutex mutex;
  std::optional<Clock::time_point> at;
  void mark() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!at) at = Clock::now();
  }
  std::optional<Clock::time_point> get() {
    std::lock_guard<std::mutex> lock(mutex);
    return at;
  }
};

TEST(Liveness, AKilledRelayEndsEverySessionAndSubscriptionWithinTheIdleTimeout) {
  std::string error;
  auto relay = Relay::start(&error);  // its own: this test kills it
  ASSERT_NE(relay, nullptr) << error;
  constexpr auto kIdle = 2000ms;
  const auto cfg = with_liveness(*relay, kIdle, 500ms);
  const auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, cfg, moq::TrackOptions{}));
  auto connected = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(connected);
  std::optional<moq::Session> subscriber(std::move(connected).value());
  Collector got;
  auto subscribed = subscriber->subscribe(ns, "t", got.callback());
  ASSERT_MOQ_OK(subscribed);
  std::optional<moq::Subscription> subscription(std::move(subscribed).value());
  ASSERT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));

  EndClock session_end, publisher_end, subscription_end;
  moq::Status subscription_status;
  subscriber->on_state_change([&](moq::SessionState state, const moq::Error*) {
    if (state == moq::SessionState::closed) session_end.mark();
  });
  pub.session->on_state_change([&](moq::SessionState state, const moq::Error*) {
    if (state == moq::SessionState::closed) publisher_end.mark();
  });
  subscription->on_closed([&](const moq::Status& status) {
    subscription_status = status;
    subscription_end.mark();
  });

  const auto killed = Clock::now();
  ASSERT_TRUE(relay->process().signal(SIGKILL));
  // Mid-stream: the publisher keeps writing into the silence.
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (int i = 0; writing.load() && i < 100; ++i) {
      auto group = pub.track->begin_group();
      if (!group) break;  // the session has ended
      (void)group->write(moq::Bytes::copy("into the silence"));
      (void)group->finish();
      std::this_thread::sleep_for(50ms);
    }
  });
  const auto bound = kIdle + 2000ms;
  EXPECT_TRUE(wait_until([&] { return session_end.get() && publisher_end.get() && subscription_end.get(); },
                         bound + 3000ms));
  writing = false;
  writer.join();
  for (auto* end : {&session_end, &publisher_end, &subscription_end}) {
    auto at = end->get();
    ASSERT_TRUE(at.has_value()) << "a terminal event never came";
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(*at - killed);
    EXPECT_LT(took, bound) << "a terminal event came " << took.count() << " ms after the kill";
  }
  EXPECT_FALSE(subscription_status.has_value()) << "a lost relay is not a normal end";
  EXPECT_EQ(subscriber->state(), moq::SessionState::closed);
  // Destroying everything afterwards is quick and clean.
  const auto start = Clock::now();
  subscription.reset();
  pub.track.reset();
  pub.announcement.reset();
  pub.session.reset();
  subscriber.reset();
  EXPECT_LT(seconds_since(start), 1.0);
}

TEST(Liveness, KeepAlivesHoldAQuietSessionOpenAndWithoutThemItTimesOut) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  // Nothing is said for 3 s, three times the idle timeout.
  auto kept = connect_to(*relay, with_liveness(*relay, 1000ms, 250ms));
  ASSERT_MOQ_OK(kept);
  auto silent = connect_to(*relay, with_liveness(*relay, 1000ms, 0ms));
  ASSERT_MOQ_OK(silent);
  std::this_thread::sleep_for(3000ms);
  EXPECT_EQ(kept->state(), moq::SessionState::connected) << "keep-alives did not hold it open";
  EXPECT_EQ(silent->state(), moq::SessionState::closed)
      << "without keep-alives a session quiet for three idle timeouts must have ended";
  // The kept session still works.
  auto watch = kept->subscribe_namespace(test_namespace("quiet"), [](const moq::Namespace&) {});
  ASSERT_MOQ_OK(watch);
}

TEST(Liveness, IdleTimeoutAndKeepAliveMustFit) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto zero = moq::Session::connect(relay->url(), with_liveness(*relay, 0ms, 0ms));
  EXPECT_MOQ_ERROR(zero, moq::Errc::invalid_argument);
  auto too_slow = moq::Session::connect(relay->url(), with_liveness(*relay, 1000ms, 1000ms));
  ASSERT_FALSE(too_slow);
  EXPECT_EQ(too_slow.error().code(), moq::Errc::invalid_argument);
  EXPECT_NE(too_slow.error().message().find("keep_alive_interval"), std::string::npos)
      << too_slow.error().message();
}

}  // namespace
