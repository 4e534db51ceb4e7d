// GOAWAY and PUBLISH from a peer. moq-relay-ietf 0.8.0 sends neither to a
// client, so these run against moq-test-peer (tests/peer): moq-transport 0.17,
// the engine the relay is built on, acting as the server.
#include <gtest/gtest.h>

#include <set>

#include "test_util.hpp"

namespace {

using namespace moq_test;

// The URI the callback was given, once it was called.
struct GoawaySeen {
  std::mutex mutex;
  std::optional<std::string> uri;
  int calls = 0;
  std::function<void(std::string_view)> callback() {
    return [this](std::string_view uri_seen) {
      std::lock_guard<std::mutex> lock(mutex);
      uri = std::string(uri_seen);
      ++calls;
    };
  }
  std::optional<std::string> get() {
    std::lock_guard<std::mutex> lock(mutex);
    return uri;
  }
  int call_count() {
    std::lock_guard<std::mutex> lock(mutex);
    return calls;
  }
};

// Connects to a peer that sends GOAWAY with `uri`; returns the URI the
// session's on_goaway callback reported (nullopt if none within 15 s).
struct GoawayRun {
  std::unique_ptr<TestPeer> peer;
  GoawaySeen seen;  // before the session, whose on_goaway it is
  std::optional<moq::Session> session;
};

void run_goaway_peer(const std::string& uri, GoawayRun* run) {
  std::string error;
  run->peer = TestPeer::start({"--goaway", uri}, &error);
  ASSERT_NE(run->peer, nullptr) << error;
  moq::SessionHandlers handlers;
  handlers.on_goaway = run->seen.callback();
  auto session = moq::Session::connect(run->peer->url(), config_trusting(run->peer->ca_file()),
                                       std::move(handlers));
  ASSERT_MOQ_OK(session);
  run->session.emplace(std::move(session).value());
  ASSERT_TRUE(wait_until([&] { return run->seen.get().has_value(); }))
      << "no GOAWAY reported; peer said: " << run->peer->process().stderr_text();
}

TEST(PeerGoaway, IsReportedWithTheNewUri) {
  GoawayRun run;
  ASSERT_NO_FATAL_FAILURE(run_goaway_peer("moqt://localhost:4443/next", &run));
  EXPECT_EQ(*run.seen.get(), "moqt://localhost:4443/next");
  // GOAWAY asks the client to move; the session itself still works.
  EXPECT_EQ(run.session->state(), moq::SessionState::connected);

  // Reported once.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(run.seen.call_count(), 1);
}

TEST(PeerGoaway, WithoutAUriIsReportedEmpty) {
  GoawayRun run;
  ASSERT_NO_FATAL_FAILURE(run_goaway_peer("", &run));
  EXPECT_EQ(*run.seen.get(), "");
}

TEST(PeerGoaway, CallbackIsReleasedAtTheTerminalEvent) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto captured = std::make_shared<int>(0);
  std::atomic<int> calls{0};
  std::atomic<bool> closed{false};
  moq::SessionHandlers handlers;
  handlers.on_goaway = [&calls, captured](std::string_view) { ++calls; };
  handlers.on_closed = [&](const moq::Status&) { closed = true; };
  auto session = moq::Session::connect(relay->url(), config_for(*relay), std::move(handlers));
  ASSERT_MOQ_OK(session);
  EXPECT_GT(captured.use_count(), 1) << "the session keeps its on_goaway until the end";
  ASSERT_MOQ_OK(session->close());
  ASSERT_TRUE(wait_until([&] { return closed.load(); }));
  EXPECT_TRUE(wait_until([&] { return captured.use_count() == 1; }, 5000ms))
      << "the on_goaway callback was kept after the terminal event";
  EXPECT_EQ(calls.load(), 0) << "the relay sent no GOAWAY";
}

TEST(PeerPublish, OfferedTrackIsReceivedUntilItsNormalEnd) {
  std::string error;
  auto peer = TestPeer::start({"--publish", "peer/ns/clock", "--groups", "20"}, &error);
  ASSERT_NE(peer, nullptr) << error;
  auto session = moq::Session::connect(peer->url(), config_trusting(peer->ca_file()));
  ASSERT_MOQ_OK(session);

  std::mutex mutex;
  std::string offered;
  std::optional<moq::Status> ended;
  Collector objects;
  auto listener = session->on_publish([&](const moq::Namespace& ns, std::string_view track) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      offered = ns.to_string() + "/" + std::string(track);
    }
    moq::AcceptedTrack accepted;
    accepted.on_object = objects.callback();
    accepted.on_closed = [&](const moq::Status& status) {
      std::lock_guard<std::mutex> lock(mutex);
      ended = status;
    };
    return std::optional<moq::AcceptedTrack>(std::move(accepted));
  });
  ASSERT_MOQ_OK(listener);

  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return ended.has_value();
  })) << "the track did not end; peer said: " << peer->process().stderr_text();
  {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(offered, "peer/ns/clock");
    EXPECT_TRUE(ended->has_value()) << describe(ended->error());
  }
  // Groups sent before the client's REQUEST_OK may be missed; from the first
  // that arrives, every group arrives, in order, through the last (19), each
  // as "peer object <group>".
  const auto received = objects.objects();
  ASSERT_GE(received.size(), 10u);
  for (std::size_t i = 0; i < received.size(); ++i) {
    EXPECT_EQ(received[i].payload.to_string(),
              "peer object " + std::to_string(received[i].group_id));
    if (i > 0) {
      EXPECT_EQ(received[i].group_id, received[i - 1].group_id + 1) << "a group is missing";
    }
  }
  EXPECT_EQ(received.back().group_id, 19u);
}

// ------------------------------------------------------------------ receive limits

TEST(PeerLimits, OversizedObjectsExtensionBlocksAndGroupsAreRefusedAndTheSessionGoesOn) {
  // The peer serves one-object groups, except that group 1 continues with a
  // 2 MiB + 1 object, group 2 with an object whose extension block is
  // 1.2 MiB, and group 3 with three objects of 600,000 bytes, more than the
  // 1 MiB a subgroup may carry here: each is refused before it is buffered,
  // the rest of those groups is lost, and everything else arrives.
  LogCapture log;
  std::string error;
  auto peer = TestPeer::start({"--serve-oversized"}, &error);
  ASSERT_NE(peer, nullptr) << error;
  auto config = config_trusting(peer->ca_file());
  config.max_object_size = 1024 * 1024;
  config.max_group_bytes = 1024 * 1024;
  auto session = moq::Session::connect(peer->url(), config);
  ASSERT_MOQ_OK(session);
  auto ns = moq::Namespace::parse("peer/limits");
  ASSERT_MOQ_OK(ns);
  Collector got;
  auto sub = session->subscribe(*ns, "t", got.callback());
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(got.wait([](const std::vector<moq::Object>& v) {
    bool long_tail = false;
    for (const auto& o : v) long_tail = long_tail || (o.group_id == 3 && o.object_id == 1);
    return long_tail && v.size() >= 8;
  }, 15000ms))
      << "peer said: " << peer->process().stderr_text();
  for (const auto& o : got.objects()) {
    if (o.group_id == 3 && o.object_id == 1) {
      // The one object of group 3's long tail that fits within 1 MiB.
      EXPECT_EQ(o.payload.size(), 600000u);
      continue;
    }
    EXPECT_EQ(o.object_id, 0u) << "group " << o.group_id << ": only first objects may arrive";
    EXPECT_EQ(o.payload.to_string(), "served " + std::to_string(o.group_id));
  }
  auto stats = session->stats();
  ASSERT_MOQ_OK(stats);
  EXPECT_EQ(stats->objects_refused, 3u);
  EXPECT_EQ(stats->streams_stopped, 3u);
  // The engine ends the two subgroups after their first objects.
  EXPECT_TRUE(wait_until([&] { return sub->stats().streams_reset == 3; }, 5000ms))
      << "streams reset: " << sub->stats().streams_reset;
  std::set<std::pair<uint64_t, uint64_t>> seen;  // (group, object)
  for (const auto& o : got.objects()) seen.emplace(o.group_id, o.object_id);
  EXPECT_TRUE(seen.count({1, 0}) && seen.count({2, 0}) && seen.count({3, 0}) && seen.count({3, 1}))
      << "the objects before a refused one are delivered";
  EXPECT_FALSE(seen.count({3, 2})) << "the object past max_group_bytes arrived";
  EXPECT_TRUE(wait_until([&] {
    return log.contains(moq::LogLevel::warn, "above SessionConfig::max_object_size") &&
           log.contains(moq::LogLevel::warn, "extension block") &&
           log.contains(moq::LogLevel::warn, "SessionConfig::max_group_bytes");
  }, 5000ms)) << log.dump();
  EXPECT_EQ(session->state(), moq::SessionState::connected);

  config.max_group_bytes = 0;
  EXPECT_MOQ_ERROR(moq::Session::connect(peer->url(), config), moq::Errc::invalid_argument);
}

}  // namespace
