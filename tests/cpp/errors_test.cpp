// Bad input and refused requests on a live session: each gets the right code and
// a helpful message, nothing crashes or hangs, and the session keeps working.
#include "test_util.hpp"

using namespace moq_test;

TEST(Errors, BadTrackNamesAreInvalidArgument) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "good", &pub);
  if (HasFatalFailure()) return;
  const std::string non_utf8("bad\xff\xfe", 5);
  const std::string too_long(5000, 't');
  for (const std::string& name : {std::string(), non_utf8, std::string("\xc3"), too_long}) {
    SCOPED_TRACE("track name of " + std::to_string(name.size()) + " bytes");
    EXPECT_MOQ_ERROR(pub.announcement->create_track(name), moq::Errc::invalid_argument);
    EXPECT_MOQ_ERROR(pub.session->subscribe(ns, name, [](const moq::Object&) {}),
                     moq::Errc::invalid_argument);
    EXPECT_MOQ_ERROR(pub.session->subscribe(ns, name), moq::Errc::invalid_argument);
  }
  auto r = pub.announcement->create_track("");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("empty"), std::string::npos) << r.error().message();
  r = pub.announcement->create_track(non_utf8);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("UTF-8"), std::string::npos) << r.error().message();
  // Names with '/' or non-ASCII UTF-8 are fine.
  ASSERT_MOQ_OK(pub.announcement->create_track("a/b"));
  ASSERT_MOQ_OK(pub.announcement->create_track("vid\xc3\xa9o"));
}

TEST(Errors, DuplicateTrackNameIsDuplicateUntilTheWriterIsGone) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  Publisher pub;
  make_publisher(*relay, test_namespace(), "t", &pub);
  if (HasFatalFailure()) return;
  EXPECT_MOQ_ERROR(pub.announcement->create_track("t"), moq::Errc::duplicate);
  pub.track.reset();
  ASSERT_MOQ_OK(pub.announcement->create_track("t"));
}

TEST(Errors, NamespaceAnnouncedByAnotherSessionIsDuplicateAndSaysWhatToDo) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  auto first = connect_to(*relay);
  auto second = connect_to(*relay);
  ASSERT_MOQ_OK(first);
  ASSERT_MOQ_OK(second);
  auto owner = first->announce(ns);
  ASSERT_MOQ_OK(owner);
  auto clash = second->announce(ns);
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code(), moq::Errc::duplicate) << clash.error().message();
  const std::string& message = clash.error().message();
  EXPECT_NE(message.find("another session already publishes it"), std::string::npos) << message;
  EXPECT_NE(message.find("moq::shutdown()"), std::string::npos) << message;
  // The refused session keeps working.
  auto other = moq::Namespace::parse(ns.to_string() + "/other");
  ASSERT_MOQ_OK(other);
  ASSERT_MOQ_OK(second->announce(*other));
}

TEST(Errors, SecondSubscriptionToOneTrackOnOneSessionIsDuplicate) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto first = session->subscribe(ns, "t", [](const moq::Object&) {});
  ASSERT_MOQ_OK(first);
  EXPECT_MOQ_ERROR(session->subscribe(ns, "t", [](const moq::Object&) {}), moq::Errc::duplicate);
  EXPECT_MOQ_ERROR(session->subscribe(ns, "t"), moq::Errc::duplicate);
  Collector got;
  first = moq::Error(moq::Errc::internal, "unsubscribe");
  // After unsubscribing, the same session may subscribe again.
  std::optional<moq::Subscription> again;
  ASSERT_TRUE(wait_until([&] {
    auto r = session->subscribe(ns, "t", got.callback());
    if (r) again.emplace(std::move(r).value());
    else std::this_thread::sleep_for(20ms);
    return again.has_value();
  }, 5000ms));
  EXPECT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));
}

TEST(Errors, EmptyObjectCallbackIsInvalidArgument) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  EXPECT_MOQ_ERROR(session->subscribe(test_namespace(), "t", std::function<void(const moq::Object&)>()),
                   moq::Errc::invalid_argument);
}

TEST(Errors, UnknownNamespaceIsNotFound) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  const auto start = Clock::now();
  auto r = session->subscribe(test_namespace("nobody"), "t", [](const moq::Object&) {});
  EXPECT_MOQ_ERROR(r, moq::Errc::not_found);
  EXPECT_LT(seconds_since(start), 5.0) << "not_found should be answered, not timed out";
  EXPECT_MOQ_ERROR(session->subscribe(test_namespace("nobody"), "t"), moq::Errc::not_found);
  EXPECT_EQ(session->state(), moq::SessionState::connected);
}

TEST(Errors, UnknownTrackInAnnouncedNamespaceIsNotFound) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "exists", &pub);
  if (HasFatalFailure()) return;
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  const auto start = Clock::now();
  auto r = session->subscribe(ns, "missing", [](const moq::Object&) {});
  EXPECT_MOQ_ERROR(r, moq::Errc::not_found);
  EXPECT_LT(seconds_since(start), 5.0);
  if (!r) {
    EXPECT_NE(r.error().message().find("missing"), std::string::npos) << r.error().message();
  }
  // The existing track still works on the same session.
  expect_still_receives(*session, ns, "exists", *pub.track);
}

TEST(Errors, DestroyedTrackIsNotFoundForNewSubscribers) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  Publisher pub;
  make_publisher(*relay, ns, "t", &pub);
  if (HasFatalFailure()) return;
  pub.track.reset();
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  EXPECT_MOQ_ERROR(session->subscribe(ns, "t", [](const moq::Object&) {}), moq::Errc::not_found);
}

TEST(Errors, PayloadOverTheLimitIsRefusedAndTheGroupGoesOn) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  auto cfg = config_for(*relay);
  cfg.max_object_size = 1000;
  PubSub f;
  make_pubsub(*relay, ns, "t", &f, cfg);
  if (HasFatalFailure()) return;

  auto group = f.pub.track->begin_group();
  ASSERT_MOQ_OK(group);
  ASSERT_MOQ_OK(group->write(moq::Bytes(pattern(1, 1000))));  // exactly the limit
  auto too_big = group->write(moq::Bytes(pattern(2, 1001)));
  EXPECT_MOQ_ERROR(too_big, moq::Errc::payload_too_large);
  if (!too_big) {
    EXPECT_NE(too_big.error().message().find("1001"), std::string::npos) << too_big.error().message();
    EXPECT_NE(too_big.error().message().find("max_object_size"), std::string::npos);
  }
  ASSERT_MOQ_OK(group->write(moq::Bytes(pattern(3, 10))));  // the group still works
  ASSERT_MOQ_OK(group->finish());
  const uint64_t gid = group->group_id();
  ASSERT_TRUE(f.sub.got.wait([&](const std::vector<moq::Object>& v) {
    std::size_t n = 0;
    for (const auto& o : v) n += o.group_id == gid;
    return n >= 2;
  }, 10000ms));
  std::this_thread::sleep_for(100ms);
  std::vector<moq::Object> mine;
  for (const auto& o : f.sub.got.objects())
    if (o.group_id == gid) mine.push_back(o);
  ASSERT_EQ(mine.size(), 2u) << "the refused payload must not be sent";
  EXPECT_EQ(mine[0].object_id, 0u);
  EXPECT_TRUE(matches_pattern(mine[0].payload, 1, 1000));
  EXPECT_EQ(mine[1].object_id, 1u) << "the refused write must not use up an object id";
  EXPECT_TRUE(matches_pattern(mine[1].payload, 3, 10));
}

TEST(Errors, DefaultObjectSizeLimitIs64MiB) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  Publisher pub;
  make_publisher(*relay, test_namespace(), "t", &pub);
  if (HasFatalFailure()) return;
  auto group = pub.track->begin_group();
  ASSERT_MOQ_OK(group);
  EXPECT_MOQ_ERROR(group->write(moq::Bytes(std::string(64 * 1024 * 1024 + 1, 'x'))),
                   moq::Errc::payload_too_large);
}

TEST(Errors, WritingToAFinishedGroupIsClosed) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  Publisher pub;
  make_publisher(*relay, test_namespace(), "t", &pub);
  if (HasFatalFailure()) return;
  auto group = pub.track->begin_group();
  ASSERT_MOQ_OK(group);
  ASSERT_MOQ_OK(group->write(moq::Bytes::copy("one")));
  ASSERT_MOQ_OK(group->finish());
  auto r = group->write(moq::Bytes::copy("two"));
  EXPECT_MOQ_ERROR(r, moq::Errc::closed);
  EXPECT_MOQ_ERROR(group->finish(), moq::Errc::closed);
  // The track goes on with the next group.
  auto next = pub.track->begin_group();
  ASSERT_MOQ_OK(next);
  EXPECT_EQ(next->group_id(), group->group_id() + 1);
  ASSERT_MOQ_OK(next->write(moq::Bytes::copy("three")));
}

TEST(Errors, EmptyPayloadIsAValidObject) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  PubSub f;
  make_pubsub(*relay, ns, "t", &f);
  if (HasFatalFailure()) return;
  auto gid = write_group(*f.pub.track, {"", "after-empty"});
  ASSERT_TRUE(gid);
  ASSERT_TRUE(f.sub.got.wait([](const std::vector<moq::Object>& v) {
    return std::any_of(v.begin(), v.end(),
                       [](const moq::Object& o) { return o.payload.view() == "after-empty"; });
  }, 10000ms));
  // Searched for, not taken from the end: a late warm-up group may follow.
  auto all = f.sub.got.objects();
  auto empty = std::find_if(all.begin(), all.end(), [&](const moq::Object& o) {
    return o.group_id == *gid && o.object_id == 0;
  });
  ASSERT_NE(empty, all.end()) << "the empty object did not arrive";
  EXPECT_TRUE(empty->payload.empty());
}

TEST(Errors, BadCloseArgumentsAreInvalidArgumentAndLeaveTheSessionOpen) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  EXPECT_MOQ_ERROR(session->close(0, std::string("bad\xff", 4)), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session->close(0, std::string(1025, 'r')), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session->close(uint64_t{1} << 32, "ok"), moq::Errc::invalid_argument);
  EXPECT_EQ(session->state(), moq::SessionState::connected);
  ASSERT_MOQ_OK(session->close(uint64_t{0xffffffff}, std::string(1024, 'r')));
  EXPECT_EQ(session->state(), moq::SessionState::closed);
}

TEST(Errors, DuplicateAnnounceOnOneSessionIsRefused) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto first = session->announce(ns);
  ASSERT_MOQ_OK(first);
  const auto start = Clock::now();
  auto second = session->announce(ns);
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_MOQ_ERROR(second, moq::Errc::duplicate);
  EXPECT_NE(second.error().message().find(ns.to_string()), std::string::npos)
      << "the message should name the namespace: " << second.error().message();
  EXPECT_EQ(session->state(), moq::SessionState::connected);
}

TEST(Errors, PullCallsOnAPushSubscription) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const auto ns = test_namespace();
  PubSub f;
  make_pubsub(*relay, ns, "t", &f);
  if (HasFatalFailure()) return;
  EXPECT_FALSE(f.sub.subscription->try_next().has_value()) << "push mode never queues";
  const auto start = Clock::now();
  EXPECT_MOQ_ERROR(f.sub.subscription->next(2000ms), moq::Errc::invalid_argument);
  EXPECT_LT(seconds_since(start), 1.0) << "next() on a push subscription must not wait";
}
