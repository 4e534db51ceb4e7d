// Authorization tokens in SETUP (SessionConfig::auth_tokens): validation, a
// relay without auth config, and a relay that verifies Common Access Tokens
// refusing sessions without a valid one. Minting a valid CAT is covered by the
// Rust test tests/rust/auth.rs (it needs the cat-token crate).
#include "test_util.hpp"

#include <cstdlib>
#include <fstream>
#include <stdlib.h>

using namespace moq_test;

namespace {

moq::Error connect_error(moq::SessionConfig cfg) {
  // Nothing listens there: only validation answers quickly.
  auto r = moq::Session::connect("https://127.0.0.1:9/", std::move(cfg));
  EXPECT_FALSE(r.has_value());
  return r ? moq::Error(moq::Errc::internal, "connected") : r.error();
}

}  // namespace

TEST(Auth, TooManyTokensIsInvalidArgument) {
  auto cfg = quick_config();
  for (std::size_t i = 0; i <= moq::AuthToken::kMaxTokens; ++i) {
    cfg.auth_tokens.push_back({moq::AuthToken::kCatTokenType, "token" + std::to_string(i)});
  }
  const auto start = Clock::now();
  auto e = connect_error(cfg);
  EXPECT_EQ(e.code(), moq::Errc::invalid_argument) << describe(e);
  EXPECT_NE(e.message().find("at most 4"), std::string::npos) << e.message();
  EXPECT_LT(seconds_since(start), 1.0) << "must be refused before any network I/O";
}

TEST(Auth, EmptyValueIsInvalidArgument) {
  auto cfg = quick_config();
  cfg.auth_tokens = {{moq::AuthToken::kCatTokenType, "ok"}, {moq::AuthToken::kCatTokenType, ""}};
  auto e = connect_error(cfg);
  EXPECT_EQ(e.code(), moq::Errc::invalid_argument) << describe(e);
  EXPECT_NE(e.message().find("empty"), std::string::npos) << e.message();
}

TEST(Auth, DuplicateAndOversizedTokensAreInvalidArgument) {
  auto cfg = quick_config();
  cfg.auth_tokens = {{1, "same"}, {1, "same"}};
  auto e = connect_error(cfg);
  EXPECT_EQ(e.code(), moq::Errc::invalid_argument) << describe(e);
  EXPECT_NE(e.message().find("repeats"), std::string::npos) << e.message();

  const std::string half(moq::AuthToken::kMaxTotalBytes / 2 + 1, 'x');
  cfg.auth_tokens = {{1, half}, {2, half}};
  e = connect_error(cfg);
  EXPECT_EQ(e.code(), moq::Errc::invalid_argument) << describe(e);
}

TEST(Auth, TokensWithBinaryBytesReachARelayWithoutAuthConfig) {
  auto relay = Relay::start(nullptr);
  ASSERT_TRUE(relay);
  auto cfg = config_for(*relay);
  cfg.auth_tokens = {{moq::AuthToken::kCatTokenType, std::string("\0\xff\x01", 3)},
                     {0x63346d, "other"}};
  auto session = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(session);
  auto announcement = session->announce(test_namespace());
  ASSERT_MOQ_OK(announcement);
  EXPECT_EQ(session->state(), moq::SessionState::connected);
}

// The refusal arrives as connect's error, or (when the relay's close follows
// its SETUP reply) as the session's terminal event.
std::optional<moq::Error> refusal(const Relay& relay, std::vector<moq::AuthToken> tokens) {
  auto cfg = config_for(relay);
  cfg.auth_tokens = std::move(tokens);
  auto session = connect_to(relay, cfg);
  if (!session) return session.error();
  std::mutex mutex;
  std::optional<moq::Error> closed;
  bool done = false;
  session->on_state_change([&](moq::SessionState, const moq::Error* error) {
    std::lock_guard<std::mutex> lock(mutex);
    if (error) closed = *error;
    done = true;
  });
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return done;
  }, 10000ms)) << "the relay must close an unauthorized session";
  std::lock_guard<std::mutex> lock(mutex);
  return closed;
}

TEST(Auth, RelayWithCatPolicyRefusesMissingOrInvalidTokens) {
  char dir_template[] = "/tmp/moq-auth-cpp-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  ASSERT_NE(dir, nullptr);
  const std::string pem = std::string(dir) + "/issuer.pub.pem";
  const std::string command = "openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | "
                              "openssl ec -pubout -out '" + pem + "' 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << "openssl could not make a P-256 key";
  const std::string config_path = std::string(dir) + "/scope-config.json";
  {
    std::ofstream config(config_path);
    config << R"({ "default": { "auth": { "keys": [{ "kid": "k1", "alg": "ES256", "pem_file": ")"
           << pem << R"(" }], "issuers": ["https://issuer.moq.test"], "audiences": ["moq-test"] } } })";
  }
  Relay::Options options;
  options.binary = relay_auth_cat_binary();
  options.extra_args = {"--scope-config", config_path};
  std::string error;
  auto relay = Relay::start(options, &error);
  ASSERT_TRUE(relay) << error;

  for (auto tokens : {std::vector<moq::AuthToken>{},
                      std::vector<moq::AuthToken>{{moq::AuthToken::kCatTokenType, "not a CWT"}}}) {
    SCOPED_TRACE(tokens.empty() ? "no token" : "garbage token");
    auto e = refusal(*relay, tokens);
    ASSERT_TRUE(e.has_value()) << "the session must end with an error";
    EXPECT_EQ(e->code(), moq::Errc::connect_failed) << describe(*e);
    EXPECT_NE(e->message().find("unauthorized"), std::string::npos) << e->message();
    EXPECT_NE(e->message().find("auth_tokens"), std::string::npos) << e->message();
  }
  relay.reset();
  std::system(("rm -rf '" + std::string(dir) + "'").c_str());
}
