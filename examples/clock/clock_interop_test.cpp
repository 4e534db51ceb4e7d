// Interop of examples/clock with the real moq-clock-ietf 0.6.25, both ways,
// through a real moq-relay-ietf 0.8.0 on 127.0.0.1.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sstream>
#include <string>
#include <vector>

#include "support/relay.hpp"

using namespace std::chrono_literals;

namespace {

std::unique_ptr<moq_test::ChildProcess> start_cpp_clock(const moq_test::Relay& relay,
                                                        std::vector<std::string> args,
                                                        std::string* error) {
  std::vector<std::string> argv = {MOQ_CLOCK_EXAMPLE, "--bind", "127.0.0.1:0", "--root", relay.ca_file()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(relay.url());
  return moq_test::ChildProcess::spawn(argv, error);
}

// Lines of `process`'s stdout that are clock times.
std::vector<std::string> clock_lines(const moq_test::ChildProcess& process) {
  std::vector<std::string> out;
  for (const auto& line : process.stdout_lines())
    if (moq_test::is_clock_line(line)) out.push_back(line);
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::ostringstream out;
  for (const auto& line : lines) out << "  " << line << "\n";
  return out.str();
}

// Each interop scenario runs this many times in one test (each time with a
// fresh relay and fresh processes): a defect that shows in one run of three
// fails the test. MOQ_INTEROP_RUNS overrides (the sanitizer build uses 1).
int interop_runs() {
  const char* v = std::getenv("MOQ_INTEROP_RUNS");
  int runs = v != nullptr ? std::atoi(v) : 0;
  return runs > 0 ? std::min(runs, 10) : 3;
}

// A strict run covers at least this many printed seconds (8 s between the
// first and the last).
constexpr std::size_t kStrictLines = 9;

// Seconds since the epoch of a "YYYY-MM-DD HH:MM:SS" line (UTC); -1 if malformed.
long long epoch_second(const std::string& line) {
  std::tm tm{};
  if (std::sscanf(line.c_str(), "%4d-%2d-%2d %2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<long long>(timegm(&tm));
}

// Every line one second after the one before: no second twice, none missing,
// none out of order; and at least `min_lines` of them.
::testing::AssertionResult consecutive_seconds(const std::vector<std::string>& lines,
                                               std::size_t min_lines) {
  if (lines.size() < min_lines) {
    return ::testing::AssertionFailure() << lines.size() << " times printed, fewer than "
                                         << min_lines << ":\n" << joined(lines);
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const long long before = epoch_second(lines[i - 1]);
    const long long now = epoch_second(lines[i]);
    if (before < 0 || now != before + 1) {
      return ::testing::AssertionFailure()
             << "line " << i + 1 << " (" << lines[i] << ") does not follow line " << i << " ("
             << lines[i - 1] << ") by exactly one second:\n" << joined(lines);
    }
  }
  return ::testing::AssertionSuccess();
}

// `part` is a contiguous run of `whole`: what the subscriber printed is exactly
// what the publisher printed over that time.
::testing::AssertionResult contiguous_part_of(const std::vector<std::string>& part,
                                              const std::vector<std::string>& whole) {
  if (part.empty()) return ::testing::AssertionFailure() << "nothing printed";
  auto first = std::find(whole.begin(), whole.end(), part.front());
  if (first == whole.end() || static_cast<std::size_t>(whole.end() - first) < part.size() ||
      !std::equal(part.begin(), part.end(), first)) {
    return ::testing::AssertionFailure() << "the subscriber's times are not a contiguous part of "
                                            "the publisher's.\nsubscriber:\n"
                                         << joined(part) << "publisher:\n" << joined(whole);
  }
  return ::testing::AssertionSuccess();
}

// Stops an example process with SIGTERM, as a user's Ctrl-C would, and checks
// that it exits cleanly: status 0 and no sanitizer report (in the ASan build).
void expect_clean_exit(moq_test::ChildProcess& process, const char* what) {
  const int status = process.stop(std::chrono::milliseconds(10000));
  const std::string err = process.stderr_text();
  EXPECT_EQ(status, 0) << what << " did not exit cleanly on SIGTERM; stderr:\n" << err;
  // "moq-clock: shutdown: ..." is moq::shutdown failing: the CLOSE may not
  // have left before the process exited.
  for (const char* report : {"AddressSanitizer", "LeakSanitizer", "runtime error:", "shutdown:"}) {
    EXPECT_EQ(err.find(report), std::string::npos) << what << " reported " << report << ":\n" << err;
  }
}

enum class Side { cpp, rust };

std::unique_ptr<moq_test::ChildProcess> start_side(Side side, const moq_test::Relay& relay,
                                                   std::vector<std::string> args,
                                                   std::string* error) {
  return side == Side::cpp ? start_cpp_clock(relay, std::move(args), error)
                           : moq_test::start_clock(relay, std::move(args), error);
}

const char* name_of(Side side) { return side == Side::cpp ? "moq-clock (C++)" : "moq-clock-ietf"; }

// One publisher and one subscriber through a fresh relay, `interop_runs()`
// times: the subscriber prints at least kStrictLines times, each second once
// and in order, exactly the run of times the publisher printed; the
// publisher's own output is checked the same way.
void expect_strict_clock(Side publisher_side, Side subscriber_side, bool datagrams) {
  for (int run = 1; run <= interop_runs(); ++run) {
    SCOPED_TRACE("run " + std::to_string(run) + " of " + std::to_string(interop_runs()));
    std::string error;
    auto relay = moq_test::Relay::start(&error);
    ASSERT_TRUE(relay) << error;
    std::vector<std::string> publish_args = {"--publish"};
    if (datagrams) publish_args.push_back("--datagrams");
    auto publisher = start_side(publisher_side, *relay, publish_args, &error);
    ASSERT_TRUE(publisher) << error;
    ASSERT_TRUE(relay->process().wait_for_stderr_line("registering namespace", 15s))
        << name_of(publisher_side) << " never announced:\n" << publisher->stderr_text();

    auto subscriber = start_side(subscriber_side, *relay, {}, &error);
    ASSERT_TRUE(subscriber) << error;
    const bool enough =
        subscriber->wait_for_stdout_lines(moq_test::is_clock_line, kStrictLines, 25s);
    // Stop the subscriber first: it must not see the publisher go away.
    if (subscriber_side == Side::cpp) {
      expect_clean_exit(*subscriber, "the C++ subscriber");
    } else {
      subscriber->stop();
    }
    if (publisher_side == Side::cpp) {
      expect_clean_exit(*publisher, "the C++ publisher");
    } else {
      publisher->stop();
    }
    const auto received = clock_lines(*subscriber);
    const auto published = clock_lines(*publisher);
    EXPECT_TRUE(enough) << name_of(subscriber_side) << " printed fewer than " << kStrictLines
                        << " times in 25 s.\nstdout:\n" << subscriber->stdout_text()
                        << "\nstderr:\n" << subscriber->stderr_text() << "\npublisher stderr:\n"
                        << publisher->stderr_text();
    EXPECT_TRUE(consecutive_seconds(received, kStrictLines)) << "subscriber " << name_of(subscriber_side);
    EXPECT_TRUE(consecutive_seconds(published, kStrictLines)) << "publisher " << name_of(publisher_side);
    EXPECT_TRUE(contiguous_part_of(received, published));
    if (::testing::Test::HasFailure()) return;  // one failed run says enough
  }
}

TEST(ClockInterop, RustClockSubscriberPrintsEachSecondOnceFromCppPublisher) {
  expect_strict_clock(Side::cpp, Side::rust, /*datagrams=*/false);
}

TEST(ClockInterop, CppSubscriberPrintsEachSecondOnceFromRustClockPublisher) {
  expect_strict_clock(Side::rust, Side::cpp, /*datagrams=*/false);
}

TEST(ClockInterop, RustClockSubscriberPrintsEachDatagramSecondOnceFromCppPublisher) {
  expect_strict_clock(Side::cpp, Side::rust, /*datagrams=*/true);
}

TEST(ClockInterop, CppSubscriberPrintsEachDatagramSecondOnceFromRustClockPublisher) {
  expect_strict_clock(Side::rust, Side::cpp, /*datagrams=*/true);
}

TEST(ClockInterop, CppSubscriberExitsAfterCount) {
  // --count: the subscriber exits by itself, status 0, after exactly N lines.
  std::string error;
  auto relay = moq_test::Relay::start(&error);
  ASSERT_TRUE(relay) << error;
  auto publisher = moq_test::start_clock(*relay, {"--publish"}, &error);
  ASSERT_TRUE(publisher) << error;
  ASSERT_TRUE(relay->process().wait_for_stderr_line("registering namespace", 15s));
  auto subscriber = start_cpp_clock(*relay, {"--count", "3"}, &error);
  ASSERT_TRUE(subscriber) << error;
  ASSERT_TRUE(subscriber->wait_exit(20s)) << "--count 3 should exit after three lines:\n"
                                          << subscriber->stderr_text();
  EXPECT_EQ(subscriber->exit_status(), 0) << subscriber->stderr_text();
  const auto lines = clock_lines(*subscriber);
  EXPECT_EQ(lines.size(), 3u) << joined(lines);
  EXPECT_TRUE(consecutive_seconds(lines, 3));
}

// A joined subscriber started after the publisher had printed `before`
// times must print the publisher's times from its very first one (history:
// the current minute from its first second, plus the previous minute), in
// order, without a gap or a repeat, then continue live: past every time
// published when its first line appeared (the history cannot reach further),
// for at least kStrictLines times.
void expect_history_then_live(moq_test::ChildProcess& publisher, moq_test::ChildProcess& joiner,
                              std::size_t before) {
  ASSERT_TRUE(joiner.wait_for_stdout_lines(moq_test::is_clock_line, 1, 30s))
      << "the joined subscriber printed nothing.\nstderr:\n" << joiner.stderr_text()
      << "\npublisher stderr:\n" << publisher.stderr_text();
  const std::size_t published_then = clock_lines(publisher).size();
  const std::size_t want = std::max({before + 3, published_then + 2, kStrictLines});
  bool got = joiner.wait_for_stdout_lines(moq_test::is_clock_line, want, 30s);
  ASSERT_TRUE(got) << "the joined subscriber printed fewer than " << want << " times.\nstdout:\n"
                   << joiner.stdout_text() << "\nstderr:\n" << joiner.stderr_text()
                   << "\npublisher stderr:\n" << publisher.stderr_text();
  std::vector<std::string> lines = clock_lines(joiner);
  ASSERT_TRUE(publisher.wait_for_stdout_lines(moq_test::is_clock_line, lines.size(), 10s));
  std::vector<std::string> published = clock_lines(publisher);
  ASSERT_GE(published.size(), lines.size());
  std::vector<std::string> expected(published.begin(), published.begin() + lines.size());
  EXPECT_EQ(lines, expected) << "the joined subscriber's times differ from the published ones.\n"
                             << "joined:\n" << joined(lines) << "published:\n" << joined(published)
                             << "joiner stderr:\n" << joiner.stderr_text();
  EXPECT_TRUE(consecutive_seconds(lines, want)) << "joined subscriber";
  EXPECT_TRUE(consecutive_seconds(published, want)) << "publisher";
}

TEST(ClockInterop, CppJoinedSubscriberPrintsHistoryThenLiveFromRustClockPublisher) {
  for (int run = 1; run <= interop_runs() && !HasFailure(); ++run) {
    SCOPED_TRACE("run " + std::to_string(run) + " of " + std::to_string(interop_runs()));
    std::string error;
    auto relay = moq_test::Relay::start(&error);
    ASSERT_TRUE(relay) << error;
    auto publisher = moq_test::start_clock(*relay, {"--publish"}, &error);
    ASSERT_TRUE(publisher) << error;
    ASSERT_TRUE(publisher->wait_for_stdout_lines(moq_test::is_clock_line, 3, 15s))
        << "moq-clock-ietf published nothing:\n" << publisher->stderr_text();
    // A SUBSCRIBE the relay accepts before it forwards the track cannot be
    // joined: a first subscriber makes the relay forward it.
    auto warm = start_cpp_clock(*relay, {}, &error);
    ASSERT_TRUE(warm) << error;
    ASSERT_TRUE(warm->wait_for_stdout_lines(moq_test::is_clock_line, 1, 15s)) << warm->stderr_text();

    const std::size_t before = clock_lines(*publisher).size();
    auto joiner = start_cpp_clock(*relay, {"--join-groups", "1"}, &error);
    ASSERT_TRUE(joiner) << error;
    expect_history_then_live(*publisher, *joiner, before);
    EXPECT_TRUE(joiner->stderr_text().find("history complete") != std::string::npos)
        << joiner->stderr_text();
    expect_clean_exit(*joiner, "the C++ joined subscriber");
    expect_clean_exit(*warm, "the C++ subscriber");
  }
}

TEST(ClockInterop, RustJoinedSubscriberPrintsHistoryThenLiveFromCppPublisher) {
  for (int run = 1; run <= interop_runs() && !HasFailure(); ++run) {
    SCOPED_TRACE("run " + std::to_string(run) + " of " + std::to_string(interop_runs()));
    std::string error;
    auto relay = moq_test::Relay::start(&error);
    ASSERT_TRUE(relay) << error;
    auto publisher = start_cpp_clock(*relay, {"--publish"}, &error);
    ASSERT_TRUE(publisher) << error;
    ASSERT_TRUE(publisher->wait_for_stdout_lines(moq_test::is_clock_line, 3, 15s))
        << "the C++ publisher published nothing:\n" << publisher->stderr_text();

    // moq-clock-ietf --join-groups primes a cold relay itself.
    const std::size_t before = clock_lines(*publisher).size();
    auto joiner = moq_test::start_clock(*relay, {"--join-groups", "1"}, &error);
    ASSERT_TRUE(joiner) << error;
    expect_history_then_live(*publisher, *joiner, before);
    joiner->stop();
    expect_clean_exit(*publisher, "the C++ publisher");
  }
}

}  // namespace
