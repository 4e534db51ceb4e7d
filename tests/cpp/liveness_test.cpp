// Liveness: SessionConfig::idle_timeout and keep_alive_interval, against a
// relay of the test's own that is killed (SIGKILL: no CONNECTION_CLOSE ever
// comes, only silence), that stays up while nothing is said, or that is
// out of reach for a while (tests/tools/slow-link.py's black hole); and
// SessionConfig::max_incoming_subgroups, QUIC's limit on the subgroup streams
// the relay may have open towards a session.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <string_view>
#include <vector>

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
  EndClock session_end, publisher_end, subscription_end;
  moq::Status subscription_status;
  Publisher pub;
  moq::SessionHandlers pub_handlers;
  pub_handlers.on_closed = [&](const moq::Status&) {
    publisher_end.mark();
  };
  ASSERT_NO_FATAL_FAILURE(
      make_publisher_at(relay->url(), cfg, ns, "t", &pub, {}, std::move(pub_handlers)));
  moq::SessionHandlers sub_handlers;
  sub_handlers.on_closed = [&](const moq::Status&) {
    session_end.mark();
  };
  auto connected = moq::Session::connect(relay->url(), cfg, std::move(sub_handlers));
  ASSERT_MOQ_OK(connected);
  std::optional<moq::Session> subscriber(std::move(connected).value());
  Collector got;
  auto subscribed = subscriber->subscribe(ns, "t", {got.callback(), [&](const moq::Status& status) {
                                                      subscription_status = status;
                                                      subscription_end.mark();
                                                    }});
  ASSERT_MOQ_OK(subscribed);
  std::optional<moq::Subscription> subscription(std::move(subscribed).value());
  ASSERT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));

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

// A path that goes dead for 3 s (every packet lost, both ways) and comes
// back, well within the 10 s idle timeout: QUIC retransmits, the session
// lives on, and every group written during the outage arrives, once, with no
// reconnect.
TEST(Liveness, ThreeSecondsOfLostPacketsDoNotEndTheSession) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  std::string error;
  auto link = SlowLink::start(*relay, 1000000000, &error);  // no bottleneck
  ASSERT_NE(link, nullptr) << error;
  const auto ns = test_namespace();
  std::atomic<int> ended{0};
  Publisher pub;
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status&) {
    ++ended;
  };
  make_publisher_at(link->url(), with_liveness(*relay, 10000ms, 4000ms), ns, "t", &pub, {},
                    std::move(handlers));
  if (HasFatalFailure()) return;
  Subscriber sub;
  subscribe_push(*relay, ns, "t", &sub);
  if (HasFatalFailure()) return;
  moq::TrackWriter* track = &*pub.track;
  Collector& collector = sub.got;
  ASSERT_TRUE(warm_up(*track, [&] { return collector.size() > 0; }));
  std::this_thread::sleep_for(200ms);  // a second warm-up group, if any, lands
  const std::size_t warmed = collector.size();

  ASSERT_TRUE(link->set_blackhole(true, &error)) << error;
  std::vector<std::string> written;
  for (int i = 0; i < 30; ++i) {  // a group every 100 ms into the dead path
    written.push_back("during " + std::to_string(i));
    ASSERT_TRUE(write_group(*track, {written.back()})) << "a write failed during the outage";
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(collector.size(), warmed) << "objects crossed the black hole";
  ASSERT_TRUE(link->set_blackhole(false, &error)) << error;
  const auto healed = Clock::now();
  written.push_back("after");
  ASSERT_TRUE(write_group(*track, {written.back()}));

  auto received = [&] {
    std::vector<std::string> texts;
    for (const auto& o : collector.objects()) {
      if (!is_warmup(o)) texts.push_back(o.payload.to_string());
    }
    std::sort(texts.begin(), texts.end());
    return texts;
  };
  std::vector<std::string> expected = written;
  std::sort(expected.begin(), expected.end());
  // QUIC's probes back off while the path is dead; the next one finds it.
  EXPECT_TRUE(wait_until([&] { return received().size() >= expected.size(); }, 15000ms))
      << "delivery did not resume within 15 s of the path coming back";
  std::this_thread::sleep_for(200ms);  // a group delivered twice would show now
  EXPECT_EQ(received(), expected) << "every group written during the outage arrives, once";
  std::printf("delivery resumed %.1f s after the path came back\n", seconds_since(healed));
  EXPECT_EQ(pub.session->state(), moq::SessionState::connected);
  EXPECT_EQ(ended.load(), 0) << "the session ended";
  EXPECT_EQ(sub.subscription->stats().streams_reset, 0u);
}

// The same outage with an idle timeout shorter than it: the session ends
// within the timeout (plus a margin), with an error.
TEST(Liveness, ALostPathLongerThanTheIdleTimeoutEndsTheSession) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  std::string error;
  auto link = SlowLink::start(*relay, 1000000000, &error);
  ASSERT_NE(link, nullptr) << error;
  EndClock ended;
  std::atomic<bool> with_error{false};
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status& status) {
    with_error = !status;
    ended.mark();
  };
  auto session = moq::Session::connect(link->url(), with_liveness(*relay, 1000ms, 250ms),
                                       std::move(handlers));
  ASSERT_MOQ_OK(session);
  ASSERT_TRUE(link->set_blackhole(true, &error)) << error;
  const auto start = Clock::now();
  ASSERT_TRUE(wait_until([&] { return ended.get().has_value(); }, 5000ms))
      << "a session cut off for 5 s with a 1 s idle timeout is still open";
  EXPECT_LT(std::chrono::duration<double>(*ended.get() - start).count(), 3.0);
  EXPECT_TRUE(with_error.load()) << "the end of a session that timed out carries an error";
  EXPECT_EQ(session->state(), moq::SessionState::closed);
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

bool has_payload(const std::vector<moq::Object>& objects, std::string_view payload) {
  return std::any_of(objects.begin(), objects.end(),
                     [&](const moq::Object& o) { return o.payload.view() == payload; });
}

TEST(Liveness, GroupsBeyondMaxIncomingSubgroupsWaitForAnEarlierOneToEnd) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "a", &pub));
  auto track_b = pub.announcement->create_track("b");
  ASSERT_MOQ_OK(track_b);

  auto cfg = config_for(*relay);
  cfg.max_incoming_subgroups = 1;
  // The same over WebTransport and raw QUIC: the peer's control streams
  // (MoQT's, and HTTP/3's) do not count.
  for (const std::string& url : {relay->url(), relay->moqt_url()}) {
    SCOPED_TRACE(url);
    auto session = moq::Session::connect(url, cfg);
    ASSERT_MOQ_OK(session);
    Collector got_a, got_b;
    auto sub_a = session->subscribe(ns, "a", got_a.callback());
    ASSERT_MOQ_OK(sub_a);
    auto sub_b = session->subscribe(ns, "b", got_b.callback());
    ASSERT_MOQ_OK(sub_b);
    ASSERT_GT(warm_up(*pub.track, [&] { return got_a.size() > 0; }), 0);
    ASSERT_GT(warm_up(*track_b, [&] { return got_b.size() > 0; }), 0);

    auto open_a = pub.track->begin_group();
    ASSERT_MOQ_OK(open_a);
    ASSERT_MOQ_OK(open_a->write(moq::Bytes::copy("a-open")));
    ASSERT_TRUE(got_a.wait([](const auto& v) { return has_payload(v, "a-open"); }, 5000ms));
    auto open_b = track_b->begin_group();
    ASSERT_MOQ_OK(open_b);
    ASSERT_MOQ_OK(open_b->write(moq::Bytes::copy("b-open")));
    EXPECT_FALSE(got_b.wait([](const auto& v) { return has_payload(v, "b-open"); }, 1500ms))
        << "a second subgroup arrived while the only one allowed was open";
    ASSERT_MOQ_OK(open_a->finish());
    EXPECT_TRUE(got_b.wait([](const auto& v) { return has_payload(v, "b-open"); }, 5000ms))
        << "the held-back subgroup must arrive once the open one ended";
    ASSERT_MOQ_OK(open_b->finish());
  }

  for (uint32_t bad : {0u, 65537u}) {
    cfg.max_incoming_subgroups = bad;
    auto refused = moq::Session::connect(relay->url(), cfg);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code(), moq::Errc::invalid_argument);
    EXPECT_NE(refused.error().message().find("max_incoming_subgroups"), std::string::npos)
        << refused.error().message();
  }
}

}  // namespace
