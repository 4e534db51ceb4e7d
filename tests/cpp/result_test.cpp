// moq::Result and moq::Status as values: std::expected's meaning, copyable
// only when the value is, and Errc as a std::error_code. No relay needed.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <system_error>
#include <type_traits>

#include "moq/moq.hpp"

namespace {

using moq::Errc;
using moq::Error;
using moq::Result;
using moq::Status;

// A handle cannot be copied, so neither can a Result holding one: the trait
// says so, rather than a copy failing to compile deep inside a template.
static_assert(!std::is_copy_constructible<Result<moq::Session>>::value);
static_assert(!std::is_copy_assignable<Result<moq::Session>>::value);
static_assert(std::is_nothrow_move_constructible<Result<moq::Session>>::value);
static_assert(!std::is_copy_constructible<Result<std::unique_ptr<int>>>::value);
static_assert(std::is_copy_constructible<Result<std::string>>::value);
static_assert(std::is_copy_constructible<Status>::value);
static_assert(std::is_error_code_enum<Errc>::value);
static_assert(moq::is_result_v<Result<moq::Session>> && moq::is_result_v<Status>);
static_assert(!moq::is_result_v<int> && !moq::is_result_v<Error>);

Result<int> parse(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    return Error(Errc::invalid_argument, "not a number: \"" + text + "\"");
  }
  return std::stoi(text);
}

TEST(Result, AndThenChainsAndPassesTheFirstErrorOn) {
  auto doubled = parse("21").and_then([](int v) -> Result<int> { return v * 2; });
  ASSERT_TRUE(doubled);
  EXPECT_EQ(*doubled, 42);
  int calls = 0;
  auto failed = parse("x").and_then([&](int v) -> Result<int> {
    ++calls;
    return v;
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(calls, 0) << "and_then must not call f on an error";
  EXPECT_EQ(failed.error().code(), Errc::invalid_argument);
  EXPECT_EQ(failed.error().message(), "not a number: \"x\"");
}

TEST(Result, TransformMapsTheValueAndMayReturnVoid) {
  auto text = parse("7").transform([](int v) { return std::to_string(v) + "!"; });
  static_assert(std::is_same<decltype(text), Result<std::string>>::value);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "7!");
  int seen = 0;
  Status done = parse("5").transform([&](int v) { seen = v; });
  EXPECT_TRUE(done);
  EXPECT_EQ(seen, 5);
  Status not_done = parse("").transform([&](int v) { seen = v; });
  ASSERT_FALSE(not_done);
  EXPECT_EQ(not_done.error().code(), Errc::invalid_argument);
}

TEST(Result, OrElseRecoversFromAnErrorOnly) {
  auto recovered = parse("?").or_else([](const Error& e) -> Result<int> {
    return e.code() == Errc::invalid_argument ? 0 : -1;
  });
  ASSERT_TRUE(recovered);
  EXPECT_EQ(*recovered, 0);
  auto kept = parse("3").or_else([](const Error&) -> Result<int> { return -1; });
  EXPECT_EQ(*kept, 3);
}

TEST(Result, ValueOrAndErrorOr) {
  EXPECT_EQ(parse("9").value_or(-1), 9);
  EXPECT_EQ(parse("no").value_or(-1), -1);
  const Error fallback(Errc::internal, "none");
  EXPECT_EQ(parse("9").error_or(fallback).code(), Errc::internal);
  EXPECT_EQ(parse("no").error_or(fallback).code(), Errc::invalid_argument);
}

TEST(Result, MoveOnlyValuesMoveThroughTheChain) {
  Result<std::unique_ptr<int>> owned = std::make_unique<int>(4);
  auto value = std::move(owned).transform([](std::unique_ptr<int> p) { return *p * 10; });
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, 40);
  Result<std::unique_ptr<int>> again = std::make_unique<int>(1);
  auto chained = std::move(again).and_then(
      [](std::unique_ptr<int> p) -> Result<std::unique_ptr<int>> { return p; });
  ASSERT_TRUE(chained);
  EXPECT_EQ(**chained, 1);
}

TEST(Status, SuccessCarriesNoErrorAndChains) {
  Status ok;
  EXPECT_TRUE(ok);
  EXPECT_EQ(ok.error_or(Error(Errc::cancelled, "fallback")).message(), "fallback");
  auto next = ok.and_then([]() -> Result<int> { return 1; });
  EXPECT_EQ(*next, 1);
  auto mapped = ok.transform([] { return std::string("done"); });
  EXPECT_EQ(*mapped, "done");

  Status failed = Error(Errc::closed, "the track has ended");
  int calls = 0;
  auto skipped = failed.and_then([&]() -> Result<int> { return ++calls; });
  EXPECT_FALSE(skipped);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(skipped.error().code(), Errc::closed);
  Status recovered = failed.or_else([](const Error& e) -> Status {
    if (e.code() == Errc::closed) return Status();
    return e;
  });
  EXPECT_TRUE(recovered);
  EXPECT_EQ(failed.error_or(Error(Errc::internal, "x")).code(), Errc::closed);
}

TEST(Errc, IsAStdErrorCodeOfCategoryMoq) {
  std::error_code ec = Errc::not_found;
  EXPECT_STREQ(ec.category().name(), "moq");
  EXPECT_EQ(ec.message(), "not_found");
  EXPECT_TRUE(ec == Errc::not_found);
  EXPECT_FALSE(ec == Errc::closed);
  // Every code is an error: none is the 0 that std::error_code reads as success.
  EXPECT_TRUE(static_cast<bool>(std::error_code(Errc::invalid_argument)));
  EXPECT_EQ(moq::make_error_code(Errc::lagging).message(), moq::to_string(Errc::lagging));
  EXPECT_NE(ec, std::make_error_code(std::errc::no_such_file_or_directory));
}

}  // namespace
