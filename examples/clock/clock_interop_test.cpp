// Interop of examples/clock with the real moq-clock-ietf 0.6.25, both ways,
// through a real moq-relay-ietf 0.8.0 on 127.0.0.1.
#include <gtest/gtest.h>

#include <chrono>
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

}  // namespace
