// MoQT priorities against the real relay: lower number = sent first.
#include <gtest/gtest.h>

#include <atomic>

#include "test_util.hpp"

namespace {

using namespace moq_test;

// Two tracks of one publisher compete for its link to the relay, limited to
// 2 MB/s: 2 MiB of bulk at priority 200 is queued first, then an urgent group
// at priority 0. Each track has its own subscriber session on a fast link,
// so the order objects arrive in is the order the publisher sent them.
TEST(Priority, LowerNumberIsSentFirstOnAConstrainedLink) {
  constexpr int kBulkGroups = 8;
  constexpr int kBulkPerGroup = 16;
  constexpr int kBulkObjects = kBulkGroups * kBulkPerGroup;
  constexpr std::size_t kBulkObjectSize = 16 * 1024;
  constexpr int kUrgentObjects = 10;

  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  std::string error;
  auto link = SlowLink::start(*relay, 2000000, &error);
  ASSERT_NE(link, nullptr) << error;
  auto publisher = moq::Session::connect(link->url(), config_for(*relay));
  ASSERT_MOQ_OK(publisher);
  auto ns = test_namespace();
  auto announcement = publisher->announce(ns);
  ASSERT_MOQ_OK(announcement);
  auto bulk = announcement->create_track("bulk");
  ASSERT_MOQ_OK(bulk);
  auto urgent = announcement->create_track("urgent");
  ASSERT_MOQ_OK(urgent);

  // Counted on the subscribers' callback threads; the bulk count is sampled
  // when the urgent group completes.
  std::atomic<bool> measuring{false};
  std::atomic<int> bulk_seen{0}, urgent_seen{0}, bulk_before_urgent{-1};
  std::atomic<bool> bulk_warm{false}, urgent_warm{false};
  auto bulk_session = connect_to(*relay);
  ASSERT_MOQ_OK(bulk_session);
  auto urgent_session = connect_to(*relay);
  ASSERT_MOQ_OK(urgent_session);
  auto bulk_sub = bulk_session->subscribe(ns, "bulk", [&](const moq::Object& o) {
    bulk_warm = true;
    if (measuring && o.payload.size() == kBulkObjectSize) ++bulk_seen;
  });
  ASSERT_MOQ_OK(bulk_sub);
  auto urgent_sub = urgent_session->subscribe(ns, "urgent", [&](const moq::Object& o) {
    urgent_warm = true;
    if (measuring && o.priority == 0 && ++urgent_seen == kUrgentObjects)
      bulk_before_urgent = bulk_seen.load();
  });
  ASSERT_MOQ_OK(urgent_sub);
  ASSERT_TRUE(warm_up(*bulk, [&] { return bulk_warm.load(); }));
  ASSERT_TRUE(warm_up(*urgent, [&] { return urgent_warm.load(); }));
  std::this_thread::sleep_for(300ms);
  measuring = true;

  const moq::Bytes chunk = moq::Bytes::copy(std::string(kBulkObjectSize, 'b'));
  for (int g = 0; g < kBulkGroups; ++g) {
    auto group = bulk->begin_group(200);
    ASSERT_MOQ_OK(group);
    for (int i = 0; i < kBulkPerGroup; ++i) ASSERT_MOQ_OK(group->write(chunk));
    ASSERT_MOQ_OK(group->finish());
  }
  // Larger than a packet: a new stream's first packet goes out ahead of
  // everything (the WebTransport stream header is written at top priority),
  // so only the rest of the group shows the scheduling.
  auto group = urgent->begin_group(0);
  ASSERT_MOQ_OK(group);
  for (int i = 0; i < kUrgentObjects; ++i)
    ASSERT_MOQ_OK(group->write(moq::Bytes::copy(std::string(8 * 1024, 'u'))));
  ASSERT_MOQ_OK(group->finish());

  ASSERT_TRUE(wait_until([&] { return bulk_seen == kBulkObjects && bulk_before_urgent >= 0; }))
      << "bulk " << bulk_seen << "/" << kBulkObjects << ", urgent " << urgent_seen << "/"
      << kUrgentObjects;
  std::printf("bulk objects (of %d) received before the urgent group: %d\n", kBulkObjects,
              bulk_before_urgent.load());
  EXPECT_LT(bulk_before_urgent, kBulkObjects / 2)
      << "the priority 0 group arrived after " << bulk_before_urgent << " of " << kBulkObjects
      << " priority 200 objects: lower priority numbers are not sent first";
}

}  // namespace
