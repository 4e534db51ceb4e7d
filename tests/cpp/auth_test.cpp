// Authorization tokens in SETUP (SessionConfig::auth_tokens): validation, a
// relay without auth config, and a relay that verifies Common Access Tokens:
// a valid token (minted by `moq-test-peer mint-cat` with the key the relay
// trusts) is admitted, the same session without it, with a garbage token or
// with a token for another audience is refused.
#include "test_util.hpp"


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
  std::mutex mutex;
  std::optional<moq::Error> closed;
  bool done = false;
  moq::SessionHandlers handlers;
  handlers.on_closed = [&](const moq::Status& status) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!status) closed = status.error();
    done = true;
  };
  auto session = moq::Session::connect(relay.url(), cfg, std::move(handlers));
  if (!session) return session.error();
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return done;
  }, 10000ms)) << "the relay must close an unauthorized session";
  std::lock_guard<std::mutex> lock(mutex);
  return closed;
}

// Bytes of a lowercase hex string.
std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

TEST(Auth, RelayWithCatPolicyAdmitsAValidTokenAndRefusesTheRest) {
  TempDir dir("moq-auth-cpp");
  ASSERT_TRUE(dir.ok()) << dir.error();
  // A signing key, the relay's scope config trusting it, and two tokens.
  std::string error;
  auto mint = ChildProcess::spawn({test_peer_binary(), "mint-cat", "--dir", dir.path()}, &error);
  ASSERT_NE(mint, nullptr) << error;
  ASSERT_TRUE(mint->wait_exit(30000ms));
  ASSERT_EQ(mint->exit_status(), 0) << mint->stderr_text();
  std::string valid, other_audience;
  for (const auto& line : mint->stdout_lines()) {
    if (line.rfind("token=", 0) == 0) valid = from_hex(line.substr(6));
    if (line.rfind("other-audience-token=", 0) == 0) other_audience = from_hex(line.substr(21));
  }
  ASSERT_FALSE(valid.empty()) << mint->stdout_text();
  ASSERT_FALSE(other_audience.empty()) << mint->stdout_text();

  Relay::Options options;
  options.binary = relay_auth_cat_binary();
  options.extra_args = {"--scope-config", dir.file("scope-config.json")};
  auto relay = Relay::start(options, &error);
  ASSERT_TRUE(relay) << error;

  // Admitted: connect, announce and subscribe under "allowed".
  const auto ns = moq::Namespace::parse("allowed/" + test_namespace().to_string()).value();
  auto cfg = config_for(*relay);
  cfg.auth_tokens = {{moq::AuthToken::kCatTokenType, valid}};
  auto publisher = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(publisher);
  auto announcement = publisher->announce(ns);
  ASSERT_MOQ_OK(announcement);
  auto track = announcement->create_track("t");
  ASSERT_MOQ_OK(track);
  auto subscriber = connect_to(*relay, cfg);
  ASSERT_MOQ_OK(subscriber);
  Collector got;
  auto subscription = subscriber->subscribe(ns, "t", got.callback());
  ASSERT_MOQ_OK(subscription);
  EXPECT_TRUE(warm_up(*track, [&] { return got.size() > 0; }));
  EXPECT_EQ(publisher->state(), moq::SessionState::connected);

  // Refused: the same session without the token, with garbage, with a token
  // for another relay.
  const std::vector<std::pair<const char*, std::vector<moq::AuthToken>>> refused = {
      {"no token", {}},
      {"garbage token", {{moq::AuthToken::kCatTokenType, "not a CWT"}}},
      {"token for another audience", {{moq::AuthToken::kCatTokenType, other_audience}}},
  };
  for (const auto& [what, tokens] : refused) {
    SCOPED_TRACE(what);
    auto e = refusal(*relay, tokens);
    ASSERT_TRUE(e.has_value()) << "the session must end with an error";
    EXPECT_EQ(e->code(), moq::Errc::connect_failed) << describe(*e);
    EXPECT_NE(e->message().find("unauthorized"), std::string::npos) << e->message();
    EXPECT_NE(e->message().find("auth_tokens"), std::string::npos) << e->message();
  }
  // The admitted sessions were not disturbed.
  EXPECT_EQ(subscriber->state(), moq::SessionState::connected);
}
