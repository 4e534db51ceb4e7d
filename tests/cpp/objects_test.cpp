// Object-level publishing against the real relay: explicit subgroups and ids,
// chunked objects, markers, extension headers; session stats; TRACK_STATUS.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "test_util.hpp"

namespace {

using namespace moq_test;

const moq::Object* find(const std::vector<moq::Object>& objects, uint64_t group, uint64_t subgroup,
                        uint64_t id) {
  for (const auto& o : objects)
    if (o.group_id == group && o.subgroup_id == subgroup && o.object_id == id) return &o;
  return nullptr;
}

TEST(Objects, SubgroupsIdsChunksMarkersAndExtensionsArriveAsWritten) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  PubSub f;
  ASSERT_NO_FATAL_FAILURE(make_pubsub(*relay, ns, "t", &f));
  const uint64_t group = f.sub.got.objects().back().group_id + 10;

  auto a = f.pub.track->begin_subgroup(group, 0, 1);
  auto b = f.pub.track->begin_subgroup(group, 1, 1);
  ASSERT_MOQ_OK(a);
  ASSERT_MOQ_OK(b);
  moq::ObjectOptions with_extensions;
  with_extensions.extensions = {moq::Extension{2, 42, {}}, moq::Extension{0x3d, 0, "meta"}};
  ASSERT_MOQ_OK(a->write(moq::Bytes::copy("a0"), with_extensions));
  ASSERT_MOQ_OK(b->write(moq::Bytes::copy("b0")));
  moq::ObjectOptions id5;
  id5.object_id = 5;
  ASSERT_MOQ_OK(a->write(moq::Bytes::copy("a5"), id5));
  moq::ObjectOptions id3;
  id3.object_id = 3;
  auto backwards = a->write(moq::Bytes::copy("x"), id3);
  ASSERT_FALSE(backwards);
  EXPECT_EQ(backwards.error().code(), moq::Errc::invalid_argument);
  moq::ObjectOptions bad_parity;
  bad_parity.extensions = {moq::Extension{3, 7, {}}};  // odd key with a number
  auto parity = a->write(moq::Bytes::copy("x"), bad_parity);
  ASSERT_FALSE(parity);
  EXPECT_EQ(parity.error().code(), moq::Errc::invalid_argument);
  {
    auto chunked = a->begin_object(6);
    ASSERT_MOQ_OK(chunked);
    ASSERT_MOQ_OK(chunked->write(moq::Bytes::copy("abc")));
    auto overrun = chunked->write(moq::Bytes::copy("defg"));
    ASSERT_FALSE(overrun);
    EXPECT_EQ(overrun.error().code(), moq::Errc::invalid_argument);
    ASSERT_MOQ_OK(chunked->write(moq::Bytes::copy("def")));
  }
  ASSERT_MOQ_OK(a->end_group());
  // The marker finished the group.
  auto after_marker = a->write(moq::Bytes::copy("late"));
  ASSERT_FALSE(after_marker);
  EXPECT_EQ(after_marker.error().code(), moq::Errc::closed);
  EXPECT_EQ(a->finish().error().code(), moq::Errc::closed);
  ASSERT_MOQ_OK(b->finish());

  ASSERT_TRUE(f.sub.got.wait([&](const std::vector<moq::Object>& v) {
    return std::count_if(v.begin(), v.end(), [&](const moq::Object& o) { return o.group_id == group; }) >= 5;
  })) << "not all objects of group " << group << " arrived";
  auto objects = f.sub.got.objects();
  const auto* a0 = find(objects, group, 0, 0);
  const auto* b0 = find(objects, group, 1, 0);
  const auto* a5 = find(objects, group, 0, 5);
  const auto* a6 = find(objects, group, 0, 6);
  const auto* marker = find(objects, group, 0, 7);
  ASSERT_TRUE(a0 && b0 && a5 && a6 && marker);
  EXPECT_EQ(a0->payload.to_string(), "a0");
  ASSERT_EQ(a0->extensions.size(), 2u);
  EXPECT_EQ(a0->extensions[0].key, 2u);
  EXPECT_EQ(a0->extensions[0].number, 42u);
  EXPECT_EQ(a0->extensions[1].key, 0x3du);
  EXPECT_EQ(a0->extensions[1].bytes, "meta");
  EXPECT_EQ(b0->payload.to_string(), "b0");
  EXPECT_EQ(a5->payload.to_string(), "a5");
  EXPECT_EQ(a6->payload.to_string(), "abcdef");
  EXPECT_EQ(a6->status, moq::ObjectStatus::normal);
  EXPECT_EQ(marker->status, moq::ObjectStatus::end_of_group);
  EXPECT_TRUE(marker->payload.empty());
}

TEST(Objects, EndOfTrackArrivesAndEndsTheTrack) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  PubSub f;
  ASSERT_NO_FATAL_FAILURE(make_pubsub(*relay, ns, "t", &f));
  auto last = f.pub.track->begin_group(1);
  ASSERT_MOQ_OK(last);
  const uint64_t group = last->group_id();
  ASSERT_MOQ_OK(last->write(moq::Bytes::copy("final")));
  ASSERT_MOQ_OK(last->end_track());

  ASSERT_TRUE(f.sub.got.wait([&](const std::vector<moq::Object>& v) {
    return find(v, group, 0, 1) != nullptr;
  })) << "the end-of-track marker did not arrive";
  auto objects = f.sub.got.objects();
  const auto* payload = find(objects, group, 0, 0);
  const auto* marker = find(objects, group, 0, 1);
  ASSERT_TRUE(payload && marker);
  EXPECT_EQ(payload->payload.to_string(), "final");
  EXPECT_EQ(marker->status, moq::ObjectStatus::end_of_track);
  EXPECT_TRUE(marker->payload.empty());

  // Nothing may follow the end of the track.
  auto more = f.pub.track->begin_group(1);
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().code(), moq::Errc::closed);
  EXPECT_NE(more.error().message().find("end-of-track"), std::string::npos) << more.error().message();
  auto sub = f.pub.track->begin_subgroup(group + 1, 0, 1);
  ASSERT_FALSE(sub);
  EXPECT_EQ(sub.error().code(), moq::Errc::closed);
}

TEST(Objects, HistoryLimitsMustBePositive) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto announcement = session->announce(test_namespace());
  ASSERT_MOQ_OK(announcement);
  moq::TrackOptions options;
  options.history = moq::HistoryLimits{0, 1024};
  auto track = announcement->create_track("t", options);
  ASSERT_FALSE(track);
  EXPECT_EQ(track.error().code(), moq::Errc::invalid_argument);
  options.history = moq::HistoryLimits{};
  ASSERT_MOQ_OK(announcement->create_track("t", options));
}

TEST(Objects, AGroupCarriesAtMostMaxGroupBytesAndTheNextGroupGoesOn) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  moq::TrackOptions options;
  options.max_group_bytes = 1000;
  PubSub f;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &f.pub, options));
  ASSERT_NO_FATAL_FAILURE(subscribe_push(*relay, ns, "t", &f.sub));
  ASSERT_TRUE(warm_up(*f.pub.track, [&] { return f.sub.got.size() > 0; }));

  auto group = f.pub.track->begin_group();
  ASSERT_MOQ_OK(group);
  const uint64_t capped = group->group_id();
  ASSERT_MOQ_OK(group->write(moq::Bytes::copy(std::string(600, 'a'))));
  ASSERT_MOQ_OK(group->write(moq::Bytes::copy(std::string(400, 'b'))));  // exactly the limit
  auto over = group->write(moq::Bytes::copy("c"));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), moq::Errc::payload_too_large);
  EXPECT_NE(over.error().message().find("max_group_bytes"), std::string::npos) << over.error().message();
  ASSERT_MOQ_OK(group->finish());  // the refused write left the group usable
  auto next = f.pub.track->begin_group();
  ASSERT_MOQ_OK(next);
  ASSERT_MOQ_OK(next->write(moq::Bytes::copy(std::string(1000, 'd'))));
  ASSERT_MOQ_OK(next->finish());

  // Each group has a stream of its own: the next group may come first.
  ASSERT_TRUE(f.sub.got.wait([&](const std::vector<moq::Object>& v) {
    return find(v, capped, 0, 1) != nullptr && find(v, capped + 1, 0, 0) != nullptr;
  }));
  auto objects = f.sub.got.objects();
  std::vector<std::pair<uint64_t, std::size_t>> sizes;  // (object id, size) of the capped group
  for (const auto& o : objects)
    if (o.group_id == capped) sizes.emplace_back(o.object_id, o.payload.size());
  EXPECT_EQ(sizes, (std::vector<std::pair<uint64_t, std::size_t>>{{0, 600}, {1, 400}}));
  EXPECT_EQ(find(objects, capped + 1, 0, 0)->payload.size(), 1000u);

  options.max_group_bytes = 0;
  auto zero = f.pub.announcement->create_track("zero", options);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code(), moq::Errc::invalid_argument);
}

TEST(Session, StatsCountRealTraffic) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  ASSERT_TRUE(pub.track);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto before = session->stats();
  ASSERT_MOQ_OK(before);
  EXPECT_GT(before->packets_received, 0u);
  EXPECT_GT(before->rtt.count(), 0);
  Collector collector;
  auto sub = session->subscribe(ns, "t", collector.callback());
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return collector.size() > 0; }));
  ASSERT_TRUE(write_group(*pub.track, {std::string(256 * 1024, 'x')}));
  ASSERT_TRUE(collector.wait([](const std::vector<moq::Object>& v) {
    return std::any_of(v.begin(), v.end(),
                       [](const moq::Object& o) { return o.payload.size() == 256 * 1024; });
  }));
  auto after = session->stats();
  ASSERT_MOQ_OK(after);
  EXPECT_GE(after->bytes_received, before->bytes_received + 256 * 1024);
  moq::Session moved = std::move(*session);
  auto inert = session->stats();  // NOLINT(bugprone-use-after-move)
  ASSERT_FALSE(inert);
  EXPECT_EQ(inert.error().code(), moq::Errc::invalid_argument);
}

TEST(Session, TrackStatusIsReportedUnsupported) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto status = session->track_status(test_namespace(), "t");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), moq::Errc::unsupported);
  EXPECT_NE(status.error().message().find("TRACK_STATUS"), std::string::npos);
}

TEST(TracksOnDemand, HandlerCreatesOrRefusesRequestedTracks) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto announcement = publisher->announce(ns);
  ASSERT_MOQ_OK(announcement);

  std::mutex mutex;
  std::vector<moq::TrackWriter> made;
  std::vector<std::string> asked;
  announcement->on_track_requested([&](moq::TrackRequest request) {
    std::lock_guard<std::mutex> lock(mutex);
    asked.emplace_back(request.name());
    if (request.name().rfind("ok-", 0) == 0) {
      auto track = request.accept();
      if (track) made.push_back(std::move(*track));
    }  // other names: the request is dropped, which refuses it
  });

  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  Collector collector;
  auto sub = subscriber->subscribe(ns, "ok-1", collector.callback());
  ASSERT_MOQ_OK(sub);
  {
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_EQ(made.size(), 1u);
    ASSERT_TRUE(write_group(made.front(), {"hello"}));
  }
  ASSERT_TRUE(collector.wait_count(1));
  EXPECT_EQ(collector.objects().front().payload.to_string(), "hello");

  auto refused = subscriber->subscribe(ns, "nope", [](const moq::Object&) {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), moq::Errc::not_found);
  {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(asked, (std::vector<std::string>{"ok-1", "nope"}));
  }

  // Without a handler, unknown tracks are not_found at once again.
  announcement->on_track_requested(nullptr);
  auto none = subscriber->subscribe(ns, "ok-2", [](const moq::Object&) {});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), moq::Errc::not_found);
  {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(asked.size(), 2u);
  }

  // A handler set again after clearing is called again.
  std::atomic<int> again{0};
  std::optional<moq::Errc> second_accept;  // a request is accepted once
  announcement->on_track_requested([&](moq::TrackRequest request) {
    ++again;
    auto track = request.accept();
    auto second = request.accept();
    std::lock_guard<std::mutex> lock(mutex);
    if (!second) second_accept = second.error().code();
    if (track) made.push_back(std::move(*track));
  });
  auto renewed = subscriber->subscribe(ns, "ok-3", [](const moq::Object&) {});
  ASSERT_MOQ_OK(renewed);
  EXPECT_EQ(again.load(), 1);
  {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(second_accept, std::optional<moq::Errc>(moq::Errc::invalid_argument))
        << "a second accept of one request was not refused";
  }
  // The handler may still be storing the track it accepted: destroying the
  // announcement waits for a running handler, so `made` is complete (and
  // no handler touches it while it is destroyed).
  { moq::Announcement gone = std::move(*announcement); }
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_EQ(made.size(), 2u) << "ok-1 and ok-3 were accepted";
}

TEST(TracksOnDemand, HandlerIsNotRunningAfterTheAnnouncementIsDestroyed) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto announcement = publisher->announce(ns);
  ASSERT_MOQ_OK(announcement);
  // Each request's handler takes 20 ms, and another thread keeps asking for
  // new tracks, so the destructor runs while a handler is running (or about
  // to start): it must wait for that one and let none start after it returns.
  std::atomic<bool> destroyed{false};
  std::atomic<int> calls{0}, running{0}, late{0};
  announcement->on_track_requested([&](moq::TrackRequest) {
    ++running;
    ++calls;
    if (destroyed) ++late;
    std::this_thread::sleep_for(20ms);
    if (destroyed) ++late;
    --running;
  });
  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  std::atomic<bool> stop{false};
  std::thread asker([&] {
    for (int i = 0; i < 2000 && !stop; ++i) {
      (void)subscriber->subscribe(ns, "t" + std::to_string(i), [](const moq::Object&) {});
    }
  });
  const bool asked = wait_until([&] { return calls.load() >= 3; }, 10000ms);
  { auto gone = std::move(*announcement); }
  destroyed = true;
  const int running_after = running.load();
  stop = true;
  asker.join();
  ASSERT_TRUE(asked) << "the handler was called " << calls.load() << " times";
  EXPECT_EQ(running_after, 0) << "~Announcement returned while its handler was running";
  EXPECT_EQ(late.load(), 0) << "the handler ran after ~Announcement returned";
}

TEST(Counters, TrackAndSubscriptionCountWhatTheyCarried) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  PubSub f;
  ASSERT_NO_FATAL_FAILURE(make_pubsub(*relay, ns, "t", &f));
  const auto before_track = f.pub.track->stats();
  const auto before_sub = f.sub.subscription->stats();
  EXPECT_GE(before_track.groups, 1u);
  EXPECT_EQ(before_track.objects, before_track.groups);  // one object per warm-up group
  EXPECT_GE(before_sub.objects, 1u);

  ASSERT_TRUE(write_group(*f.pub.track, {std::string(1000, 'a'), std::string(24, 'b')}));
  auto after_track = f.pub.track->stats();
  EXPECT_EQ(after_track.groups, before_track.groups + 1);
  EXPECT_EQ(after_track.objects, before_track.objects + 2);
  EXPECT_EQ(after_track.bytes, before_track.bytes + 1024);
  ASSERT_TRUE(f.sub.got.wait_count(before_sub.objects + 2));
  auto after_sub = f.sub.subscription->stats();
  // The counters count exactly what the callback was given.
  uint64_t delivered_bytes = 0;
  auto objects = f.sub.got.objects();
  for (const auto& o : objects) delivered_bytes += o.payload.size();
  EXPECT_EQ(after_sub.objects, objects.size());
  EXPECT_EQ(after_sub.bytes, delivered_bytes);
  EXPECT_GE(after_sub.bytes, before_sub.bytes + 1024);
  EXPECT_EQ(after_sub.dropped_objects, 0u);
  // Every non-empty payload arrived in at least one piece.
  EXPECT_GE(after_sub.chunks, after_sub.objects);

  // 300 kB cannot travel in one QUIC packet: it arrives in several pieces.
  ASSERT_TRUE(write_group(*f.pub.track, {std::string(300000, 'c')}));
  ASSERT_TRUE(f.sub.got.wait_count(objects.size() + 1));
  auto large = f.sub.subscription->stats();
  EXPECT_EQ(large.objects, after_sub.objects + 1);
  EXPECT_GE(large.chunks, after_sub.chunks + 2);
  EXPECT_LE(large.chunks, after_sub.chunks + 300000 / 1000) << "pieces of under 1000 bytes";
}

}  // namespace
