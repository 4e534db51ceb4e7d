// Datagram tracks against the real relay, and against moq-test-peer for a
// peer that takes no datagrams (the relay always does).
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace {

using namespace moq_test;

TEST(Datagrams, RoundTripMarksObjectsAsDatagrams) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto announcement = publisher->announce(ns);
  ASSERT_MOQ_OK(announcement);
  auto track = announcement->create_datagram_track("dg");
  ASSERT_MOQ_OK(track);

  auto subscriber = connect_to(*relay);
  ASSERT_MOQ_OK(subscriber);
  Collector collector;
  auto sub = subscriber->subscribe(ns, "dg", collector.callback());
  ASSERT_MOQ_OK(sub);
  // Datagrams may be lost: send one per group until one arrives.
  bool arrived = false;
  for (uint64_t group = 0; group < 40 && !arrived; ++group) {
    ASSERT_MOQ_OK(track->write(group, 0, moq::Bytes::copy("dg " + std::to_string(group))));
    arrived = collector.wait_count(1, 250ms);
  }
  ASSERT_TRUE(arrived) << "no datagram arrived";
  auto object = collector.objects().front();
  EXPECT_TRUE(object.datagram);
  EXPECT_EQ(object.payload.to_string(), "dg " + std::to_string(object.group_id));
  EXPECT_EQ(object.object_id, 0u);
}

TEST(Datagrams, PayloadThatDoesNotFitIsRefusedWithTheLimit) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto announcement = publisher->announce(test_namespace());
  ASSERT_MOQ_OK(announcement);
  auto track = announcement->create_datagram_track("dg");
  ASSERT_MOQ_OK(track);
  std::size_t max = track->max_payload();
  ASSERT_GT(max, 1000u);
  ASSERT_LT(max, 1500u);
  auto too_big = track->write(0, 0, moq::Bytes(std::string(max + 1, 'x')));
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code(), moq::Errc::payload_too_large);
  EXPECT_NE(too_big.error().message().find(std::to_string(max)), std::string::npos)
      << too_big.error().message();
  ASSERT_MOQ_OK(track->write(1, 0, moq::Bytes(std::string(max, 'x'))));
  // A subgroup track of the same name is refused while the datagram track lives.
  auto clash = announcement->create_track("dg");
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code(), moq::Errc::duplicate);
}

TEST(Datagrams, MovedFromWriterIsInert) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto publisher = connect_to(*relay);
  ASSERT_MOQ_OK(publisher);
  auto announcement = publisher->announce(test_namespace());
  ASSERT_MOQ_OK(announcement);
  auto track = announcement->create_datagram_track("dg");
  ASSERT_MOQ_OK(track);
  moq::DatagramWriter moved = std::move(*track);
  auto st = track->write(0, 0, moq::Bytes::copy("x"));  // NOLINT(bugprone-use-after-move)
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), moq::Errc::invalid_argument);
  EXPECT_EQ(track->max_payload(), 0u);
  EXPECT_GT(moved.max_payload(), 0u);
}

TEST(Datagrams, PeerWithoutDatagramsRefusesDatagramTracksNotTheSession) {
  std::string error;
  auto peer = TestPeer::start({"--no-datagrams", "--accept-namespaces"}, &error);
  ASSERT_NE(peer, nullptr) << error;
  auto session = moq::Session::connect(peer->url(), config_trusting(peer->ca_file()));
  ASSERT_MOQ_OK(session);
  auto announcement = session->announce(test_namespace());
  ASSERT_MOQ_OK(announcement);
  auto datagrams = announcement->create_datagram_track("dg");
  ASSERT_FALSE(datagrams);
  EXPECT_EQ(datagrams.error().code(), moq::Errc::unsupported);
  EXPECT_NE(datagrams.error().message().find("create_track"), std::string::npos)
      << datagrams.error().message();
  // Streams still work on the same session.
  auto track = announcement->create_track("streams");
  ASSERT_MOQ_OK(track);
  auto group = track->begin_group();
  ASSERT_MOQ_OK(group);
  ASSERT_MOQ_OK(group->write(moq::Bytes::copy("x")));
  EXPECT_EQ(session->state(), moq::SessionState::connected);
}

}  // namespace
