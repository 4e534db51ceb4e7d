// What reaches the peer: the SUBSCRIBE parameters a subscription sends, the
// UNSUBSCRIBE its destruction sends, the close code and reason of
// Session::close. moq-relay-ietf shows none of it, so these run against
// moq-test-peer (tests/peer), which reports what arrived on its stderr.
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace {

using namespace moq_test;

struct PeerSession {
  std::unique_ptr<TestPeer> peer;
  std::optional<moq::Session> session;
};

void connect_peer(const std::vector<std::string>& args, PeerSession* out) {
  std::string error;
  out->peer = TestPeer::start(args, &error);
  ASSERT_NE(out->peer, nullptr) << error;
  auto session = moq::Session::connect(out->peer->url(), config_trusting(out->peer->ca_file()));
  ASSERT_MOQ_OK(session);
  out->session.emplace(std::move(session).value());
}

TEST(Wire, SubscribeOptionsReachThePeer) {
  PeerSession p;
  ASSERT_NO_FATAL_FAILURE(connect_peer({"--serve"}, &p));
  const auto ns = moq::Namespace::parse("wire/options").value();

  moq::SubscribeOptions options;
  options.priority = 7;
  options.group_order = moq::GroupOrder::descending;
  options.forward = false;
  options.delivery_timeout = 1500ms;
  options.filter = moq::SubscribeFilter::absolute_range(3, 1, 9);
  auto sub = p.session->subscribe(ns, "chosen", [](const moq::Object&) {}, options);
  ASSERT_MOQ_OK(sub);
  EXPECT_EQ(p.peer->wait_report("SUBSCRIBE wire/options/chosen", 10000ms),
            "SUBSCRIBE wire/options/chosen priority=7 group_order=Descending forward=false "
            "filter=AbsoluteRange start=Some((3, 1)) end_group=Some(9) "
            "delivery_timeout=Some(1500)")
      << p.peer->process().stderr_text();

  // The defaults, as documented in moq/subscribe.hpp.
  auto plain = p.session->subscribe(ns, "default", [](const moq::Object&) {});
  ASSERT_MOQ_OK(plain);
  EXPECT_EQ(p.peer->wait_report("SUBSCRIBE wire/options/default", 10000ms),
            "SUBSCRIBE wire/options/default priority=128 group_order=Publisher forward=true "
            "filter=LargestObject start=None end_group=None delivery_timeout=None")
      << p.peer->process().stderr_text();

  moq::SubscribeOptions start;
  start.filter = moq::SubscribeFilter::absolute_start(12, 4);
  start.group_order = moq::GroupOrder::ascending;
  auto from = p.session->subscribe(ns, "from", [](const moq::Object&) {}, start);
  ASSERT_MOQ_OK(from);
  EXPECT_EQ(p.peer->wait_report("SUBSCRIBE wire/options/from", 10000ms),
            "SUBSCRIBE wire/options/from priority=128 group_order=Ascending forward=true "
            "filter=AbsoluteStart start=Some((12, 4)) end_group=None delivery_timeout=None")
      << p.peer->process().stderr_text();
}

TEST(Wire, DestroyingASubscriptionUnsubscribesAtThePeer) {
  PeerSession p;
  ASSERT_NO_FATAL_FAILURE(connect_peer({"--serve"}, &p));
  const auto ns = moq::Namespace::parse("wire/unsubscribe").value();
  Collector got;
  auto sub = p.session->subscribe(ns, "t", got.callback());
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(got.wait_count(2)) << "the peer's objects did not arrive:\n"
                                 << p.peer->process().stderr_text();
  EXPECT_EQ(p.peer->wait_report("subscription wire/unsubscribe/t ended", 500ms), "")
      << "the subscription ended before it was destroyed";

  { auto gone = std::move(*sub); }
  const auto start = Clock::now();
  const std::string ended = p.peer->wait_report("subscription wire/unsubscribe/t ended", 5000ms);
  // The engine ends a subscription the subscriber UNSUBSCRIBEd with Cancel.
  EXPECT_EQ(ended, "subscription wire/unsubscribe/t ended: Err(Serve(Cancel))")
      << "the peer did not see the UNSUBSCRIBE:\n" << p.peer->process().stderr_text();
  EXPECT_LT(seconds_since(start), 2.0);
  // The session goes on.
  EXPECT_EQ(p.session->state(), moq::SessionState::connected);
}

TEST(Wire, CloseCodeAndReasonReachThePeer) {
  PeerSession p;
  ASSERT_NO_FATAL_FAILURE(connect_peer({}, &p));
  ASSERT_MOQ_OK(p.session->close(42, "closing on purpose"));
  EXPECT_EQ(p.peer->wait_report("client closed the session", 5000ms),
            "client closed the session: code=42 reason=\"closing on purpose\"")
      << p.peer->process().stderr_text();
}

TEST(Wire, DestroyingASessionClosesItGracefully) {
  PeerSession p;
  ASSERT_NO_FATAL_FAILURE(connect_peer({}, &p));
  p.session.reset();
  EXPECT_EQ(p.peer->wait_report("client closed the session", 5000ms),
            "client closed the session: code=0 reason=\"session handle destroyed\"")
      << p.peer->process().stderr_text();
}

}  // namespace
