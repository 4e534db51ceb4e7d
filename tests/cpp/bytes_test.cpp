// moq::Bytes: ownership without copies, copying constructors, sharing.
#include "support/test_hooks.hpp"
#include "test_util.hpp"

#include <thread>
#include <type_traits>

using namespace moq_test;

TEST(Bytes, DefaultIsEmpty) {
  moq::Bytes b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.view(), "");
  EXPECT_EQ(b.to_string(), "");
  EXPECT_TRUE(moq::Bytes(std::string()).empty());
  EXPECT_TRUE(moq::Bytes(std::vector<uint8_t>()).empty());
  EXPECT_TRUE(moq::Bytes::copy(nullptr, 0).empty());
  EXPECT_TRUE(moq::Bytes::copy(std::string_view()).empty());
}

TEST(Bytes, FromStringRvalueTakesBufferWithoutCopy) {
  std::string text = pattern(1, 1 << 20);  // far beyond the small-string buffer
  const std::string expected = text;
  const char* buffer = text.data();
  moq::Bytes b(std::move(text));
  EXPECT_EQ(reinterpret_cast<const char*>(b.data()), buffer) << "the string's buffer was copied";
  ASSERT_EQ(b.size(), expected.size());
  EXPECT_EQ(b.view(), expected);
  EXPECT_EQ(b.to_string(), expected);
  EXPECT_FALSE(b.empty());
}

TEST(Bytes, FromVectorRvalueTakesBufferWithoutCopy) {
  std::vector<uint8_t> data(300000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  const std::vector<uint8_t> expected = data;
  const uint8_t* buffer = data.data();
  moq::Bytes b(std::move(data));
  EXPECT_EQ(b.data(), buffer) << "the vector's buffer was copied";
  ASSERT_EQ(b.size(), expected.size());
  EXPECT_EQ(std::memcmp(b.data(), expected.data(), expected.size()), 0);
}

TEST(Bytes, CopyFromPointerCopiesAndIsIndependentOfTheSource) {
  std::string source = "hello, media over quic";
  moq::Bytes b = moq::Bytes::copy(source.data(), source.size());
  EXPECT_NE(reinterpret_cast<const char*>(b.data()), source.data());
  source[0] = 'J';  // the Bytes is immutable: changing the source does not show
  EXPECT_EQ(b.view(), "hello, media over quic");

  moq::Bytes c = moq::Bytes::copy(std::string_view("abc\0def", 7));
  EXPECT_EQ(c.size(), 7u) << "embedded NUL bytes must be kept";
  EXPECT_EQ(c.view(), std::string_view("abc\0def", 7));
}

TEST(Bytes, CopiesShareTheBufferAndOutliveTheOriginal) {
  std::optional<moq::Bytes> original(moq::Bytes(pattern(7, 100000)));
  const uint8_t* data = original->data();
  moq::Bytes copy = *original;  // cheap: shares the buffer
  EXPECT_EQ(copy.data(), data);
  EXPECT_EQ(copy.size(), 100000u);
  original.reset();  // the copy keeps the buffer alive
  EXPECT_TRUE(matches_pattern(copy, 7, 100000));

  moq::Bytes moved = std::move(copy);
  EXPECT_EQ(moved.data(), data);
  EXPECT_TRUE(matches_pattern(moved, 7, 100000));
}

TEST(Bytes, SharedAcrossThreads) {
  moq::Bytes b(pattern(9, 65536));
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([b, &good] {  // each thread holds its own copy
      for (int i = 0; i < 50; ++i) {
        moq::Bytes local = b;
        if (matches_pattern(local, 9, 65536)) good.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 200);
}

TEST(Bytes, SliceSharesTheBufferAndChecksItsRange) {
  moq::Bytes whole(std::string("0123456789"));
  auto middle = whole.slice(2, 5);
  ASSERT_MOQ_OK(middle);
  EXPECT_EQ(middle->view(), "23456");
  EXPECT_EQ(middle->data(), whole.data() + 2) << "the slice copied";
  EXPECT_EQ(moq::test_hooks::buffer_owners(whole), 2);
  auto inner = middle->slice(1, 2);  // a slice of a slice is relative to it
  ASSERT_MOQ_OK(inner);
  EXPECT_EQ(inner->view(), "34");
  EXPECT_EQ(whole.slice(10, 0)->size(), 0u);
  EXPECT_EQ(whole.slice(0, 10)->view(), "0123456789");
  EXPECT_MOQ_ERROR(whole.slice(11, 0), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(whole.slice(8, 3), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(whole.slice(1, SIZE_MAX), moq::Errc::invalid_argument);  // offset + length overflows
  EXPECT_MOQ_ERROR(moq::Bytes().slice(0, 1), moq::Errc::invalid_argument);
  // The slice keeps the buffer alive on its own.
  moq::Bytes kept = std::move(inner).value();
  whole = moq::Bytes();
  middle = moq::Error(moq::Errc::closed, "drop");
  EXPECT_EQ(kept.view(), "34");
}

TEST(Bytes, OnlyTheLibraryMakesBytesOverItsOwnStorage) {
  // What owns a buffer is the library's business: no public constructor
  // takes storage and a pointer into it (one that lied about the range
  // would have republished the wrong bytes).
  EXPECT_FALSE((std::is_constructible<moq::Bytes, std::shared_ptr<const void>, const uint8_t*,
                                      std::size_t>::value));
}
