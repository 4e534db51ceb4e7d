// The non-blocking requests (moq/pending.hpp): connect_async, announce_async
// and subscribe_async against the real relay: their answers by wait, try_get
// and then(), errors, cancellation by destruction, and use from inside moq
// callbacks, where the blocking forms refuse with would_block.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <future>
#include <map>
#include <iterator>
#include <thread>

#include "test_util.hpp"

namespace moq_test {
namespace {

// Sets a flag when destroyed: shows when the library destroys a callback.
struct DestroyFlag {
  explicit DestroyFlag(std::shared_ptr<std::atomic<bool>> flag) : flag(std::move(flag)) {}
  DestroyFlag(DestroyFlag&& other) noexcept : flag(std::move(other.flag)) {}
  DestroyFlag(const DestroyFlag& other) = default;
  ~DestroyFlag() {
    if (flag && flag.use_count() == 2) flag->store(true);  // the last copy besides the test's
  }
  std::shared_ptr<std::atomic<bool>> flag;
};

// A one-shot slot for an answer delivered on a library thread.
template <class T>
struct Answer {
  std::promise<moq::Result<T>> promise;
  std::future<moq::Result<T>> future = promise.get_future();
  std::atomic<bool> on_caller_thread{false};
  std::thread::id caller = std::this_thread::get_id();

  std::function<void(moq::Result<T>)> callback() {
    return [this](moq::Result<T> answer) {
      on_caller_thread = std::this_thread::get_id() == caller;
      promise.set_value(std::move(answer));
    };
  }
  // The answer, or a failed test after `timeout`.
  std::optional<moq::Result<T>> get(milliseconds timeout = 15000ms) {
    if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    return future.get();
  }
};

// A UDP port on 127.0.0.1 that takes packets and never answers (no ICMP
// either): a connect there ends only by its timeout.
class SilentPeer {
 public:
  SilentPeer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot bind a UDP socket on 127.0.0.1";
      return;
    }
    url_ = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/moq";
  }
  ~SilentPeer() {
    if (fd_ >= 0) ::close(fd_);
  }
  SilentPeer(const SilentPeer&) = delete;
  SilentPeer& operator=(const SilentPeer&) = delete;
  const std::string& url() const { return url_; }

 private:
  int fd_ = -1;
  std::string url_;
};

TEST(ConnectAsync, WaitGivesAConnectedSession) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  moq::Pending<moq::Session> pending = moq::Session::connect_async(relay->url(), config_for(*relay));
  auto session = pending.wait(15000ms);
  ASSERT_MOQ_OK(session);
  EXPECT_EQ(session->state(), moq::SessionState::connected);
  EXPECT_FALSE(pending.ready()) << "the answer is given once";
  EXPECT_MOQ_ERROR(pending.wait(0ms), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(pending.then([](moq::Result<moq::Session>) {}), moq::Errc::invalid_argument);
}

TEST(ConnectAsync, ThenGetsTheSessionOnALibraryThread) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  Answer<moq::Session> answer;
  auto pending = moq::Session::connect_async(relay->url(), config_for(*relay));
  ASSERT_MOQ_OK(pending.then(answer.callback()));
  // A second completion; and the answer goes to the first, so it cannot be waited for.
  EXPECT_MOQ_ERROR(pending.then([](moq::Result<moq::Session>) {}), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(pending.wait(0ms), moq::Errc::invalid_argument);
  auto session = answer.get();
  ASSERT_TRUE(session.has_value()) << "no answer within 15 s";
  ASSERT_MOQ_OK(*session);
  EXPECT_FALSE(answer.on_caller_thread) << "the completion ran on the thread that set it";
  EXPECT_EQ((*session)->state(), moq::SessionState::connected);
}

TEST(ConnectAsync, AnAnswerThatCameFirstStillReachesALaterCompletion) {
  // Bad input answers at once: then() set afterwards still gets it, on a
  // library thread, never inside the call.
  Answer<moq::Session> answer;
  auto pending = moq::Session::connect_async("not a url", quick_config());
  ASSERT_TRUE(wait_until([&] { return pending.ready(); }, 5000ms));
  ASSERT_MOQ_OK(pending.then(answer.callback()));
  auto session = answer.get();
  ASSERT_TRUE(session.has_value());
  EXPECT_MOQ_ERROR(*session, moq::Errc::invalid_url);
  EXPECT_FALSE(answer.on_caller_thread);
}

TEST(ConnectAsync, ErrorsAreTheBlockingForms) {
  moq::SessionConfig no_timeout = quick_config();
  no_timeout.connect_timeout = 0ms;
  EXPECT_MOQ_ERROR(moq::Session::connect_async("https://127.0.0.1:1/moq", no_timeout).wait(5000ms),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(moq::Session::connect_async("ftp://x/y", quick_config()).wait(5000ms),
                   moq::Errc::invalid_url);
  moq::Pending<moq::Session> pending = moq::Session::connect_async("https://127.0.0.1:1/moq", quick_config());
  EXPECT_MOQ_ERROR(pending.wait(-1ms), moq::Errc::invalid_argument);
}

TEST(ConnectAsync, TryGetAndShortWaitsLeaveTheRequestRunning) {
  moq::SessionConfig cfg = quick_config();
  cfg.connect_timeout = 1500ms;
  SilentPeer silent;
  const auto started = Clock::now();
  auto pending = moq::Session::connect_async(silent.url(), cfg);
  EXPECT_LT(seconds_since(started), 0.5) << "connect_async blocked";
  EXPECT_FALSE(pending.try_get().has_value()) << "answered before the peer could";
  EXPECT_FALSE(pending.ready());
  EXPECT_MOQ_ERROR(pending.wait(50ms), moq::Errc::timeout);
  // Still running: the answer is the connect timeout, about 1.5 s in.
  auto session = pending.wait(10000ms);
  EXPECT_MOQ_ERROR(session, moq::Errc::timeout);
  EXPECT_GE(seconds_since(started), 1.4);
  EXPECT_NE(session.error().message().find("connecting to"), std::string::npos)
      << describe(session.error());
}

TEST(ConnectAsync, DestroyingItCancelsAndItsCompletionNeverRuns) {
  moq::SessionConfig cfg = quick_config();
  cfg.connect_timeout = 500ms;
  auto destroyed = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> ran{false};
  SilentPeer silent;
  {
    auto pending = moq::Session::connect_async(silent.url(), cfg);
    ASSERT_MOQ_OK(pending.then([flag = DestroyFlag(destroyed), &ran](moq::Result<moq::Session>) {
      ran = true;
    }));
    EXPECT_FALSE(destroyed->load());
  }
  EXPECT_TRUE(destroyed->load()) << "the completion outlived its Pending's destructor";
  // Past the connect timeout: a request still running would answer now.
  std::this_thread::sleep_for(1000ms);
  EXPECT_FALSE(ran.load());
}

TEST(ConnectAsync, MovedFromIsInert) {
  auto pending = moq::Session::connect_async("not a url", quick_config());
  moq::Pending<moq::Session> moved = std::move(pending);
  EXPECT_MOQ_ERROR(pending.wait(0ms), moq::Errc::invalid_argument);  // NOLINT: use after move
  auto polled = pending.try_get();
  ASSERT_TRUE(polled.has_value());
  EXPECT_MOQ_ERROR(*polled, moq::Errc::invalid_argument);
  EXPECT_FALSE(pending.ready());
  EXPECT_MOQ_ERROR(pending.then([](moq::Result<moq::Session>) {}), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(moved.wait(5000ms), moq::Errc::invalid_url);
}

TEST(AnnounceAsync, AnnouncesAndRefusesADuplicate) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  auto first = connect_to(*relay);
  ASSERT_MOQ_OK(first);
  auto announcement = first->announce_async(ns).wait(15000ms);
  ASSERT_MOQ_OK(announcement);
  EXPECT_EQ(announcement->ns(), ns);
  ASSERT_MOQ_OK(announcement->create_track("t"));

  auto second = connect_to(*relay);
  ASSERT_MOQ_OK(second);
  Answer<moq::Announcement> answer;
  auto pending = second->announce_async(ns);
  ASSERT_MOQ_OK(pending.then(answer.callback()));
  auto refused = answer.get();
  ASSERT_TRUE(refused.has_value());
  EXPECT_MOQ_ERROR(*refused, moq::Errc::duplicate);

  moq::Session gone = std::move(*second);
  EXPECT_MOQ_ERROR(second->announce_async(ns).wait(5000ms), moq::Errc::invalid_argument);
}

TEST(Requests, TheEmptyNamespaceIsRefused) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  const moq::Namespace none;
  EXPECT_MOQ_ERROR(session->announce(none), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session->announce_async(none).wait(5000ms), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session->subscribe(none, "t", [](const moq::Object&) {}),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session->subscribe_async(none, "t").wait(5000ms), moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session->publish_track(none, "t"), moq::Errc::invalid_argument);
}

TEST(SubscribeAsync, PushAndPullSubscriptionsReceive) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);

  Collector got;
  Answer<moq::Subscription> answer;
  auto pending = session->subscribe_async(ns, "t", got.callback());
  ASSERT_MOQ_OK(pending.then(answer.callback()));
  auto push = answer.get();
  ASSERT_TRUE(push.has_value());
  ASSERT_MOQ_OK(*push);
  ASSERT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));
  ASSERT_TRUE(write_group(*pub.track, {"a", "b"}));
  EXPECT_TRUE(got.wait([](const std::vector<moq::Object>& all) {
    std::vector<moq::Object> objects;  // a late warm-up group may come in between
    std::copy_if(all.begin(), all.end(), std::back_inserter(objects),
                 [](const moq::Object& o) { return !is_warmup(o); });
    return objects.size() >= 2 && objects[objects.size() - 2].payload.view() == "a" &&
           objects.back().payload.view() == "b";
  }));

  auto pull_session = connect_to(*relay);
  ASSERT_MOQ_OK(pull_session);
  auto pull = pull_session->subscribe_async(ns, "t").wait(15000ms);
  ASSERT_MOQ_OK(pull);
  ASSERT_TRUE(warm_up_pull(*pub.track, *pull));
  // Pull mode: next() works (an object, or nothing more queued), where push
  // mode refuses it with invalid_argument.
  auto next = pull->next(0ms);
  EXPECT_TRUE(next || next.error().code() == moq::Errc::timeout) << describe(next);
}

TEST(SubscribeAsync, ErrorsAreTheBlockingForms) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto ns = test_namespace();
  EXPECT_MOQ_ERROR(session->subscribe_async(ns, "nobody", [](const moq::Object&) {}).wait(15000ms),
                   moq::Errc::not_found);
  EXPECT_MOQ_ERROR(session->subscribe_async(ns, "t", std::function<void(const moq::Object&)>()).wait(5000ms),
                   moq::Errc::invalid_argument);
  EXPECT_MOQ_ERROR(session->subscribe_async(ns, "").wait(5000ms), moq::Errc::invalid_argument);
  moq::SubscribeOptions negative;
  negative.delivery_timeout = -1ms;
  EXPECT_MOQ_ERROR(session->subscribe_async(ns, "t", negative).wait(5000ms),
                   moq::Errc::invalid_argument);
}

TEST(SubscribeAsync, DestroyingAnUnansweredRequestReleasesItsCallbacks) {
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  auto ns = test_namespace();
  moq::SubscribeOptions options;
  options.rendezvous_timeout = 10000ms;  // the relay holds the answer: nobody publishes
  auto object_callback_gone = std::make_shared<std::atomic<bool>>(false);
  auto completion_gone = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> ran{false};
  {
    auto pending = session->subscribe_async(
        ns, "t", [flag = DestroyFlag(object_callback_gone)](const moq::Object&) {}, options);
    ASSERT_MOQ_OK(pending.then(
        [flag = DestroyFlag(completion_gone), &ran](moq::Result<moq::Subscription>) { ran = true; }));
    std::this_thread::sleep_for(300ms);
    ASSERT_FALSE(pending.ready()) << "the relay answered a rendezvous subscription at once";
  }
  EXPECT_TRUE(object_callback_gone->load()) << "on_object outlived the cancelled request";
  EXPECT_TRUE(completion_gone->load()) << "the completion outlived the cancelled request";
  // A publisher appearing now finds no subscriber to answer.
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(ran.load());
}

TEST(SubscribeAsync, DestroyingAnAnswerNotTakenUnsubscribes) {
  // Repeated: the answer and the destructor race in a different order each time.
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));
  auto session = connect_to(*relay);
  ASSERT_MOQ_OK(session);
  for (int round = 0; round < 5; ++round) {
    auto gone = std::make_shared<std::atomic<bool>>(false);
    {
      auto pending =
          session->subscribe_async(ns, "t", [flag = DestroyFlag(gone)](const moq::Object&) {});
      ASSERT_TRUE(wait_until([&] { return pending.ready(); }, 15000ms)) << "round " << round;
    }
    EXPECT_TRUE(gone->load()) << "round " << round << ": on_object outlived the Pending";
  }
  // Every cancelled subscription was ended: the track can be subscribed
  // again on the same session (MoQT refuses a duplicate; the UNSUBSCRIBE of
  // the last one may take a moment to leave).
  Collector got;
  auto sub = retry_while_duplicate([&] { return session->subscribe(ns, "t", got.callback()); });
  ASSERT_TRUE(sub.has_value()) << "a cancelled subscription was never ended: " << describe(sub);
  EXPECT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));
}

TEST(SubscribeAsync, WorksFromInsideCallbacksWhereTheBlockingFormRefuses) {
  // A whole client driven from callbacks: connect_async's completion
  // subscribes, and that subscription's completion stores it. No thread of
  // the test's own waits on the network.
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  auto ns = test_namespace();
  Publisher pub;
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, ns, "t", &pub));

  struct Client {
    std::mutex mutex;
    std::optional<moq::Session> session;
    std::optional<moq::Pending<moq::Subscription>> pending;
    std::optional<moq::Subscription> subscription;
    std::optional<moq::Errc> blocking;
    std::optional<moq::Error> failed;
  };
  Collector got;  // outlives the client's subscription
  Client client;
  auto connecting = moq::Session::connect_async(relay->url(), config_for(*relay));
  ASSERT_MOQ_OK(connecting.then([&](moq::Result<moq::Session> session) {
    std::lock_guard<std::mutex> lock(client.mutex);
    if (!session) {
      client.failed = session.error();
      return;
    }
    client.session.emplace(std::move(session).value());
    auto blocking = client.session->subscribe(ns, "t", got.callback());
    client.blocking = blocking ? std::nullopt : std::optional<moq::Errc>(blocking.error().code());
    client.pending.emplace(client.session->subscribe_async(ns, "t", got.callback()));
    moq::Status set = client.pending->then([&](moq::Result<moq::Subscription> sub) {
      std::lock_guard<std::mutex> inner(client.mutex);
      if (sub) {
        client.subscription.emplace(std::move(sub).value());
      } else {
        client.failed = sub.error();
      }
      client.pending.reset();  // destroyed inside its own completion
    });
    if (!set) client.failed = set.error();
  }));
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(client.mutex);
    return client.subscription.has_value() || client.failed.has_value();
  }));
  {
    std::lock_guard<std::mutex> lock(client.mutex);
    ASSERT_FALSE(client.failed) << describe(*client.failed);
    ASSERT_TRUE(client.blocking.has_value()) << "the blocking subscribe succeeded in a callback";
    EXPECT_EQ(*client.blocking, moq::Errc::would_block);
  }
  EXPECT_TRUE(warm_up(*pub.track, [&] { return got.size() > 0; }));
  std::lock_guard<std::mutex> lock(client.mutex);
  client.subscription.reset();
  client.session.reset();
}

// An application driven only by callbacks: each request it starts keeps its
// Pending, and its answer (and handle) is recorded under a name.
struct CallbackApp {
  std::mutex mutex;
  std::map<std::string, std::string> outcomes;  // request -> "ok" or the error code
  std::vector<std::shared_ptr<void>> kept;      // Pendings and handles, until the test ends

  // Starts recording `pending`; `on_value` runs with the handle when it comes.
  template <class T>
  void record(const std::string& what, moq::Pending<T> pending,
              std::function<void(T&)> on_value = nullptr) {
    auto held = std::make_shared<moq::Pending<T>>(std::move(pending));
    moq::Status set = held->then([this, what, on_value = std::move(on_value)](moq::Result<T> r) {
      const std::string outcome = r ? "ok" : moq::to_string(r.error().code());
      std::shared_ptr<T> value;
      if (r) value = std::make_shared<T>(std::move(r).value());
      if (value && on_value) on_value(*value);
      std::lock_guard<std::mutex> lock(mutex);
      outcomes[what] = outcome;
      if (value) kept.push_back(std::move(value));
    });
    std::lock_guard<std::mutex> lock(mutex);
    if (!set) outcomes[what] = std::string("then: ") + moq::to_string(set.error().code());
    kept.push_back(std::move(held));
  }
  std::map<std::string, std::string> snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    return outcomes;
  }
  // Destroys every Pending and handle here, outside the lock (a handle's
  // destructor waits for its running callback, which may take the lock).
  void clear() {
    std::vector<std::shared_ptr<void>> gone;
    {
      std::lock_guard<std::mutex> lock(mutex);
      gone.swap(kept);
    }
    gone.clear();
  }
};

TEST(Requests, EveryNonBlockingFormWorksFromInsideCallbacks) {
  // From inside a watch's on_added the application starts every other
  // request; from inside connect_async's completion it offers a track, and
  // from inside subscribe_async's completion it asks for the joining fetch.
  // The test's own thread only looks at the outcome.
  Relay* relay = shared_relay();
  ASSERT_NE(relay, nullptr);
  const moq::Namespace prefix = test_namespace();
  const moq::Namespace room = test_namespace("room");
  const std::string base = prefix.to_string();
  Publisher pub;
  moq::TrackOptions history;
  history.history = moq::HistoryLimits{4, 1 << 20};
  ASSERT_NO_FATAL_FAILURE(make_publisher(*relay, room, "t", &pub, history));
  // A first subscriber makes the relay forward the track (so a later
  // SUBSCRIBE has a joining location) and sees group 0 arrive.
  Subscriber warm;
  ASSERT_NO_FATAL_FAILURE(subscribe_push(*relay, room, "t", &warm));
  ASSERT_TRUE(warm_up(*pub.track, [&] { return warm.got.size() > 0; }));

  auto client = connect_to(*relay);
  ASSERT_MOQ_OK(client);
  Collector fetched, live, joined;  // outlive the handles the app keeps
  CallbackApp app;
  std::atomic<int> started{0};
  std::atomic<bool> wait_refused{false};
  const moq::SessionConfig config = config_for(*relay);
  auto on_added = [&](const moq::Namespace& added) {
    if (!(added == room) || started.exchange(1) != 0) return;
    moq::Session& session = *client;
    // Waiting for an answer here would block a callback thread: refused.
    auto waited = session.announce_async(moq::Namespace::parse(base + "-waited").value()).wait(1000ms);
    wait_refused = !waited && waited.error().code() == moq::Errc::would_block;
    app.record<moq::Session>("connect_async", moq::Session::connect_async(relay->url(), config),
                             [&](moq::Session& other) {
                               app.record("publish_track_async (in a completion)",
                                          other.publish_track_async(
                                              moq::Namespace::parse(base + "-offered").value(), "p"));
                             });
    app.record("announce_async",
               session.announce_async(moq::Namespace::parse(base + "-mine").value()));
    app.record("subscribe_namespace_async",
               session.subscribe_namespace_async(moq::Namespace::parse(base + "-other").value(),
                                                 [](const moq::Namespace&) {}));
    app.record("fetch_async",
               session.fetch_async(room, "t", moq::FetchRange::group(0), fetched.callback()));
    app.record<moq::Subscription>(
        "subscribe_async", session.subscribe_async(room, "t", live.callback()),
        [&](moq::Subscription& subscription) {
          app.record("joining_fetch_async (in a completion)",
                     session.joining_fetch_async(subscription, 0, joined.callback()));
        });
  };
  std::optional<moq::NamespaceWatch> watch;
  {
    auto watching = client->subscribe_namespace(prefix, on_added);
    ASSERT_MOQ_OK(watching);
    watch.emplace(std::move(watching).value());
  }

  const std::vector<std::string> requests = {
      "announce_async",   "connect_async",   "fetch_async", "joining_fetch_async (in a completion)",
      "publish_track_async (in a completion)", "subscribe_async", "subscribe_namespace_async"};
  EXPECT_TRUE(wait_until([&] { return app.snapshot().size() == requests.size(); }, 20000ms));
  auto outcomes = app.snapshot();
  std::vector<std::string> answered;
  for (const auto& [what, outcome] : outcomes) answered.push_back(what);
  EXPECT_EQ(answered, requests);
  for (const auto& what : requests) {
    const std::string outcome = outcomes.count(what) ? outcomes[what] : "no answer";
    // moq-relay-ietf may not have a joining location yet (a known limit):
    // then the joining fetch is refused with not_found, still an answer.
    if (what.rfind("joining_fetch_async", 0) == 0 && outcome == "not_found") continue;
    EXPECT_EQ(outcome, "ok") << what;
  }
  EXPECT_TRUE(wait_refused.load()) << "a wait inside a callback was not refused with would_block";
  ASSERT_TRUE(fetched.wait_count(1)) << "the fetch started in a callback delivered nothing";
  EXPECT_EQ(fetched.objects().front().group_id, 0u);

  watch.reset();
  app.clear();
}

}  // namespace
}  // namespace moq_test
