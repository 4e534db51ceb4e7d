// co_await on a Pending (moq/coro.hpp, C++20): a coroutine connects and
// subscribes against the real relay without a thread of its own blocking,
// and an error comes back as the Result it awaited.
#include <moq/coro.hpp>

#include <coroutine>
#include <exception>
#include <future>

#include "test_util.hpp"

namespace moq_test {
namespace {

// The least a coroutine needs: starts at once, runs to its end on whatever
// thread resumes it, returns nothing (results go through captures).
struct Task {
  struct promise_type {
    Task get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

struct Outcome {
  std::vector<std::string> steps;  // what the coroutine did, in order
  std::optional<moq::Session> session;
  std::optional<moq::Subscription> subscription;
  std::optional<moq::Error> error;
};

Task subscribe_client(std::string url, moq::SessionConfig config, moq::Namespace ns,
                      Collector* got, Outcome* out, std::promise<void>* done) {
  auto session = co_await moq::Session::connect_async(url, std::move(config));
  if (!session) {
    out->error = session.error();
    done->set_value();
    co_return;
  }
  out->steps.push_back("connected");
  out->session.emplace(std::move(session).value());
  auto missing = co_await out->session->subscribe_async(ns, "missing", got->callback());
  out->steps.push_back(missing ? "missing: subscribed?" : std::string("missing: ") +
                                                              moq::to_string(missing.error().code()));
  auto sub = co_await out->session->subscribe_async(ns, "t", got->callback());
  if (!sub) {
    out->error = sub.error();
  } else {
    out->steps.push_back("subscribed");
    out->subscription.emplace(std::move(sub).value());
  }
  done->set_value();
}

TEST(Coroutine, ConnectsAndSubscribesWithCoAwait) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));

  Collector got;
  Outcome out;
  std::promise<void> done;
  auto finished = done.get_future();
  subscribe_client(relay->url(), config_for(*relay), ns, &got, &out, &done);
  ASSERT_EQ(finished.wait_for(20s), std::future_status::ready) << "the coroutine never finished";
  ASSERT_FALSE(out.error) << describe(*out.error);
  EXPECT_EQ(out.steps,
            (std::vector<std::string>{"connected", "missing: not_found", "subscribed"}));
  EXPECT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));
  out.subscription.reset();
  out.session.reset();
}

Task await_twice(moq::Pending<moq::Session>* pending, std::vector<moq::Errc>* codes,
                 std::promise<void>* done) {
  auto first = co_await *pending;
  codes->push_back(first ? moq::Errc{} : first.error().code());
  auto second = co_await *pending;  // the answer was taken: an error at once, no suspension
  codes->push_back(second ? moq::Errc{} : second.error().code());
  done->set_value();
}

TEST(Coroutine, AnErrorIsTheAwaitedResult) {
  auto pending = moq::Session::connect_async("not a url", quick_config());
  std::vector<moq::Errc> codes;
  std::promise<void> done;
  auto finished = done.get_future();
  await_twice(&pending, &codes, &done);
  ASSERT_EQ(finished.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(codes, (std::vector<moq::Errc>{moq::Errc::invalid_url, moq::Errc::invalid_argument}));
}

}  // namespace
}  // namespace moq_test
