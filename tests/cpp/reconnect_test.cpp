// Reconnecting (SessionConfig::reconnect) against a real relay that is
// killed (SIGKILL: no CLOSE ever comes) and started again on the same port:
// the sessions keep their identity, the announcement and the subscriptions
// are restored, delivery resumes in order with the gap reported and nothing
// delivered twice; a policy that gives up ends the session with the last
// attempt's error, an authorization refusal included.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <iostream>

#include "test_util.hpp"

namespace {

using namespace moq_test;

// Loss noticed within 1.5 s of silence; attempts 100-500 ms apart.
moq::SessionConfig reconnecting(const Relay& relay) {
  auto cfg = config_for(relay);
  cfg.idle_timeout = 1500ms;
  cfg.keep_alive_interval = 300ms;
  cfg.reconnect.enabled = true;
  cfg.reconnect.initial_delay = 100ms;
  cfg.reconnect.max_delay = 500ms;
  return cfg;
}

// What a session's on_state_change and on_closed reported, in order.
class StateLog {
 public:
  moq::Callback<void(moq::SessionState, const moq::Status&)> callback() {
    return [this](moq::SessionState state, const moq::Status& cause) {
      std::lock_guard<std::mutex> lock(mutex_);
      states_.push_back(state);
      causes_.push_back(cause.has_value() ? std::string() : describe(cause.error()));
      failed_.push_back(!cause.has_value());
    };
  }
  moq::Callback<void(const moq::Status&)> on_closed() {
    return [this](const moq::Status& status) {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = status.has_value() ? std::optional<moq::Error>() : status.error();
      ended_ = true;
    };
  }
  // Both callbacks, for Session::connect (the log must outlive the session).
  moq::SessionHandlers handlers() {
    moq::SessionHandlers handlers;
    handlers.on_state_change = callback();
    handlers.on_closed = on_closed();
    return handlers;
  }
  std::vector<moq::SessionState> states() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return states_;
  }
  std::vector<bool> failed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failed_;
  }
  std::string causes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string all;
    for (const auto& c : causes_) all += "[" + c + "] ";
    return all;
  }
  bool ended() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ended_;
  }
  std::optional<moq::Error> closed_error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<moq::SessionState> states_;
  std::vector<std::string> causes_;
  std::vector<bool> failed_;
  bool ended_ = false;
  std::optional<moq::Error> closed_;
};

// Writes one-object groups (payload: the group id) to each track every
// 20 ms until stopped, counting the writes that failed.
class GroupWriter {
 public:
  using BeginGroup = std::function<moq::Result<moq::GroupWriter>()>;
  explicit GroupWriter(std::vector<moq::TrackWriter*> tracks) {
    for (moq::TrackWriter* track : tracks) tracks_.push_back([track] { return track->begin_group(); });
    start();
  }
  explicit GroupWriter(moq::PublishedTrack& track) {
    tracks_.push_back([&track] { return track.begin_group(); });
    start();
  }
  ~GroupWriter() { stop(); }
  void stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }
  int failures() const { return failures_.load(); }
  int written() const { return written_.load(); }

 private:
  void start() {
    thread_ = std::thread([this] {
      for (int i = 0; running_.load() && i < 3000; ++i) {
        for (const BeginGroup& begin_group : tracks_) {
          auto group = begin_group();
          if (!group) {
            failures_.fetch_add(1);
            continue;
          }
          if (!group->write(moq::Bytes::copy(std::to_string(group->group_id()))) ||
              !group->finish())
            failures_.fetch_add(1);
          written_.fetch_add(1);
        }
        std::this_thread::sleep_for(20ms);
      }
    });
  }

  std::vector<BeginGroup> tracks_;
  std::atomic<bool> running_{true};
  std::atomic<int> failures_{0};
  std::atomic<int> written_{0};
  std::thread thread_;
};

// Group ids of `objects` (warm-up objects left out), and whether each
// carries its own group id as payload (complete and not mixed up).
std::vector<uint64_t> groups_of(const std::vector<moq::Object>& objects) {
  std::vector<uint64_t> groups;
  for (const auto& o : objects) {
    if (is_warmup(o)) continue;
    EXPECT_EQ(o.payload.view(), std::to_string(o.group_id)) << "object of group " << o.group_id;
    groups.push_back(o.group_id);
  }
  return groups;
}

void expect_strictly_ascending(const std::vector<uint64_t>& groups, const char* what) {
  for (std::size_t i = 1; i < groups.size(); ++i) {
    EXPECT_LT(groups[i - 1], groups[i])
        << what << ": group " << groups[i] << " after " << groups[i - 1]
        << " (a duplicate, or out of order) at index " << i;
  }
}

const std::vector<moq::SessionState> kReconnectedTwice = {
    moq::SessionState::reconnecting, moq::SessionState::connected,
    moq::SessionState::reconnecting, moq::SessionState::connected};

TEST(Reconnect, ARestartedRelayIsRejoinedAndDeliveryResumesInOrderWithTheGapReported) {
  std::string error;
  auto relay = Relay::start(&error);  // its own: this test kills it
  ASSERT_NE(relay, nullptr) << error;
  const auto cfg = reconnecting(*relay);
  const auto ns = test_namespace();
  StateLog pub_states, sub_states;
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(
      make_publisher_at(relay->url(), cfg, ns, "push", &pub, {}, pub_states.handlers()));
  auto pull_track = pub.announcement->create_track("pull");
  ASSERT_MOQ_OK(pull_track);

  auto connected = moq::Session::connect(relay->url(), cfg, sub_states.handlers());
  ASSERT_MOQ_OK(connected);
  moq::Session subscriber = std::move(connected).value();
  Collector got;
  std::atomic<bool> push_ended{false};
  auto push = subscriber.subscribe(
      ns, "push", {got.callback(), [&](const moq::Status&) { push_ended = true; }});
  ASSERT_MOQ_OK(push);
  auto pull = subscriber.subscribe(ns, "pull");
  ASSERT_MOQ_OK(pull);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));
  ASSERT_GT(warm_up_pull(*pull_track, *pull), 0);

  GroupWriter writer({&*pub.track, &*pull_track});
  ASSERT_TRUE(got.wait([](const auto& v) { return groups_of(v).size() >= 5; }));
  // Two outages, so the second reconnect (from a restored state) is covered.
  constexpr uint64_t kOutages = 2;
  for (uint64_t outage = 1; outage <= kOutages; ++outage) {
    SCOPED_TRACE("outage " + std::to_string(outage));
    ASSERT_TRUE(relay->kill());
    // Down long enough for both sessions to notice (at most the idle
    // timeout) and to fail an attempt or two; the publisher keeps writing.
    EXPECT_TRUE(wait_until([&] { return subscriber.state() == moq::SessionState::reconnecting &&
                                        pub.session->state() == moq::SessionState::reconnecting; },
                           5000ms))
        << "both sessions must notice the loss within the idle timeout";
    std::this_thread::sleep_for(500ms);
    ASSERT_TRUE(relay->restart(&error)) << error;
    const auto restarted = Clock::now();

    // Delivery resumes within 5 s of the restart.
    EXPECT_TRUE(wait_until([&] {
      const auto stats = push->stats();
      return stats.resumptions == outage && stats.gap_before_group.has_value();
    }, 5000ms)) << "no object after the gap within 5 s of the restart; subscriber states: "
                << sub_states.causes() << " publisher states: " << pub_states.causes();
    std::cout << "[ reconnect ] delivery resumed " << seconds_since(restarted)
              << " s after restart " << outage << "\n";
    const std::size_t before = groups_of(got.objects()).size();
    EXPECT_TRUE(got.wait([&](const auto& v) { return groups_of(v).size() >= before + 5; }, 5000ms));

    // The gap is exactly where the received groups jump.
    const auto push_groups = groups_of(got.objects());
    const moq::SubscriptionStats stats = push->stats();
    EXPECT_EQ(stats.resumptions, outage);
    ASSERT_TRUE(stats.gap_after_group.has_value());
    ASSERT_TRUE(stats.gap_before_group.has_value());
    EXPECT_LT(*stats.gap_after_group, *stats.gap_before_group);
    const auto after = std::find(push_groups.begin(), push_groups.end(), *stats.gap_before_group);
    ASSERT_NE(after, push_groups.end());
    ASSERT_NE(after, push_groups.begin());
    EXPECT_EQ(*(after - 1), *stats.gap_after_group);
  }
  writer.stop();

  EXPECT_EQ(writer.failures(), 0) << "writes during the outages must be accepted";
  expect_strictly_ascending(groups_of(got.objects()), "push");
  EXPECT_FALSE(push_ended.load()) << "a resumed subscription has no terminal event";

  // The pull subscription resumed the same way.
  std::vector<moq::Object> pulled;
  while (auto object = pull->try_next()) pulled.push_back(std::move(*object));
  const auto pull_groups = groups_of(pulled);
  expect_strictly_ascending(pull_groups, "pull");
  EXPECT_EQ(pull->stats().resumptions, kOutages);
  ASSERT_TRUE(pull->stats().gap_before_group.has_value());
  EXPECT_GT(pull_groups.back(), *pull->stats().gap_before_group);

  // Each session reported each loss (with its cause) and each reconnect.
  EXPECT_EQ(sub_states.states(), kReconnectedTwice) << sub_states.causes();
  EXPECT_EQ(pub_states.states(), kReconnectedTwice) << pub_states.causes();
  EXPECT_EQ(sub_states.failed(), (std::vector<bool>{true, false, true, false}))
      << sub_states.causes();
  EXPECT_EQ(subscriber.state(), moq::SessionState::connected);
  EXPECT_EQ(subscriber.stats()->reconnects, kOutages);
  EXPECT_EQ(pub.session->stats()->reconnects, kOutages);
  EXPECT_FALSE(sub_states.ended());
  EXPECT_FALSE(pub_states.ended());

  // A new request on the new connection works, and closing still ends the
  // session once, with success.
  auto again = subscriber.subscribe(ns, "push", got.callback());
  ASSERT_FALSE(again.has_value()) << "the restored subscription is live on the new connection";
  EXPECT_EQ(again.error().code(), moq::Errc::duplicate) << describe(again);
  ASSERT_MOQ_OK(subscriber.close());
  EXPECT_TRUE(wait_until([&] { return sub_states.ended(); }, 5000ms));
  EXPECT_FALSE(sub_states.closed_error().has_value());
  EXPECT_EQ(sub_states.states(), kReconnectedTwice) << "closed goes to on_closed only";
}

TEST(Reconnect, APublishedTrackIsOfferedAgainAndItsSubscriberResumes) {
  std::string error;
  auto relay = Relay::start(&error);  // its own: this test kills it
  ASSERT_NE(relay, nullptr) << error;
  const auto cfg = reconnecting(*relay);
  const auto ns = test_namespace();
  auto publisher = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(publisher);
  auto track = publisher->publish_track(ns, "published");  // PUBLISH, no announce
  ASSERT_MOQ_OK(track);
  auto subscriber = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(subscriber);
  Collector got;
  std::atomic<bool> sub_ended{false};
  auto sub = subscriber->subscribe(ns, "published",
                                   {got.callback(), [&](const moq::Status&) { sub_ended = true; }});
  ASSERT_MOQ_OK(sub);
  // Warm-up groups until one arrives (the relay may drop the first).
  ASSERT_GT(warm_up_by(
                [&] {
                  auto group = track->begin_group();
                  return group && group->write(moq::Bytes::copy("warmup")) && group->finish();
                },
                [&] { return got.size() > 0; }),
            0);

  GroupWriter writer(*track);
  ASSERT_TRUE(got.wait([](const auto& v) { return groups_of(v).size() >= 5; }));
  ASSERT_TRUE(relay->kill());
  EXPECT_TRUE(wait_until([&] { return publisher->state() == moq::SessionState::reconnecting; },
                         5000ms));
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(relay->restart(&error)) << error;

  // The track is offered again on the new connection, so the restored
  // subscription finds it and delivery resumes after the gap.
  EXPECT_TRUE(wait_until([&] {
    const auto stats = sub->stats();
    return stats.resumptions == 1 && stats.gap_before_group.has_value();
  }, 5000ms)) << "no object of the published track within 5 s of the restart";
  const std::size_t before = groups_of(got.objects()).size();
  EXPECT_TRUE(got.wait([&](const auto& v) { return groups_of(v).size() >= before + 5; }, 5000ms));
  writer.stop();

  EXPECT_EQ(writer.failures(), 0) << "writes during the outage must be accepted";
  expect_strictly_ascending(groups_of(got.objects()), "published");
  EXPECT_FALSE(sub_ended.load()) << "a resumed subscription has no terminal event";
  EXPECT_EQ(publisher->stats()->reconnects, 1u);
  auto group = track->begin_group();
  EXPECT_MOQ_OK(group);  // the handle stays usable after the reconnect
  if (group) EXPECT_MOQ_OK(group->finish());

  // Destroying the track still ends it for the subscriber, normally.
  track = moq::Error(moq::Errc::cancelled, "end the track");
  EXPECT_TRUE(wait_until([&] { return sub_ended.load(); }, 5000ms))
      << "destroying the re-offered track must end the subscription";
}

TEST(Reconnect, AFetchInFlightEndsWithAClearErrorAndFetchesWorkAfterTheReconnect) {
  std::string error;
  auto relay = Relay::start(&error);  // its own: this test kills it
  ASSERT_NE(relay, nullptr) << error;
  const auto cfg = reconnecting(*relay);
  const auto ns = test_namespace();
  moq::TrackOptions history;
  history.history = moq::HistoryLimits{4, 1 << 20};
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, cfg, history));
  for (int i = 0; i < 3; ++i) {
    auto group = pub.track->begin_group();
    ASSERT_MOQ_OK(group);
    ASSERT_MOQ_OK(group->write(moq::Bytes::copy(std::to_string(group->group_id()))));
    ASSERT_MOQ_OK(group->finish());
  }
  auto subscriber = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(subscriber);

  // The relay hangs (SIGSTOP) with the FETCH sent, then dies: the answer
  // never comes, and the connection it was asked on is gone.
  ASSERT_TRUE(relay->freeze());
  auto in_flight = subscriber->fetch_async(ns, "t", moq::FetchRange::groups(0, 2),
                                           [](const moq::Object&) {});
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(relay->kill());
  const auto killed = Clock::now();
  auto lost = in_flight.wait(8000ms);
  ASSERT_FALSE(lost) << "a fetch asked on a lost connection must not succeed";
  EXPECT_EQ(lost.error().code(), moq::Errc::closed) << describe(lost.error());
  EXPECT_NE(lost.error().message().find("connection was lost"), std::string::npos)
      << "the error must say the connection was lost: " << describe(lost.error());
  std::cout << "[ reconnect ] the fetch in flight ended: " << describe(lost.error()) << "\n";
  EXPECT_LT(seconds_since(killed), 5.0)
      << "the fetch must end with the connection (idle timeout 1.5 s), not at its request "
         "timeout: "
      << describe(lost.error());

  // After the reconnect, fetching works again (the publisher's history
  // survived, and its announcement was restored).
  ASSERT_TRUE(relay->restart(&error)) << error;
  ASSERT_TRUE(wait_until([&] { return subscriber->state() == moq::SessionState::connected &&
                                      subscriber->stats()->reconnects == 1; }, 10000ms));
  std::mutex mutex;
  std::vector<uint64_t> groups;
  std::optional<moq::Result<moq::Fetch>> again;
  ASSERT_TRUE(wait_until([&] {
    again.emplace(subscriber->fetch(ns, "t", moq::FetchRange::groups(1, 2),
                                    [&](const moq::Object& o) {
                                      std::lock_guard<std::mutex> lock(mutex);
                                      groups.push_back(o.group_id);
                                    }));
    return again->has_value();  // until the publisher has announced again
  }, 10000ms)) << describe(again->error());
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return groups.size() == 2;
  }, 5000ms));
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_EQ(groups, (std::vector<uint64_t>{1, 2}));
}

TEST(Reconnect, APolicyThatGivesUpEndsTheSessionWithTheLastError) {
  std::string error;
  auto relay = Relay::start(&error);
  ASSERT_NE(relay, nullptr) << error;
  auto cfg = reconnecting(*relay);
  cfg.reconnect.max_attempts = 3;
  cfg.connect_timeout = 1000ms;
  StateLog states;
  auto connected = moq::Session::connect(relay->url(), cfg, states.handlers());
  ASSERT_MOQ_OK(connected);
  moq::Session session = std::move(connected).value();
  ASSERT_TRUE(relay->kill());  // and it stays down
  // Idle timeout 1.5 s, then three attempts of at most 1 s each, 0.1-0.4 s apart.
  EXPECT_TRUE(wait_until([&] { return states.ended(); }, 10000ms));
  EXPECT_EQ(states.states(), std::vector<moq::SessionState>{moq::SessionState::reconnecting});
  const auto closed = states.closed_error();
  ASSERT_TRUE(closed.has_value()) << "giving up is a failure";
  EXPECT_NE(closed->message().find("gave up after 3 attempt"), std::string::npos)
      << describe(*closed);
  EXPECT_EQ(session.state(), moq::SessionState::closed);
  // Requests now say the session is closed.
  EXPECT_MOQ_ERROR(session.announce(test_namespace()), moq::Errc::closed);
}

TEST(Reconnect, ClosingWhileReconnectingEndsTheSessionAtOnce) {
  std::string error;
  auto relay = Relay::start(&error);
  ASSERT_NE(relay, nullptr) << error;
  StateLog states;
  auto connected = moq::Session::connect(relay->url(), reconnecting(*relay), states.handlers());
  ASSERT_MOQ_OK(connected);
  moq::Session session = std::move(connected).value();
  ASSERT_TRUE(relay->kill());
  ASSERT_TRUE(wait_until([&] { return session.state() == moq::SessionState::reconnecting; }, 5000ms));
  // A request made now waits for the next connection (bounded by its timeout).
  auto pending = session.announce_async(test_namespace());
  ASSERT_MOQ_OK(session.close());
  EXPECT_TRUE(wait_until([&] { return states.ended(); }, 2000ms));
  EXPECT_FALSE(states.closed_error().has_value()) << "a local close is a success";
  // Answered when the session closes, not at the request timeout.
  EXPECT_MOQ_ERROR(pending.wait(5000ms), moq::Errc::closed);
  EXPECT_EQ(session.state(), moq::SessionState::closed);
}

TEST(Reconnect, ARelayThatRefusesTheReconnectEndsTheSessionWithTheRefusal) {
  TempDir first("moq-reconnect-key1"), second("moq-reconnect-key2");
  ASSERT_TRUE(first.ok() && second.ok());
  std::string error;
  // Two signing keys; the session's token is signed with the first.
  std::string token;
  for (TempDir* dir : {&first, &second}) {
    auto mint = ChildProcess::spawn({test_peer_binary(), "mint-cat", "--dir", dir->path()}, &error);
    ASSERT_NE(mint, nullptr) << error;
    ASSERT_TRUE(mint->wait_exit(30000ms));
    ASSERT_EQ(mint->exit_status(), 0) << mint->stderr_text();
    if (dir != &first) continue;
    for (const auto& line : mint->stdout_lines()) {
      if (line.rfind("token=", 0) != 0) continue;
      for (std::size_t i = 6; i + 1 < line.size(); i += 2)
        token.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
    }
  }
  ASSERT_FALSE(token.empty());
  Relay::Options options;
  options.binary = relay_auth_cat_binary();
  options.extra_args = {"--scope-config", first.file("scope-config.json")};
  auto relay = Relay::start(options, &error);
  ASSERT_NE(relay, nullptr) << error;
  auto cfg = reconnecting(*relay);
  cfg.auth_tokens = {{moq::AuthToken::kCatTokenType, token}};
  cfg.reconnect.max_attempts = 2;
  StateLog states;
  auto connected = moq::Session::connect(relay->url(), cfg, states.handlers());
  ASSERT_MOQ_OK(connected);
  moq::Session session = std::move(connected).value();
  // Back on the same port, now trusting only the second key.
  ASSERT_TRUE(relay->restart(&error, std::vector<std::string>{"--scope-config",
                                                              second.file("scope-config.json")}))
      << error;
  EXPECT_TRUE(wait_until([&] { return states.ended(); }, 15000ms));
  const auto closed = states.closed_error();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code(), moq::Errc::connect_failed) << describe(*closed);
  EXPECT_NE(closed->message().find("unauthorized"), std::string::npos) << describe(*closed);
  EXPECT_NE(closed->message().find("gave up after 2 attempt"), std::string::npos)
      << describe(*closed);
  // The relay refuses either during SETUP (a failed attempt) or right after
  // it (a connection that is up, then refused: counted as a failed attempt
  // too). So the changes alternate, starting with reconnecting, one
  // reconnecting per lost or refused connection before the last.
  const auto seen = states.states();
  ASSERT_FALSE(seen.empty());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i], i % 2 == 0 ? moq::SessionState::reconnecting : moq::SessionState::connected)
        << "change " << i << "; all: " << states.causes();
  }
  EXPECT_LE(seen.size(), 4u) << states.causes();
}

TEST(Reconnect, AGoawayMovesTheSessionAndItsSubscriptionToTheNamedRelay) {
  std::string error;
  auto relay = Relay::start(&error);
  ASSERT_NE(relay, nullptr) << error;
  const auto ns = test_namespace();
  // At the relay, a publisher of the same track, already well ahead (its
  // group ids pass the peer's long before the move).
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub, config_for(*relay)));
  GroupWriter writer({&*pub.track});
  // The peer serves any track ("served N", one group per 100 ms) and after
  // 1.5 s sends GOAWAY naming the relay.
  auto peer = TestPeer::start({"--serve", "--goaway", relay->url(), "--goaway-after-ms", "1500"},
                              &error);
  ASSERT_NE(peer, nullptr) << error;
  auto cfg = reconnecting(*relay);
  cfg.tls.root_cert_files = {peer->ca_file(), relay->ca_file()};
  StateLog states;
  std::mutex goaway_mutex;
  std::string goaway_uri;
  moq::SessionHandlers handlers = states.handlers();
  handlers.on_goaway = [&](std::string_view uri) {
    std::lock_guard<std::mutex> lock(goaway_mutex);
    goaway_uri = std::string(uri);
  };
  auto connected = moq::Session::connect(peer->url(), cfg, std::move(handlers));
  ASSERT_MOQ_OK(connected);
  moq::Session session = std::move(connected).value();
  Collector got;
  std::atomic<bool> ended{false};
  auto subscription =
      session.subscribe(ns, "t", {got.callback(), [&](const moq::Status&) { ended = true; }});
  ASSERT_MOQ_OK(subscription);

  // From the peer first, then from the relay's publisher.
  auto from_relay = [](const std::vector<moq::Object>& objects) {
    std::size_t n = 0;
    for (const auto& o : objects) n += o.payload.view().rfind("served", 0) != 0 && !is_warmup(o);
    return n;
  };
  ASSERT_TRUE(got.wait([&](const auto& v) { return from_relay(v) >= 5; }, 15000ms))
      << "no objects from the relay after the GOAWAY; peer: " << peer->process().stderr_text();
  writer.stop();
  const auto objects = got.objects();
  std::vector<uint64_t> groups;
  std::size_t from_peer = 0;
  bool moved = false;
  for (const auto& o : objects) {
    groups.push_back(o.group_id);
    const bool peer_object = o.payload.view().rfind("served", 0) == 0;
    if (peer_object) {
      ++from_peer;
      EXPECT_FALSE(moved) << "an object from the peer after the move";
    } else if (!is_warmup(o)) {
      moved = true;
      EXPECT_EQ(o.payload.view(), std::to_string(o.group_id));
    }
  }
  EXPECT_GE(from_peer, 5u) << "the peer served for 1.5 s before its GOAWAY";
  expect_strictly_ascending(groups, "across the move");
  EXPECT_EQ(subscription->stats().resumptions, 1u);
  EXPECT_FALSE(ended.load()) << "a moved subscription has no terminal event";
  {
    std::lock_guard<std::mutex> lock(goaway_mutex);
    EXPECT_EQ(goaway_uri, relay->url());
  }
  // Make-before-break: the session never lost its connection.
  EXPECT_TRUE(states.states().empty()) << states.causes();
  EXPECT_EQ(session.state(), moq::SessionState::connected);
  EXPECT_EQ(session.stats()->reconnects, 1u);
  // The old connection was closed by this side, gracefully.
  EXPECT_FALSE(peer->wait_report("subscription", 5000ms).empty()) << peer->process().stderr_text();
  EXPECT_FALSE(states.ended());
}

TEST(Reconnect, ANamespaceWatchIsRestoredAndReportsEachNamespaceOnce) {
  std::string error;
  auto relay = Relay::start(&error);
  ASSERT_NE(relay, nullptr) << error;
  const auto cfg = reconnecting(*relay);
  const moq::Namespace prefix = test_namespace();
  const auto ns_a = moq::Namespace::parse(prefix.to_string() + "/a").value();
  const auto ns_b = moq::Namespace::parse(prefix.to_string() + "/b").value();
  auto publisher = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(publisher);
  auto announced = publisher->announce(ns_a);
  ASSERT_MOQ_OK(announced);

  StateLog states;
  moq::SessionHandlers handlers;
  handlers.on_state_change = states.callback();
  auto watcher = moq::Session::connect(relay->url(), cfg, std::move(handlers));
  ASSERT_MOQ_OK(watcher);
  std::mutex mutex;
  std::vector<std::string> events;
  auto note = [&](const char* what) {
    return [&, what](const moq::Namespace& ns) {
      std::lock_guard<std::mutex> lock(mutex);
      events.push_back(what + ns.to_string());
    };
  };
  auto seen = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return events;
  };
  std::atomic<bool> ended{false};
  auto watch = watcher->subscribe_namespace(
      prefix, {note("+"), note("-"), [&](const moq::Status&) { ended = true; }});
  ASSERT_MOQ_OK(watch);
  ASSERT_TRUE(wait_until([&] { return seen().size() == 1; }, 10000ms));

  ASSERT_TRUE(relay->kill());
  ASSERT_TRUE(wait_until([&] { return watcher->state() == moq::SessionState::reconnecting; },
                         5000ms));
  ASSERT_TRUE(relay->restart(&error)) << error;
  ASSERT_TRUE(wait_until([&] { return states.states() == std::vector<moq::SessionState>{
                                          moq::SessionState::reconnecting,
                                          moq::SessionState::connected}; },
                         10000ms))
      << states.causes();
  // A namespace announced after the restart reaches the restored watch; the
  // one announced again by its reconnected publisher is not reported twice.
  auto late = connect_to(*relay, config_for(*relay));
  ASSERT_MOQ_OK(late);
  auto announced_b = late->announce(ns_b);
  ASSERT_MOQ_OK(announced_b);
  ASSERT_TRUE(wait_until([&] { return seen().size() >= 2; }, 10000ms)) << "the watch was not restored";
  std::this_thread::sleep_for(500ms);  // anything more would show now
  EXPECT_EQ(seen(), (std::vector<std::string>{"+" + ns_a.to_string(), "+" + ns_b.to_string()}));
  EXPECT_FALSE(ended.load()) << "a restored watch has no terminal event";
}

TEST(Reconnect, ThePolicyIsChecked) {
  auto cfg = quick_config();
  cfg.reconnect.enabled = true;
  cfg.reconnect.initial_delay = 0ms;
  auto refused = moq::Session::connect("https://127.0.0.1:9/", cfg);
  EXPECT_EQ(refused.error().code(), moq::Errc::invalid_argument) << describe(refused);
  EXPECT_NE(refused.error().message().find("initial_delay"), std::string::npos);
  cfg.reconnect.initial_delay = 2000ms;
  cfg.reconnect.max_delay = 1000ms;
  refused = moq::Session::connect("https://127.0.0.1:9/", cfg);
  EXPECT_EQ(refused.error().code(), moq::Errc::invalid_argument) << describe(refused);
  EXPECT_NE(refused.error().message().find("max_delay"), std::string::npos);
}

}  // namespace
