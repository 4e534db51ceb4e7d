// A relay that hangs (SIGSTOP: its sockets stay open, it answers nothing):
// requests end with Errc::timeout within SessionConfig::request_timeout, and
// no destructor waits for the network.
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace {

using namespace moq_test;

// How long a destructor may take while the relay is frozen: it must not wait
// for an answer, only do local work.
constexpr double kDestructorBound = 0.1;

template <class Handle>
double seconds_to_destroy(std::optional<Handle>& handle) {
  const auto start = Clock::now();
  handle.reset();
  return seconds_since(start);
}

TEST(FrozenRelay, RequestsTimeOutAndDestructorsDoNotWait) {
  std::string error;
  auto relay = Relay::start(&error);  // its own: this test freezes it
  ASSERT_NE(relay, nullptr) << error;
  auto cfg = config_for(*relay);
  cfg.request_timeout = 1500ms;
  const auto ns = test_namespace();

  // Every kind of handle, live, before the relay freezes.
  auto publisher = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(publisher);
  std::optional<moq::Announcement> announcement(publisher->announce(ns).value());
  moq::TrackOptions history;
  history.history = moq::HistoryLimits{4, 1 << 20};
  std::optional<moq::TrackWriter> track(announcement->create_track("t", history).value());
  ASSERT_TRUE(write_group(*track, {"kept"}));
  auto subscriber = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(subscriber);
  Collector got;
  std::optional<moq::Subscription> subscription(subscriber->subscribe(ns, "t", got.callback()).value());
  std::optional<moq::TrackWriter> pulled(announcement->create_track("pulled").value());
  std::optional<moq::Subscription> pull(subscriber->subscribe(ns, "pulled").value());
  std::optional<moq::Fetch> fetch(
      subscriber->fetch(ns, "t", moq::FetchRange::groups(0, 0), [](const moq::Object&) {}).value());
  std::optional<moq::NamespaceWatch> watch(
      subscriber->subscribe_namespace(test_namespace("watched"), [](const moq::Namespace&) {}).value());
  std::optional<moq::PublishListener> listener(
      subscriber->on_publish([](const moq::Namespace&, std::string_view) {
        return std::optional<moq::AcceptedTrack>();
      }).value());
  ASSERT_TRUE(warm_up(*track, [&] { return got.size() > 0; }));

  ASSERT_TRUE(relay->freeze());

  // Requests: timeout, within the configured bound (and not much later).
  auto start = Clock::now();
  auto late_announce = publisher->announce(test_namespace("late"));
  double took = seconds_since(start);
  EXPECT_MOQ_ERROR(late_announce, moq::Errc::timeout);
  EXPECT_GE(took, 1.4);
  EXPECT_LT(took, 4.0);
  start = Clock::now();
  auto late_subscribe = subscriber->subscribe(ns, "other", [](const moq::Object&) {});
  took = seconds_since(start);
  EXPECT_MOQ_ERROR(late_subscribe, moq::Errc::timeout);
  EXPECT_GE(took, 1.4);
  EXPECT_LT(took, 4.0);

  // Destructors: none waits for the frozen relay.
  EXPECT_LT(seconds_to_destroy(subscription), kDestructorBound) << "~Subscription";
  EXPECT_LT(seconds_to_destroy(pull), kDestructorBound) << "~Subscription (pull)";
  EXPECT_LT(seconds_to_destroy(pulled), kDestructorBound) << "~TrackWriter (pulled)";
  EXPECT_LT(seconds_to_destroy(fetch), kDestructorBound) << "~Fetch";
  EXPECT_LT(seconds_to_destroy(watch), kDestructorBound) << "~NamespaceWatch";
  EXPECT_LT(seconds_to_destroy(listener), kDestructorBound) << "~PublishListener";
  EXPECT_LT(seconds_to_destroy(track), kDestructorBound) << "~TrackWriter";
  EXPECT_LT(seconds_to_destroy(announcement), kDestructorBound) << "~Announcement";
  std::optional<moq::Session> sub_session(std::move(subscriber).value());
  std::optional<moq::Session> pub_session(std::move(publisher).value());
  EXPECT_LT(seconds_to_destroy(sub_session), kDestructorBound) << "~Session (subscriber)";
  EXPECT_LT(seconds_to_destroy(pub_session), kDestructorBound) << "~Session (publisher)";
  relay->thaw();
  // The closed connections drain for three probe timeouts, and those
  // doubled while the relay said nothing: under ASan this outlasted the
  // 5 s the process gives moq::shutdown at exit. Bounded here, longer.
  const moq::Status drained = moq::shutdown(20000ms);
  EXPECT_TRUE(drained.has_value()) << drained.error().message();
}

}  // namespace
