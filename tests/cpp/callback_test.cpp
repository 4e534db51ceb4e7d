// moq::Callback: callbacks are moved in, never copied, so they may own
// move-only state (a std::unique_ptr, a decoder); and an empty one is empty
// whatever it was made from.
#include <type_traits>

#include "support/test_hooks.hpp"
#include "test_util.hpp"

namespace moq_test {
namespace {

// Counts into `*calls` and sets `*gone` when destroyed.
struct Decoder {
  std::atomic<int>* calls;
  std::atomic<bool>* gone;
  ~Decoder() { gone->store(true); }
};

TEST(Callback, TakesMoveOnlyCallablesAndKeepsTheirState) {
  auto owned = std::make_unique<int>(0);
  moq::Callback<int(int)> add = [owned = std::move(owned)](int n) mutable { return *owned += n; };
  ASSERT_TRUE(add);
  EXPECT_EQ(add(2), 2);
  EXPECT_EQ(add(3), 5) << "the callable's state is kept between calls";
  moq::Callback<int(int)> moved = std::move(add);
  EXPECT_FALSE(add);  // NOLINT: use after move, on purpose
  EXPECT_EQ(moved(1), 6);
  static_assert(!std::is_copy_constructible<moq::Callback<void()>>::value, "moved, never copied");
  static_assert(std::is_nothrow_move_constructible<moq::Callback<void()>>::value, "");
}

TEST(Callback, EmptyWhateverItWasMadeFrom) {
  EXPECT_FALSE(moq::Callback<void()>());
  EXPECT_FALSE(moq::Callback<void()>(nullptr));
  EXPECT_FALSE(moq::Callback<void()>(std::function<void()>()));
  void (*none)() = nullptr;
  EXPECT_FALSE(moq::Callback<void()>(none));
  EXPECT_TRUE(moq::Callback<void()>(std::function<void()>([] {})));
  EXPECT_TRUE(moq::Callback<void()>(+[] {}));
}

TEST(Callback, AMoveOnlyObjectCallbackReceivesAndGoesWithItsSubscription) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  std::atomic<int> calls{0};
  std::atomic<bool> gone{false};
  std::unique_ptr<Decoder> decoder(new Decoder{&calls, &gone});
  auto sub = session->subscribe(ns, "t", [decoder = std::move(decoder)](const moq::Object&) {
    decoder->calls->fetch_add(1);
  });
  ASSERT_MOQ_OK(sub);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return calls.load() > 0; }));
  EXPECT_FALSE(gone.load());
  sub = moq::Error(moq::Errc::cancelled, "destroy the subscription");
  EXPECT_TRUE(gone.load()) << "the callback outlived its Subscription's destructor";
}

}  // namespace
}  // namespace moq_test

namespace moq_test {
namespace {

TEST(Callback, AnObjectCallbackMayTakeTheObject) {
  // Taking moq::Object&& keeps the payload (still the received buffer) and
  // the extensions without a copy; const moq::Object& callbacks work as well
  // (every other test).
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  std::mutex mu;
  std::vector<moq::Object> kept;
  std::vector<const void*> delivered_buffers;
  auto sub = session->subscribe(ns, "t", [&](moq::Object&& object) {
    std::lock_guard<std::mutex> lk(mu);
    delivered_buffers.push_back(object.payload.data());
    kept.push_back(std::move(object));
  });
  ASSERT_MOQ_OK(sub);
  auto size = [&] {
    std::lock_guard<std::mutex> lk(mu);
    return kept.size();
  };
  ASSERT_TRUE(warm_up(*pub.track, [&] { return size() > 0; }));
  auto group = pub.track->begin_group();
  ASSERT_MOQ_OK(group);
  moq::ObjectOptions options;
  options.extensions = {moq::Extension{2, 7, {}}};
  ASSERT_MOQ_OK(group->write(moq::Bytes::copy(pattern(9, 5000)), options));
  ASSERT_MOQ_OK(group->finish());
  // Searched for, not taken from the end: a late warm-up group may follow.
  auto is_ours = [](const moq::Object& o) { return matches_pattern(o.payload, 9, 5000); };
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lk(mu);
    return std::any_of(kept.begin(), kept.end(), is_ours);
  }));
  std::lock_guard<std::mutex> lk(mu);
  const auto index =
      static_cast<std::size_t>(std::find_if(kept.begin(), kept.end(), is_ours) - kept.begin());
  const moq::Object& last = kept[index];
  EXPECT_EQ(last.payload.data(), delivered_buffers[index])
      << "moving the object copied its payload";
  EXPECT_EQ(last.payload.data(), moq::test_hooks::received_buffer(last.payload));
  ASSERT_EQ(last.extensions.size(), 1u);
  EXPECT_EQ(last.extensions[0].key, 2u);
  EXPECT_EQ(last.extensions[0].number, 7u);
}

}  // namespace
}  // namespace moq_test
