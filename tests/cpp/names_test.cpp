// moq::Namespace validation and moq::Errc names (no network).
#include "test_util.hpp"

#include <map>
#include <unordered_map>

using namespace moq_test;

TEST(Namespace, ParseSplitsAtSlash) {
  auto ns = moq::Namespace::parse("live/cam1/hd");
  ASSERT_MOQ_OK(ns);
  EXPECT_EQ(ns->parts(), (std::vector<std::string>{"live", "cam1", "hd"}));
  EXPECT_EQ(ns->to_string(), "live/cam1/hd");
  auto one = moq::Namespace::parse("clock");
  ASSERT_MOQ_OK(one);
  EXPECT_EQ(one->parts(), std::vector<std::string>{"clock"});
  EXPECT_NE(*ns, *one);
  EXPECT_EQ(*ns, moq::Namespace::parse("live/cam1/hd").value());
}

TEST(Namespace, FromPartsKeepsSlashesInsideFields) {
  auto ns = moq::Namespace::from_parts({"a/b", "c"});
  ASSERT_MOQ_OK(ns);
  EXPECT_EQ(ns->parts(), (std::vector<std::string>{"a/b", "c"}));
  EXPECT_NE(*ns, moq::Namespace::parse("a/b/c").value());
}

TEST(Namespace, AcceptsUtf8) {
  auto ns = moq::Namespace::parse("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac");
  ASSERT_MOQ_OK(ns);
  EXPECT_EQ(ns->parts().size(), 2u);
}

TEST(Namespace, RejectsEmpty) {
  EXPECT_MOQ_ERROR(moq::Namespace::parse(""), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(moq::Namespace::from_parts({}), moq::Errc::invalid_argument);
}

TEST(Namespace, AcceptsThirtyTwoFieldsRejectsThirtyThree) {
  std::vector<std::string> parts(32, "f");
  ASSERT_MOQ_OK(moq::Namespace::from_parts(parts));
  std::string path = "f";
  for (int i = 1; i < 32; ++i) path += "/f";
  ASSERT_MOQ_OK(moq::Namespace::parse(path));

  parts.push_back("f");
  auto r = moq::Namespace::from_parts(parts);
  EXPECT_MOQ_ERROR(r, moq::Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("32"), std::string::npos) << r.error().message();
  EXPECT_MOQ_ERROR(moq::Namespace::parse(path + "/f"), moq::Errc::invalid_argument);
}

TEST(Namespace, RejectsEmptyFields) {
  for (const char* bad : {"a//b", "/a", "a/", "/", "//"}) {
    SCOPED_TRACE(bad);
    EXPECT_MOQ_ERROR(moq::Namespace::parse(bad), moq::Errc::invalid_argument);
  }
  EXPECT_MOQ_ERROR(moq::Namespace::from_parts({"a", ""}), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(moq::Namespace::from_parts({""}), moq::Errc::invalid_argument);
}

TEST(Namespace, RejectsNonUtf8Fields) {
  EXPECT_MOQ_ERROR(moq::Namespace::parse("ok/\xff\xfe"), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(moq::Namespace::from_parts({"ok", "\xc3"}), moq::Errc::invalid_argument);
  auto r = moq::Namespace::from_parts({std::string("\xc0\xaf")});  // overlong '/'
  EXPECT_MOQ_ERROR(r, moq::Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("UTF-8"), std::string::npos) << r.error().message();
}

TEST(Namespace, RejectsTooLong) {
  EXPECT_MOQ_ERROR(moq::Namespace::from_parts({std::string(4097, 'x')}),
                   moq::Errc::invalid_argument);
  ASSERT_MOQ_OK(moq::Namespace::from_parts({std::string(4000, 'x')}));
}

TEST(Namespace, IsAValueForMapsAndSets) {
  moq::Namespace none;
  EXPECT_TRUE(none.parts().empty());
  EXPECT_EQ(none.to_string(), "");
  auto a = moq::Namespace::parse("live/a").value();
  auto b = moq::Namespace::parse("live/b").value();
  auto ab = moq::Namespace::from_parts({"live", "a", "b"}).value();
  EXPECT_LT(none, a);
  EXPECT_LT(a, ab) << "a prefix sorts first";
  EXPECT_LT(ab, b);
  EXPECT_FALSE(b < a);
  EXPECT_GE(b, a);
  std::map<moq::Namespace, int> ordered{{b, 2}, {a, 1}, {ab, 3}};
  EXPECT_EQ(ordered.begin()->first, a);
  std::unordered_map<moq::Namespace, int> hashed{{a, 1}, {b, 2}};
  EXPECT_EQ(hashed.at(moq::Namespace::parse("live/b").value()), 2);
  // Fields are hashed as fields, not as their concatenation.
  auto split1 = moq::Namespace::from_parts({"ab", "c"}).value();
  auto split2 = moq::Namespace::from_parts({"a", "bc"}).value();
  EXPECT_NE(split1, split2);
  EXPECT_NE(std::hash<moq::Namespace>{}(split1), std::hash<moq::Namespace>{}(split2));
  EXPECT_EQ(std::hash<moq::Namespace>{}(a), std::hash<moq::Namespace>{}(moq::Namespace::parse("live/a").value()));
}

TEST(Errc, EveryCodeHasAStableName) {
  EXPECT_STREQ(moq::to_string(moq::Errc::invalid_argument), "invalid_argument");
  EXPECT_STREQ(moq::to_string(moq::Errc::invalid_url), "invalid_url");
  EXPECT_STREQ(moq::to_string(moq::Errc::tls), "tls");
  EXPECT_STREQ(moq::to_string(moq::Errc::connect_failed), "connect_failed");
  EXPECT_STREQ(moq::to_string(moq::Errc::timeout), "timeout");
  EXPECT_STREQ(moq::to_string(moq::Errc::not_connected), "not_connected");
  EXPECT_STREQ(moq::to_string(moq::Errc::closed), "closed");
  EXPECT_STREQ(moq::to_string(moq::Errc::not_found), "not_found");
  EXPECT_STREQ(moq::to_string(moq::Errc::duplicate), "duplicate");
  EXPECT_STREQ(moq::to_string(moq::Errc::unsupported), "unsupported");
  EXPECT_STREQ(moq::to_string(moq::Errc::payload_too_large), "payload_too_large");
  EXPECT_STREQ(moq::to_string(moq::Errc::protocol), "protocol");
  EXPECT_STREQ(moq::to_string(moq::Errc::cancelled), "cancelled");
  EXPECT_STREQ(moq::to_string(moq::Errc::would_block), "would_block");
  EXPECT_STREQ(moq::to_string(moq::Errc::internal), "internal");
}

TEST(Result, ValueErrorAndValueOr) {
  moq::Result<int> v(5);
  EXPECT_TRUE(v.has_value());
  EXPECT_TRUE(static_cast<bool>(v));
  EXPECT_EQ(*v, 5);
  EXPECT_EQ(v.value_or(7), 5);
  moq::Result<int> e(moq::Error(moq::Errc::timeout, "too slow"));
  EXPECT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code(), moq::Errc::timeout);
  EXPECT_EQ(e.error().message(), "too slow");
  EXPECT_EQ(e.value_or(7), 7);
  moq::Status ok;
  EXPECT_TRUE(ok.has_value());
  moq::Status bad(moq::Error(moq::Errc::closed, "gone"));
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), moq::Errc::closed);
  moq::Result<std::string> s(std::string("x"));
  moq::Result<std::string> copy = s;
  EXPECT_EQ(copy->size(), 1u);
  copy = moq::Result<std::string>(moq::Error(moq::Errc::internal, "i"));
  EXPECT_FALSE(copy.has_value());
}

TEST(ResultDeathTest, ValueOnErrorTerminatesWithMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  moq::Result<int> e(moq::Error(moq::Errc::timeout, "x"));
  EXPECT_DEATH((void)e.value(), "check has_value");
}
