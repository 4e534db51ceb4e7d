// Uses an installed moq through its public API only; built with -fno-exceptions.
// Prints "consumer ok" and returns 0, or says what went wrong and returns 1.
#include <moq/moq.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "consumer FAILED: %s\n", what.c_str());
  return 1;
}

std::string describe(const moq::Error& e) {
  return "error code " + std::to_string(static_cast<int>(e.code())) + ": " +
         std::string(e.message());
}

}  // namespace

int main() {
  // 1. Namespace parsing.
  auto ns = moq::Namespace::parse("a/b");
  if (!ns.has_value()) {
    return fail("Namespace::parse(\"a/b\") failed: " + describe(ns.error()));
  }
  const auto& parts = ns.value().parts();
  if (parts.size() != 2 || parts[0] != "a" || parts[1] != "b") {
    return fail("Namespace::parse(\"a/b\") did not give the parts {a, b}");
  }

  // 2. A malformed URL is refused before any network activity.
  {
    auto s = moq::Session::connect("not a url", moq::SessionConfig{});
    if (s.has_value()) {
      return fail("Session::connect(\"not a url\") succeeded");
    }
    if (s.error().code() != moq::Errc::invalid_url) {
      return fail("Session::connect(\"not a url\"): expected invalid_url, got " +
                  describe(s.error()));
    }
  }

  // 3. Nobody listens on 127.0.0.1:9: connect fails (or times out) within ~5 s.
  {
    moq::SessionConfig cfg;
    cfg.connect_timeout = std::chrono::milliseconds(500);
    const auto start = std::chrono::steady_clock::now();
    auto s = moq::Session::connect("moqt://127.0.0.1:9/x", cfg);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
    if (s.has_value()) {
      return fail("Session::connect(\"moqt://127.0.0.1:9/x\") succeeded");
    }
    const auto code = s.error().code();
    if (code != moq::Errc::connect_failed && code != moq::Errc::timeout) {
      return fail("Session::connect(\"moqt://127.0.0.1:9/x\"): expected connect_failed or timeout, got " +
                  describe(s.error()));
    }
    if (elapsed > std::chrono::seconds(5)) {
      return fail("Session::connect(\"moqt://127.0.0.1:9/x\") took " + std::to_string(ms) +
                  " ms with connect_timeout 500 ms");
    }
    std::printf("connect to a closed port failed after %lld ms: %s\n", static_cast<long long>(ms),
                describe(s.error()).c_str());
  }

  // 5 s: the connection attempt to the closed port above drains for a few
  // seconds after connect gave up on it.
  if (auto done = moq::shutdown(std::chrono::seconds(5)); !done) {
    return fail("moq::shutdown: " + describe(done.error()));
  }
  std::printf("consumer ok\n");
  return 0;
}
