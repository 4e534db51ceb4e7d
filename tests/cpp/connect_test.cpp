// Session::connect: URLs, bind addresses, timeouts, and TLS trust (roots, pins,
// disabled verification), each failure with the right code and a useful message.
#include "test_util.hpp"
#include "support/test_hooks.hpp"

#include <algorithm>
#include <cctype>

using namespace moq_test;

TEST(Connect, EmptyUrlIsInvalidUrl) {
  auto r = moq::Session::connect("", quick_config());
  EXPECT_MOQ_ERROR(r, moq::Errc::invalid_url);
}

TEST(Connect, MalformedUrlsAreInvalidUrl) {
  for (const char* url : {"not a url", "https://", "localhost:4443", "https://[::1/x", "moqt:/x",
                          "https://local host:1/", "https://local\xffhost:1/"}) {
    SCOPED_TRACE(url);
    const auto start = Clock::now();
    auto r = moq::Session::connect(url, quick_config());
    EXPECT_MOQ_ERROR(r, moq::Errc::invalid_url);
    EXPECT_LT(seconds_since(start), 1.0) << "a bad URL must be refused before any network I/O";
  }
}

TEST(Connect, UnsupportedSchemesAreInvalidUrlAndSayWhatWorks) {
  for (const char* url : {"http://localhost:4443/", "wss://localhost:4443/", "quic://localhost:1/",
                          "ftp://localhost/"}) {
    SCOPED_TRACE(url);
    auto r = moq::Session::connect(url, quick_config());
    EXPECT_MOQ_ERROR(r, moq::Errc::invalid_url);
    if (!r) {
      EXPECT_NE(r.error().message().find("https://"), std::string::npos) << r.error().message();
      EXPECT_NE(r.error().message().find("moqt://"), std::string::npos) << r.error().message();
    }
  }
}

TEST(Connect, BadBindAddressIsInvalidArgument) {
  auto cfg = quick_config();
  cfg.bind = "not-an-address";
  auto r = moq::Session::connect("moqt://127.0.0.1:1/", cfg);
  EXPECT_MOQ_ERROR(r, moq::Errc::invalid_argument);
  if (!r) {
    EXPECT_NE(r.error().message().find("not-an-address"), std::string::npos);
  }
}

TEST(Connect, NonPositiveTimeoutsAndSizesAreInvalidArgument) {
  auto cfg = quick_config();
  cfg.connect_timeout = 0ms;
  EXPECT_MOQ_ERROR(moq::Session::connect("moqt://127.0.0.1:1/", cfg), moq::Errc::invalid_argument);
  cfg = quick_config();
  cfg.request_timeout = -5ms;
  EXPECT_MOQ_ERROR(moq::Session::connect("moqt://127.0.0.1:1/", cfg), moq::Errc::invalid_argument);
  cfg = quick_config();
  cfg.max_object_size = 0;
  EXPECT_MOQ_ERROR(moq::Session::connect("moqt://127.0.0.1:1/", cfg), moq::Errc::invalid_argument);
}

TEST(Connect, UnreachablePortFailsFastWithTimeoutOrConnectFailed) {
  const uint16_t port = pick_free_udp_port();
  ASSERT_NE(port, 0);
  for (const std::string scheme : {"moqt", "https"}) {
    SCOPED_TRACE(scheme);
    moq::SessionConfig cfg = quick_config();
    cfg.connect_timeout = 1000ms;
    const auto start = Clock::now();
    auto r = moq::Session::connect(scheme + "://127.0.0.1:" + std::to_string(port) + "/", cfg);
    const double took = seconds_since(start);
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(r.error().code() == moq::Errc::timeout ||
                r.error().code() == moq::Errc::connect_failed)
        << describe(r.error());
    EXPECT_FALSE(r.error().message().empty());
    EXPECT_LT(took, 3.0) << "connect_timeout = 1 s was not honoured";
  }
}

// A host name with several addresses: connect tries each in turn, each
// with its share of connect_timeout, and the first that answers wins.
TEST(Connect, TriesEveryResolvedAddressInTurn) {
  Relay& relay = *shared_relay();
  const uint16_t dead = pick_free_udp_port();  // nothing listens there
  ASSERT_NE(dead, 0);
  const std::string silent = "127.0.0.1:" + std::to_string(dead);
  const std::string live = "127.0.0.1:" + std::to_string(relay.port());
  const std::string host = "moq-several-addresses.test";
  const std::string url = "https://" + host + ":" + std::to_string(relay.port()) + "/";
  moq::SessionConfig cfg = quick_config();
  cfg.tls.server_cert_sha256 = {relay.cert_sha256()};  // the certificate names localhost
  cfg.connect_timeout = 4000ms;
  struct Case {
    std::vector<std::string> addrs;
    bool connects;
  };
  for (const Case& c : {Case{{silent, live}, true}, Case{{live, silent}, true},
                        Case{{silent, silent}, false}}) {
    SCOPED_TRACE(c.addrs[0] + ", " + c.addrs[1]);
    ASSERT_MOQ_OK(moq::test_hooks::override_resolver(host, c.addrs));
    const auto start = Clock::now();
    auto session = moq::Session::connect(url, cfg);
    const double took = seconds_since(start);
    if (c.connects) {
      ASSERT_MOQ_OK(session);
      EXPECT_MOQ_OK(session->announce(test_namespace()));
    } else {
      ASSERT_FALSE(session.has_value());
      EXPECT_EQ(session.error().code(), moq::Errc::timeout) << describe(session.error());
    }
    EXPECT_LT(took, 6.0) << "connect_timeout = 4 s bounds all the attempts together";
  }
  ASSERT_MOQ_OK(moq::test_hooks::override_resolver(host, {}));
}

TEST(Connect, CertificateFromAnotherCaIsTls) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  for (const std::string& url : {relay->url(), relay->moqt_url()}) {
    SCOPED_TRACE(url);
    auto cfg = config_for(*relay);
    cfg.tls.root_cert_files = {relay->other_ca_file()};
    const auto start = Clock::now();
    auto r = moq::Session::connect(url, cfg);
    EXPECT_MOQ_ERROR(r, moq::Errc::tls);
    EXPECT_LT(seconds_since(start), 5.0);
  }
}

TEST(Connect, SystemRootsDoNotTrustTheTestCa) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto cfg = config_for(*relay);
  cfg.tls.root_cert_files.clear();  // system roots
  EXPECT_MOQ_ERROR(moq::Session::connect(relay->url(), cfg), moq::Errc::tls);
}

TEST(Connect, SystemRootsAreUsedWhenNoRootFileIsGiven) {
  // The system store is where SSL_CERT_FILE points (as OpenSSL reads it):
  // with the test CA there, an empty TlsConfig trusts the relay. (Each test
  // runs in its own process, so the variable does not leak.)
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  ASSERT_EQ(setenv("SSL_CERT_FILE", relay->ca_file().c_str(), 1), 0);
  auto cfg = config_for(*relay);
  cfg.tls.root_cert_files.clear();
  auto r = moq::Session::connect(relay->url(), cfg);
  unsetenv("SSL_CERT_FILE");
  ASSERT_MOQ_OK(r);
  EXPECT_EQ(r->state(), moq::SessionState::connected);
}

TEST(Connect, CertificateForAnotherHostNameIsTls) {
  // The relay serves a certificate the trusted CA signed, but for
  // elsewhere.invalid: connecting to localhost must fail the name check.
  moq_test::Relay::Options options;
  options.certificate = "misnamed";
  std::string error;
  auto relay = moq_test::Relay::start(options, &error);
  ASSERT_NE(relay, nullptr) << error;
  for (const std::string& url : {relay->url(), relay->moqt_url()}) {
    SCOPED_TRACE(url);
    auto r = moq::Session::connect(url, config_for(*relay));
    EXPECT_MOQ_ERROR(r, moq::Errc::tls);
    EXPECT_NE(r.error().message().find("not valid for name"), std::string::npos)
        << r.error().message();
  }
}

TEST(Connect, APinReplacesTheChainCheck) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  std::string wrong = relay->cert_sha256();
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  // The right root, but a wrong pin: the pin decides, and it does not match.
  auto cfg = config_for(*relay);
  cfg.tls.server_cert_sha256 = {wrong};
  auto r = moq::Session::connect(relay->url(), cfg);
  EXPECT_MOQ_ERROR(r, moq::Errc::tls);
  EXPECT_NE(r.error().message().find("pin"), std::string::npos) << r.error().message();

  // A pin names the server's own (end-entity) certificate: the CA's is no match.
  std::string ca_pin;
  {
    std::string error;
    auto hash = ChildProcess::spawn(
        {"/bin/sh", "-c",
         "openssl x509 -in '" + relay->ca_file() + "' -outform DER | openssl dgst -sha256 -r"},
        &error);
    ASSERT_NE(hash, nullptr) << error;
    ASSERT_TRUE(hash->wait_exit(10000ms));
    ca_pin = hash->stdout_text().substr(0, 64);
  }
  ASSERT_EQ(ca_pin.size(), 64u);
  cfg.tls.server_cert_sha256 = {ca_pin};
  r = moq::Session::connect(relay->url(), cfg);
  EXPECT_MOQ_ERROR(r, moq::Errc::tls);
  EXPECT_NE(r.error().message().find("pin"), std::string::npos) << r.error().message();
}

TEST(Connect, SeveralRootFilesAreAllTrusted) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto cfg = config_for(*relay);
  cfg.tls.root_cert_files = {relay->other_ca_file(), relay->ca_file()};
  ASSERT_MOQ_OK(moq::Session::connect(relay->url(), cfg));
}

TEST(Connect, MissingOrBadRootFileIsReported) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto cfg = config_for(*relay);
  cfg.tls.root_cert_files = {relay->cert_dir() + "/does-not-exist.pem"};
  // A bad setting, found before anything is sent: invalid_argument, not tls.
  auto r = moq::Session::connect(relay->url(), cfg);
  EXPECT_MOQ_ERROR(r, moq::Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("does-not-exist.pem"), std::string::npos)
      << "the message should name the file: " << r.error().message();

  cfg.tls.root_cert_files = {relay->key_file()};  // PEM, but no certificate in it
  r = moq::Session::connect(relay->url(), cfg);
  EXPECT_MOQ_ERROR(r, moq::Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("no PEM certificate"), std::string::npos) << r.error().message();
}

TEST(Connect, PinMismatchIsTls) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  std::string wrong = relay->cert_sha256();
  ASSERT_EQ(wrong.size(), 64u);
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  auto cfg = config_for(*relay);
  cfg.tls.root_cert_files.clear();
  cfg.tls.server_cert_sha256 = {wrong};
  auto r = moq::Session::connect(relay->url(), cfg);
  EXPECT_MOQ_ERROR(r, moq::Errc::tls);
}

TEST(Connect, MalformedPinIsRejected) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto cfg = config_for(*relay);
  cfg.tls.root_cert_files.clear();
  cfg.tls.server_cert_sha256 = {"not-hex"};
  auto r = moq::Session::connect(relay->url(), cfg);
  EXPECT_MOQ_ERROR(r, moq::Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("not-hex"), std::string::npos) << r.error().message();
}

TEST(Connect, CorrectPinConnectsWithoutRootFiles) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto cfg = config_for(*relay);
  cfg.tls.root_cert_files.clear();
  cfg.tls.server_cert_sha256 = {relay->cert_sha256()};
  auto r = moq::Session::connect(relay->url(), cfg);
  ASSERT_MOQ_OK(r);
  EXPECT_EQ(r->state(), moq::SessionState::connected);

  // Colons and upper case are accepted too, and one matching pin among several is enough.
  std::string formatted;
  for (std::size_t i = 0; i < relay->cert_sha256().size(); i += 2) {
    if (i) formatted += ':';
    formatted += relay->cert_sha256().substr(i, 2);
  }
  std::transform(formatted.begin(), formatted.end(), formatted.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  cfg.tls.server_cert_sha256 = {std::string(64, 'a'), formatted};
  ASSERT_MOQ_OK(moq::Session::connect(relay->moqt_url(), cfg));
}

TEST(Connect, DisableVerifyConnectsAndWarns) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  LogCapture log;
  auto cfg = config_for(*relay);
  cfg.tls.root_cert_files.clear();
  cfg.tls.disable_verify = true;
  auto r = moq::Session::connect(relay->url(), cfg);
  ASSERT_MOQ_OK(r);
  EXPECT_EQ(r->state(), moq::SessionState::connected);
  EXPECT_TRUE(wait_until([&] { return log.contains(moq::LogLevel::warn, "DISABLED") ||
                                      log.contains(moq::LogLevel::warn, "disable"); },
                         2000ms))
      << "disable_verify must be logged as a warning; log:\n"
      << log.dump();
}

TEST(Connect, BothTransportsConnectWithTheRightRoot) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  for (const std::string& url :
       {relay->url(), relay->moqt_url(), relay->url("/scoped"), relay->moqt_url("/scoped")}) {
    SCOPED_TRACE(url);
    auto r = moq::Session::connect(url, config_for(*relay));
    ASSERT_MOQ_OK(r);
    EXPECT_EQ(r->state(), moq::SessionState::connected);
  }
}
