// Shared helpers for moq's GoogleTest suites: one real moq-relay-ietf per test
// process (started lazily, stopped at exit), connect helpers, bounded waits and
// deterministic payload patterns.
#pragma once

#include <gtest/gtest.h>
#include <moq/moq.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/relay.hpp"

namespace moq_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline const char* errc_name(moq::Errc c) { return moq::to_string(c); }

// "code: message" for assertion messages.
inline std::string describe(const moq::Error& e) {
  return std::string(moq::to_string(e.code())) + ": " + e.message();
}
template <class T>
std::string describe(const moq::Result<T>& r) {
  return r.has_value() ? std::string("ok (a value)") : describe(r.error());
}

// Asserts that `result` failed with `code` and a non-empty message.
#define EXPECT_MOQ_ERROR(result, expected_code)                                           \
  do {                                                                                    \
    const auto& moq_r_ = (result);                                                        \
    ASSERT_FALSE(moq_r_.has_value()) << "expected " << ::moq::to_string(expected_code)    \
                                     << ", got a value";                                  \
    EXPECT_EQ(moq_r_.error().code(), (expected_code))                                     \
        << "got " << ::moq_test::describe(moq_r_.error());                                \
    EXPECT_GE(moq_r_.error().message().size(), 10u)                                       \
        << "error message too short to help: \"" << moq_r_.error().message() << "\"";    \
  } while (0)

#define ASSERT_MOQ_OK(result)                                                             \
  do {                                                                                    \
    const auto& moq_r_ = (result);                                                        \
    ASSERT_TRUE(moq_r_.has_value()) << ::moq_test::describe(moq_r_);                      \
  } while (0)

// As ASSERT_MOQ_OK, without leaving the test (also usable in threads).
#define EXPECT_MOQ_OK(result)                                                             \
  do {                                                                                    \
    const auto& moq_r_ = (result);                                                        \
    EXPECT_TRUE(moq_r_.has_value()) << ::moq_test::describe(moq_r_);                      \
  } while (0)

// At the end of every test process (each test runs in its own): moq::shutdown,
// as the README tells applications to do. It must finish: a task still
// running means something outlived its handle. (Without it, the sanitizer
// build also sees buffers of still-running tasks as leaks at exit.)
class ShutdownAtExit : public ::testing::Environment {
 public:
  void TearDown() override {
    const moq::Status done = moq::shutdown(std::chrono::milliseconds(5000));
    EXPECT_TRUE(done.has_value()) << "moq::shutdown: " << done.error().message();
  }
};
inline ::testing::Environment* const shutdown_at_exit =
    ::testing::AddGlobalTestEnvironment(new ShutdownAtExit);

// Polls `pred` until it is true or `timeout` passes. True if it became true.
inline bool wait_until(const std::function<bool()>& pred, milliseconds timeout = 15000ms) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Asks `request` again while the answer is Errc::duplicate (the peer, or the
// session, may still be processing a withdrawal: an unsubscribe, an
// unannounce), for up to `timeout`. The last answer.
template <class Request>
auto retry_while_duplicate(const Request& request, milliseconds timeout = 5000ms) {
  auto answer = request();
  const auto deadline = Clock::now() + timeout;
  while (!answer && answer.error().code() == moq::Errc::duplicate && Clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    answer = request();
  }
  return answer;
}

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The relay of this test process (one per process: gtest_discover_tests runs
// every test in its own process). Fails the current test if it cannot start.
inline Relay* shared_relay() {
  static std::unique_ptr<Relay> relay;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] { relay = Relay::start(&error); });
  if (!relay) ADD_FAILURE() << "cannot start moq-relay-ietf: " << error;
  return relay.get();
}

// A config for a test server on 127.0.0.1 whose certificate `ca_file` signed.
inline moq::SessionConfig config_trusting(const std::string& ca_file) {
  moq::SessionConfig cfg;
  cfg.bind = "127.0.0.1:0";
  cfg.tls.root_cert_files = {ca_file};
  cfg.connect_timeout = 10000ms;
  cfg.request_timeout = 10000ms;
  return cfg;
}
inline moq::SessionConfig config_for(const Relay& relay) { return config_trusting(relay.ca_file()); }

inline moq::Result<moq::Session> connect_to(const Relay& relay, moq::SessionConfig cfg,
                                            moq::SessionHandlers handlers = {}) {
  return moq::Session::connect(relay.url(), std::move(cfg), std::move(handlers));
}
inline moq::Result<moq::Session> connect_to(const Relay& relay) {
  return connect_to(relay, config_for(relay));
}

// A bare config (loopback bind, 2 s connect timeout, no trust settings) for
// connects expected to fail fast.
inline moq::SessionConfig quick_config() {
  moq::SessionConfig cfg;
  cfg.bind = "127.0.0.1:0";
  cfg.connect_timeout = 2000ms;
  return cfg;
}

// A namespace unique to this test (the test name), so tests never collide.
inline moq::Namespace test_namespace(const std::string& suffix = "") {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "t";
  for (auto& c : name)
    if (c == '/') c = '_';
  if (!suffix.empty()) name += "/" + suffix;
  return moq::Namespace::parse("moqtest/" + name).value();
}

// Deterministic payload number `index` of `size` bytes: differs per index and
// per position, so reordering, truncation or corruption shows.
inline std::string pattern(uint64_t index, std::size_t size) {
  std::string s(size, '\0');
  uint64_t x = index * 0x9E3779B97F4A7C15ull + 0x1234567ull;
  for (std::size_t i = 0; i < size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&s[i], &x, std::min<std::size_t>(8, size - i));
  }
  return s;
}

inline bool matches_pattern(const moq::Bytes& b, uint64_t index, std::size_t size) {
  if (b.size() != size) return false;
  const std::string expected = pattern(index, size);
  return std::memcmp(b.data(), expected.data(), size) == 0;
}

// A thread-safe list of received objects with a condition to wait on.
class Collector {
 public:
  void add(const moq::Object& o) {
    std::lock_guard<std::mutex> lk(mu_);
    objects_.push_back(o);
    cv_.notify_all();
  }
  std::function<void(const moq::Object&)> callback() {
    return [this](const moq::Object& o) { add(o); };
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lk(mu_);
    return objects_.size();
  }
  std::vector<moq::Object> objects() const {
    std::lock_guard<std::mutex> lk(mu_);
    return objects_;
  }
  // Waits until `pred(objects)` holds.
  bool wait(const std::function<bool(const std::vector<moq::Object>&)>& pred,
            milliseconds timeout = 15000ms) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return pred(objects_); });
  }
  bool wait_count(std::size_t n, milliseconds timeout = 15000ms) {
    return wait([n](const std::vector<moq::Object>& v) { return v.size() >= n; }, timeout);
  }
  bool has_payload(const std::string& text) const {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& o : objects_)
      if (o.payload.view() == text) return true;
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<moq::Object> objects_;
};

// Records the terminal events an on_closed callback receives, from any thread.
class Ends {
 public:
  std::function<void(const moq::Status&)> callback() {
    return [this](const moq::Status& status) {
      std::lock_guard<std::mutex> lk(mu_);
      ends_.push_back(status);
      cv_.notify_all();
    };
  }
  std::size_t count() const {
    std::lock_guard<std::mutex> lk(mu_);
    return ends_.size();
  }
  // The first terminal event, once one came within `timeout`.
  std::optional<moq::Status> wait_first(milliseconds timeout = 15000ms) {
    std::unique_lock<std::mutex> lk(mu_);
    if (!cv_.wait_for(lk, timeout, [&] { return !ends_.empty(); })) return std::nullopt;
    return ends_.front();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<moq::Status> ends_;
};

// The relay may not forward the first group to a subscriber that has just
// attached (DESIGN §1), and never loses more than that one. So a warm-up
// writes one group (`write_one`) and waits a second for `arrived()`; then one
// more, waiting up to `timeout`. Returns how many groups it wrote, 0 if
// neither arrived: a regression that loses groups fails here instead of
// hiding behind more warm-up groups.
constexpr int kWarmUpGroups = 2;
inline int warm_up_by(const std::function<bool()>& write_one, const std::function<bool()>& arrived,
                      milliseconds timeout = 10000ms) {
  for (int i = 0; i < kWarmUpGroups; ++i) {
    if (!write_one()) return 0;
    if (wait_until(arrived, i + 1 < kWarmUpGroups ? 1000ms : timeout)) return i + 1;
  }
  return 0;
}

// Runs `one_try(attempt)` (1, 2, ...) up to `tries` times, until a try is
// conclusive (returns true) or the test has failed; fails the test, saying
// `never`, if no try was conclusive. For checks that need the relay not to
// hit its known limit (DESIGN §1: a subscriber attaching to a track it
// already forwards may miss the next group): a try that hit it returns false.
inline void try_until_conclusive(int tries, const std::function<bool(int)>& one_try,
                                 const std::string& never) {
  for (int attempt = 1; attempt <= tries; ++attempt) {
    if (one_try(attempt) || ::testing::Test::HasFailure()) return;
  }
  ADD_FAILURE() << "in " << tries << " tries " << never;
}

// warm_up_by with one-object "warmup" groups on `track`.
inline int warm_up(moq::TrackWriter& track, const std::function<bool()>& arrived,
                   milliseconds timeout = 10000ms) {
  return warm_up_by(
      [&] {
        auto group = track.begin_group();
        return group && group->write(moq::Bytes::copy("warmup")) && group->finish();
      },
      arrived, timeout);
}

// warm_up for a pull subscription, once an object could be taken (it is
// consumed; a later warm-up object may still be queued). Returns as warm_up.
inline int warm_up_pull(moq::TrackWriter& track, moq::Subscription& subscription) {
  bool got = false;
  return warm_up(track, [&] {
    if (!got) got = static_cast<bool>(subscription.try_next());
    return got;
  });
}

// True for the objects warm_up writes.
inline bool is_warmup(const moq::Object& o) { return o.payload.view() == "warmup"; }

// A publisher session with an announced namespace and one track.
struct Publisher {
  std::optional<moq::Session> session;
  std::optional<moq::Announcement> announcement;
  std::optional<moq::TrackWriter> track;
};

// Connects to `url` (a relay, or a link in front of one), announces `ns` and
// creates `track_name` (with `options`, e.g. history for FETCH). Fails the
// test on error.
inline void make_publisher_at(const std::string& url, moq::SessionConfig cfg,
                              const moq::Namespace& ns, const std::string& track_name,
                              Publisher* out, const moq::TrackOptions& options = {},
                              moq::SessionHandlers handlers = {}) {
  auto session = moq::Session::connect(url, std::move(cfg), std::move(handlers));
  ASSERT_MOQ_OK(session);
  out->session.emplace(std::move(session).value());
  auto announcement = out->session->announce(ns);
  ASSERT_MOQ_OK(announcement);
  out->announcement.emplace(std::move(announcement).value());
  auto track = out->announcement->create_track(track_name, options);
  ASSERT_MOQ_OK(track);
  out->track.emplace(std::move(track).value());
}
// make_publisher_at the relay itself.
inline void make_publisher(const Relay& relay, const moq::Namespace& ns,
                           const std::string& track_name, Publisher* out,
                           moq::SessionConfig cfg, const moq::TrackOptions& options) {
  make_publisher_at(relay.url(), std::move(cfg), ns, track_name, out, options);
}
inline void make_publisher(const Relay& relay, const moq::Namespace& ns,
                           const std::string& track_name, Publisher* out,
                           moq::SessionConfig cfg) {
  make_publisher(relay, ns, track_name, out, std::move(cfg), moq::TrackOptions{});
}
inline void make_publisher(const Relay& relay, const moq::Namespace& ns,
                           const std::string& track_name, Publisher* out,
                           const moq::TrackOptions& options) {
  make_publisher(relay, ns, track_name, out, config_for(relay), options);
}
inline void make_publisher(const Relay& relay, const moq::Namespace& ns,
                           const std::string& track_name, Publisher* out) {
  make_publisher(relay, ns, track_name, out, config_for(relay), moq::TrackOptions{});
}

// A subscriber session with a push subscription collecting into `got`.
struct Subscriber {
  Collector got;  // first: destroyed after the subscription that fills it
  std::optional<moq::Session> session;
  std::optional<moq::Subscription> subscription;
};

// `on_closed`: the subscription's terminal event (optional).
inline void subscribe_push(const Relay& relay, const moq::Namespace& ns, const std::string& track,
                           Subscriber* out,
                           std::function<void(const moq::Status&)> on_closed = nullptr) {
  auto session = connect_to(relay);
  ASSERT_MOQ_OK(session);
  out->session.emplace(std::move(session).value());
  auto sub = out->session->subscribe(ns, track, {out->got.callback(), std::move(on_closed)});
  ASSERT_MOQ_OK(sub);
  out->subscription.emplace(std::move(sub).value());
}

// A publisher and a push subscriber of its track. Members are destroyed in
// reverse order: the subscriber (subscription, then session) goes first.
struct PubSub {
  Publisher pub;
  Subscriber sub;
};

// make_publisher (with `pub_cfg`), subscribe_push on a fresh session, then
// warm_up until the subscriber received something. Fails the test on error.
inline void make_pubsub(const Relay& relay, const moq::Namespace& ns, const std::string& track,
                        PubSub* out, moq::SessionConfig pub_cfg) {
  make_publisher(relay, ns, track, &out->pub, std::move(pub_cfg));
  if (::testing::Test::HasFatalFailure()) return;
  subscribe_push(relay, ns, track, &out->sub);
  if (::testing::Test::HasFatalFailure()) return;
  ASSERT_TRUE(warm_up(*out->pub.track, [out] { return out->sub.got.size() > 0; }))
      << "no warm-up group arrived";
}
inline void make_pubsub(const Relay& relay, const moq::Namespace& ns, const std::string& track,
                        PubSub* out) {
  make_pubsub(relay, ns, track, out, config_for(relay));
}

// Checks that `session` can still subscribe to `track` and receive from
// `writer` (a subscription that lives until this returns).
inline void expect_still_receives(moq::Session& session, const moq::Namespace& ns,
                                  const std::string& track, moq::TrackWriter& writer) {
  Collector got;
  auto sub = session.subscribe(ns, track, got.callback());
  ASSERT_MOQ_OK(sub);
  EXPECT_TRUE(warm_up(writer, [&] { return got.size() > 0; }));
}

// Writes one group with the given payloads and finishes it; returns its id.
inline std::optional<uint64_t> write_group(moq::TrackWriter& track,
                                           const std::vector<std::string>& payloads) {
  auto group = track.begin_group();
  if (!group) {
    ADD_FAILURE() << "begin_group: " << describe(group.error());
    return std::nullopt;
  }
  for (const auto& p : payloads) {
    auto st = group->write(moq::Bytes::copy(p));
    if (!st) {
      ADD_FAILURE() << "write: " << describe(st.error());
      return std::nullopt;
    }
  }
  auto st = group->finish();
  if (!st) {
    ADD_FAILURE() << "finish: " << describe(st.error());
    return std::nullopt;
  }
  return group->group_id();
}

// Captures moq's log messages for the lifetime of the object.
class LogCapture {
 public:
  LogCapture() : state_(std::make_shared<State>()) {
    std::shared_ptr<State> state = state_;  // a late call after ~LogCapture stays safe
    moq::set_log_handler([state](moq::LogLevel level, std::string_view msg) {
      std::lock_guard<std::mutex> lk(state->mu);
      state->entries.emplace_back(level, std::string(msg));
    });
  }
  ~LogCapture() { moq::set_log_handler(nullptr); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  bool contains(moq::LogLevel level, const std::string& needle) const {
    std::lock_guard<std::mutex> lk(state_->mu);
    for (const auto& e : state_->entries)
      if (e.first == level && e.second.find(needle) != std::string::npos) return true;
    return false;
  }
  std::string dump() const {
    std::lock_guard<std::mutex> lk(state_->mu);
    std::string out;
    for (const auto& e : state_->entries)
      out += "  [" + std::to_string(static_cast<int>(e.first)) + "] " + e.second + "\n";
    return out;
  }

 private:
  struct State {
    std::mutex mu;
    std::vector<std::pair<moq::LogLevel, std::string>> entries;
  };
  std::shared_ptr<State> state_;
};

}  // namespace moq_test
