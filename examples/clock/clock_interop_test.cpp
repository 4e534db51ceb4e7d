// Interop of examples/clock with the real moq-clock-ietf 0.6.25, both ways,
// through a real moq-relay-ietf 0.8.0 on 127.0.0.1.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
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

class ClockInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    relay_ = moq_test::Relay::start(&error);
    ASSERT_TRUE(relay_) << error;
  }
  std::unique_ptr<moq_test::Relay> relay_;
};

TEST_F(ClockInterop, RustClockSubscriberPrintsTimesFromCppPublisher) {
  std::string error;
  auto publisher = start_cpp_clock(*relay_, {"--publish"}, &error);
  ASSERT_TRUE(publisher) << error;
  ASSERT_TRUE(relay_->process().wait_for_stderr_line("registering namespace", 15s))
      << "the C++ publisher never announced:\n" << publisher->stderr_text();

  auto subscriber = moq_test::start_clock(*relay_, {}, &error);
  ASSERT_TRUE(subscriber) << error;
  bool got = subscriber->wait_for_stdout_lines(moq_test::is_clock_line, 2, 15s);
  EXPECT_TRUE(got) << "moq-clock-ietf printed no times.\nstdout:\n"
                   << subscriber->stdout_text() << "\nstderr:\n" << subscriber->stderr_text()
                   << "\npublisher stderr:\n" << publisher->stderr_text();
}

TEST_F(ClockInterop, CppSubscriberPrintsTimesFromRustClockPublisher) {
  std::string error;
  auto publisher = moq_test::start_clock(*relay_, {"--publish"}, &error);
  ASSERT_TRUE(publisher) << error;
  ASSERT_TRUE(relay_->process().wait_for_stderr_line("registering namespace", 15s))
      << "moq-clock-ietf never announced:\n" << publisher->stderr_text();

  auto subscriber = start_cpp_clock(*relay_, {"--count", "2"}, &error);
  ASSERT_TRUE(subscriber) << error;
  bool got = subscriber->wait_for_stdout_lines(moq_test::is_clock_line, 2, 15s);
  EXPECT_TRUE(got) << "the C++ subscriber printed no times.\nstdout:\n"
                   << subscriber->stdout_text() << "\nstderr:\n" << subscriber->stderr_text();
  EXPECT_TRUE(subscriber->wait_exit(10s)) << "--count 2 should exit after two lines";
  EXPECT_EQ(subscriber->exit_status(), 0) << subscriber->stderr_text();
}

TEST_F(ClockInterop, RustClockSubscriberPrintsDatagramTimesFromCppPublisher) {
  std::string error;
  auto publisher = start_cpp_clock(*relay_, {"--publish", "--datagrams"}, &error);
  ASSERT_TRUE(publisher) << error;
  ASSERT_TRUE(relay_->process().wait_for_stderr_line("registering namespace", 15s))
      << "the C++ publisher never announced:\n" << publisher->stderr_text();

  auto subscriber = moq_test::start_clock(*relay_, {}, &error);
  ASSERT_TRUE(subscriber) << error;
  bool got = subscriber->wait_for_stdout_lines(moq_test::is_clock_line, 2, 15s);
  EXPECT_TRUE(got) << "moq-clock-ietf printed no datagram times.\nstdout:\n"
                   << subscriber->stdout_text() << "\nstderr:\n" << subscriber->stderr_text()
                   << "\npublisher stderr:\n" << publisher->stderr_text();
}

TEST_F(ClockInterop, CppSubscriberPrintsDatagramTimesFromRustClockPublisher) {
  std::string error;
  auto publisher = moq_test::start_clock(*relay_, {"--publish", "--datagrams"}, &error);
  ASSERT_TRUE(publisher) << error;
  ASSERT_TRUE(relay_->process().wait_for_stderr_line("registering namespace", 15s))
      << "moq-clock-ietf never announced:\n" << publisher->stderr_text();

  auto subscriber = start_cpp_clock(*relay_, {"--count", "2"}, &error);
  ASSERT_TRUE(subscriber) << error;
  bool got = subscriber->wait_for_stdout_lines(moq_test::is_clock_line, 2, 15s);
  EXPECT_TRUE(got) << "the C++ subscriber printed no datagram times.\nstdout:\n"
                   << subscriber->stdout_text() << "\nstderr:\n" << subscriber->stderr_text();
  EXPECT_TRUE(subscriber->wait_exit(10s));
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

// A joined subscriber started after the publisher had printed `before`
// times must print the publisher's times from its very first one (history:
// the current minute from its first second, plus the previous minute), in
// order, without a gap or a repeat, then continue live: past every time
// published when its first line appeared (the history cannot reach further).
void expect_history_then_live(moq_test::ChildProcess& publisher, moq_test::ChildProcess& joiner,
                              std::size_t before) {
  ASSERT_TRUE(joiner.wait_for_stdout_lines(moq_test::is_clock_line, 1, 30s))
      << "the joined subscriber printed nothing.\nstderr:\n" << joiner.stderr_text()
      << "\npublisher stderr:\n" << publisher.stderr_text();
  const std::size_t published_then = clock_lines(publisher).size();
  const std::size_t want = std::max(before + 3, published_then + 2);
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
}

TEST_F(ClockInterop, CppJoinedSubscriberPrintsHistoryThenLiveFromRustClockPublisher) {
  std::string error;
  auto publisher = moq_test::start_clock(*relay_, {"--publish"}, &error);
  ASSERT_TRUE(publisher) << error;
  ASSERT_TRUE(publisher->wait_for_stdout_lines(moq_test::is_clock_line, 3, 15s))
      << "moq-clock-ietf published nothing:\n" << publisher->stderr_text();
  // A SUBSCRIBE the relay accepts before it forwards the track cannot be
  // joined: a first subscriber makes the relay forward it.
  auto warm = start_cpp_clock(*relay_, {}, &error);
  ASSERT_TRUE(warm) << error;
  ASSERT_TRUE(warm->wait_for_stdout_lines(moq_test::is_clock_line, 1, 15s)) << warm->stderr_text();

  const std::size_t before = clock_lines(*publisher).size();
  auto joiner = start_cpp_clock(*relay_, {"--join-groups", "1"}, &error);
  ASSERT_TRUE(joiner) << error;
  expect_history_then_live(*publisher, *joiner, before);
  EXPECT_TRUE(joiner->stderr_text().find("history complete") != std::string::npos)
      << joiner->stderr_text();
}

TEST_F(ClockInterop, RustJoinedSubscriberPrintsHistoryThenLiveFromCppPublisher) {
  std::string error;
  auto publisher = start_cpp_clock(*relay_, {"--publish"}, &error);
  ASSERT_TRUE(publisher) << error;
  ASSERT_TRUE(publisher->wait_for_stdout_lines(moq_test::is_clock_line, 3, 15s))
      << "the C++ publisher published nothing:\n" << publisher->stderr_text();

  // moq-clock-ietf --join-groups primes a cold relay itself.
  const std::size_t before = clock_lines(*publisher).size();
  auto joiner = moq_test::start_clock(*relay_, {"--join-groups", "1"}, &error);
  ASSERT_TRUE(joiner) << error;
  expect_history_then_live(*publisher, *joiner, before);
}

}  // namespace
