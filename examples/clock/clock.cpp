// moq-clock: a C++ clock publisher and subscriber in the format of
// moq-clock-ietf 0.6.25, so each interoperates with the other through a relay.
//
// Format: one group per minute on track "now" of namespace "clock". Object 0
// is the minute, "YYYY-MM-DD HH:MM:"; objects 1.. are the seconds, "SS", one
// per second. The subscriber prints "YYYY-MM-DD HH:MM:SS" per second object.
//
// With --datagrams the publisher sends one datagram per second instead, with
// the whole time "YYYY-MM-DD HH:MM:SS" (group id +1 per second, object 0), as
// moq-clock-ietf --datagrams does; the subscriber prints datagrams as they are.
//
// With --join-groups N the subscriber subscribes, then fetches the history
// before its joining location with a joining FETCH (the current minute from
// its first second, plus N earlier minutes), prints that history, then
// continues live without printing a time twice, as moq-clock-ietf
// --join-groups does. The publisher keeps its last minutes for FETCH.
//
//   moq-clock [--publish [--datagrams]] [--root ca.pem] [--pin SHA256]
//             [--insecure] [--bind 127.0.0.1:0] [--namespace clock]
//             [--track now] [--count N] [--wait SECONDS] [--join-groups N] URL
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <moq/moq.hpp>

namespace {

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested = true; }

struct Options {
  std::string url;
  bool publish = false;
  bool datagrams = false;
  std::string ns = "clock";
  std::string track = "now";
  long count = 0;        // subscriber: exit after this many lines (0 = forever)
  long wait_seconds = 30;  // subscriber: how long to retry while the track does not exist yet
  long join_groups = -1;   // subscriber: >= 0 = joining FETCH of this many earlier groups
  moq::SessionConfig session;
};

int usage(const char* why) {
  std::fprintf(stderr,
               "moq-clock: %s\n"
               "usage: moq-clock [--publish [--datagrams]] [--root ca.pem] [--pin SHA256] [--insecure]\n"
               "                 [--bind ADDR] [--namespace NS] [--track NAME] [--count N]\n"
               "                 [--wait SECONDS] [--join-groups N] URL\n",
               why);
  return 2;
}

bool parse_args(int argc, char** argv, Options& options, std::string& error) {
  options.session.bind = "";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        error = std::string(name) + " needs a value";
        return nullptr;
      }
      return argv[++i];
    };
    const char* v = nullptr;
    if (arg == "--publish") {
      options.publish = true;
    } else if (arg == "--datagrams") {
      options.datagrams = true;
    } else if (arg == "--insecure") {
      options.session.tls.disable_verify = true;
    } else if (arg == "--root" || arg == "--pin" || arg == "--bind" || arg == "--namespace" ||
               arg == "--track" || arg == "--count" || arg == "--wait" || arg == "--join-groups") {
      if (!(v = value(arg.c_str()))) return false;
      if (arg == "--root") options.session.tls.root_cert_files.push_back(v);
      if (arg == "--pin") options.session.tls.server_cert_sha256.push_back(v);
      if (arg == "--bind") options.session.bind = v;
      if (arg == "--namespace") options.ns = v;
      if (arg == "--track") options.track = v;
      if (arg == "--count") options.count = std::strtol(v, nullptr, 10);
      if (arg == "--wait") options.wait_seconds = std::strtol(v, nullptr, 10);
      if (arg == "--join-groups") {
        char* end = nullptr;
        options.join_groups = std::strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || options.join_groups < 0) {
          error = "--join-groups needs a number >= 0";
          return false;
        }
      }
    } else if (!arg.empty() && arg[0] == '-') {
      error = "unknown option " + arg;
      return false;
    } else if (options.url.empty()) {
      options.url = arg;
    } else {
      error = "more than one URL given";
      return false;
    }
  }
  if (options.url.empty()) {
    error = "no URL given";
    return false;
  }
  return true;
}

using Clock = std::chrono::system_clock;
using Second = std::chrono::time_point<Clock, std::chrono::seconds>;

std::tm utc(Second second) {
  std::time_t t = Clock::to_time_t(second);
  std::tm out{};
  gmtime_r(&t, &out);
  return out;
}

std::string format(const std::tm& tm, const char* fmt) {
  char buffer[64];
  std::size_t n = std::strftime(buffer, sizeof buffer, fmt, &tm);
  return std::string(buffer, n);
}

/// The seconds a clock publisher prints, each exactly once and in order.
///
/// One clock (system_clock) both names the second and times the wait, and the
/// deadline is computed from the second just printed: sleeping until `second +
/// 1s` on system_clock, then reading the same clock, can never yield the second
/// again. (Reading the time with std::time() after waiting on system_clock can:
/// on Linux it reads a coarser clock that may still show the previous second
/// just after the boundary, and the same second was printed hundreds of times.)
class SecondTicker {
 public:
  SecondTicker() : second_(std::chrono::floor<std::chrono::seconds>(Clock::now())) {}

  /// The second to publish now.
  Second second() const { return second_; }

  /// Waits for the next second to begin and moves to it; false if stopped.
  /// After a stall longer than a second (a suspended process, a clock step
  /// forward) it moves to the current second, skipping the missed ones; it
  /// never moves backwards.
  bool advance() {
    const Second deadline = second_ + std::chrono::seconds(1);
    for (;;) {
      if (stop_requested) return false;
      const auto now = Clock::now();
      if (now >= deadline) break;
      // Short steps, so a stop request is noticed within 50 ms.
      std::this_thread::sleep_for(std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(50)));
    }
    second_ = std::max(deadline, std::chrono::floor<std::chrono::seconds>(Clock::now()));
    return true;
  }

 private:
  Second second_;
};

int run_datagram_publisher(moq::Announcement& announcement, const moq::Namespace& ns,
                           const Options& options) {
  auto track = announcement.create_datagram_track(options.track);
  if (!track) {
    std::fprintf(stderr, "moq-clock: create_datagram_track failed: %s\n", track.error().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "moq-clock: publishing %s/%s as datagrams\n", ns.to_string().c_str(),
               options.track.c_str());
  SecondTicker ticker;
  // One datagram per second, the group id one higher each time.
  uint64_t group = static_cast<uint64_t>(utc(ticker.second()).tm_min);
  do {
    std::string text = format(utc(ticker.second()), "%Y-%m-%d %H:%M:%S");
    if (auto st = track->write(group++, 0, moq::Bytes::copy(text)); !st) {
      std::fprintf(stderr, "moq-clock: %s\n", st.error().message().c_str());
      return 1;
    }
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  } while (ticker.advance());
  return 0;
}

int run_publisher(moq::Session& session, const moq::Namespace& ns, const Options& options) {
  auto announcement = session.announce(ns);
  if (!announcement) {
    std::fprintf(stderr, "moq-clock: announce failed: %s\n", announcement.error().message().c_str());
    return 1;
  }
  if (options.datagrams) return run_datagram_publisher(*announcement, ns, options);
  // Keep the last minutes so FETCH (e.g. moq-clock-ietf --join-groups) is
  // answered, as moq-clock-ietf --publish does (8 groups by default).
  moq::TrackOptions track_options;
  track_options.history = moq::HistoryLimits{8, 1024 * 1024};
  auto track = announcement->create_track(options.track, track_options);
  if (!track) {
    std::fprintf(stderr, "moq-clock: create_track failed: %s\n", track.error().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "moq-clock: publishing %s/%s\n", ns.to_string().c_str(), options.track.c_str());
  SecondTicker ticker;
  bool running = true;
  // One group per minute: object 0 is the minute, then one object per second.
  while (running) {
    const auto minute = std::chrono::floor<std::chrono::minutes>(ticker.second());
    auto group = track->begin_group(0);
    if (!group) {
      std::fprintf(stderr, "moq-clock: %s\n", group.error().message().c_str());
      return 1;
    }
    const std::string base = format(utc(ticker.second()), "%Y-%m-%d %H:%M:");
    if (auto st = group->write(moq::Bytes::copy(base)); !st) {
      std::fprintf(stderr, "moq-clock: %s\n", st.error().message().c_str());
      return 1;
    }
    while (std::chrono::floor<std::chrono::minutes>(ticker.second()) == minute) {
      const std::string seconds = format(utc(ticker.second()), "%S");
      if (auto st = group->write(moq::Bytes::copy(seconds)); !st) {
        std::fprintf(stderr, "moq-clock: %s\n", st.error().message().c_str());
        return 1;
      }
      std::printf("%s%s\n", base.c_str(), seconds.c_str());
      std::fflush(stdout);
      if (!(running = ticker.advance())) break;
    }
    if (auto st = group->finish(); !st) {
      std::fprintf(stderr, "moq-clock: %s\n", st.error().message().c_str());
      return 1;
    }
  }
  return 0;
}

// Subscribes, retrying while the publisher is not there yet (within --wait).
moq::Result<moq::Subscription> subscribe_when_published(
    moq::Session& session, const moq::Namespace& ns, const Options& options,
    const std::function<void(const moq::Object&)>& on_object,
    const std::function<void(const moq::Status&)>& on_closed) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.wait_seconds);
  moq::Result<moq::Subscription> subscription =
      moq::Error(moq::Errc::not_found, "not subscribed yet");
  while (!stop_requested) {
    subscription = session.subscribe(ns, options.track, {on_object, on_closed});
    if (subscription || subscription.error().code() != moq::Errc::not_found ||
        std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return subscription;
}

// --join-groups N: history by joining FETCH, then live, each time printed once.
int run_joined_subscriber(moq::Session& session, const moq::Namespace& ns, const Options& options) {
  using Location = std::pair<uint64_t, uint64_t>;
  std::mutex mutex;
  std::map<uint64_t, std::string> bases;  // group id -> "YYYY-MM-DD HH:MM:"
  std::atomic<long> printed{0};
  std::atomic<bool> ended{false};
  bool history_done = false;         // guarded by mutex
  Location joining{0, 0};            // guarded by mutex; valid once history_done
  std::vector<moq::Object> pending;  // live objects that arrived during the fetch

  // Prints one clock object (mutex held).
  auto print = [&](const moq::Object& object) {
    if (object.object_id == 0) {
      bases[object.group_id] = object.payload.to_string();
      while (bases.size() > 4) bases.erase(bases.begin());
      return;
    }
    auto base = bases.find(object.group_id);
    if (base == bases.end()) return;
    std::printf("%s%s\n", base->second.c_str(), object.payload.to_string().c_str());
    std::fflush(stdout);
    ++printed;
  };
  auto on_live = [&](const moq::Object& object) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!history_done) {
      pending.push_back(object);
      return;
    }
    // Live delivery may repeat objects up to the joining location: the
    // history already printed them.
    if (Location(object.group_id, object.object_id) > joining) print(object);
  };

  auto on_ended = [&](const moq::Status& status) {
    if (!status) std::fprintf(stderr, "moq-clock: subscription ended: %s\n", status.error().message().c_str());
    ended = true;
  };

  auto subscription = subscribe_when_published(session, ns, options, on_live, on_ended);
  if (!subscription) {
    std::fprintf(stderr, "moq-clock: subscribe failed: %s\n", subscription.error().message().c_str());
    return 1;
  }

  // Joins with up to --join-groups earlier groups (fewer if the track has
  // fewer: asking before group 0 is refused). A relay that was not yet
  // forwarding the track gives the first SUBSCRIBE no joining location:
  // then wait for one live object and subscribe again, once.
  // Declared before the Fetch, so they outlive its callbacks.
  std::mutex fetch_mutex;
  std::condition_variable fetch_done;
  std::optional<moq::Status> fetch_status;
  moq::Result<moq::Fetch> fetch = moq::Error(moq::Errc::not_found, "not fetched yet");
  auto on_history = [&](const moq::Object& object) {
    std::lock_guard<std::mutex> lock(mutex);
    print(object);
  };
  auto on_history_end = [&](const moq::Status& status) {
    std::lock_guard<std::mutex> lock(fetch_mutex);
    fetch_status = status;
    fetch_done.notify_all();
  };
  for (int attempt = 0; attempt < 2 && !fetch; ++attempt) {
    for (long groups = options.join_groups; groups >= 0; --groups) {
      fetch = session.joining_fetch(*subscription, static_cast<uint64_t>(groups),
                                    {on_history, on_history_end});
      if (fetch || fetch.error().code() != moq::Errc::not_found) break;
    }
    if (fetch || attempt == 1 || fetch.error().code() != moq::Errc::not_found) break;
    std::fprintf(stderr, "moq-clock: cannot join yet (%s); subscribing again once objects flow\n",
                 fetch.error().message().c_str());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!pending.empty()) break;
      }
      if (stop_requested || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    subscription = moq::Error(moq::Errc::closed, "unsubscribed");  // unsubscribes
    {
      std::lock_guard<std::mutex> lock(mutex);
      pending.clear();  // warm-up objects are not printed
    }
    subscription = subscribe_when_published(session, ns, options, on_live, on_ended);
    if (!subscription) {
      std::fprintf(stderr, "moq-clock: subscribe failed: %s\n",
                   subscription.error().message().c_str());
      return 1;
    }
  }
  if (!fetch) {
    std::fprintf(stderr, "moq-clock: joining fetch failed: %s\n", fetch.error().message().c_str());
    return 1;
  }
  {
    std::unique_lock<std::mutex> lock(fetch_mutex);
    if (!fetch_done.wait_for(lock, std::chrono::seconds(10), [&] { return fetch_status.has_value(); })) {
      std::fprintf(stderr, "moq-clock: the joining fetch did not end within 10 s\n");
      return 1;
    }
    if (!*fetch_status) {
      std::fprintf(stderr, "moq-clock: joining fetch ended: %s\n",
                   fetch_status->error().message().c_str());
      return 1;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    joining = Location(fetch->end_group(), fetch->end_object().value_or(UINT64_MAX));
    history_done = true;
    std::fprintf(stderr, "moq-clock: history complete through group %llu object %llu (%ld times); "
                 "continuing live\n",
                 static_cast<unsigned long long>(joining.first),
                 static_cast<unsigned long long>(joining.second), printed.load());
    for (const auto& object : pending) {
      if (Location(object.group_id, object.object_id) > joining) print(object);
    }
    pending.clear();
  }
  while (!stop_requested && !ended && (options.count == 0 || printed < options.count)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

int run_subscriber(moq::Session& session, const moq::Namespace& ns, const Options& options) {
  if (options.join_groups >= 0) return run_joined_subscriber(session, ns, options);
  std::mutex mutex;
  std::map<uint64_t, std::string> bases;  // group id -> "YYYY-MM-DD HH:MM:"
  std::atomic<long> printed{0};
  std::atomic<bool> ended{false};
  auto on_object = [&](const moq::Object& object) {
    std::lock_guard<std::mutex> lock(mutex);
    if (object.datagram) {  // the whole time in one datagram
      std::printf("%s\n", object.payload.to_string().c_str());
      std::fflush(stdout);
      ++printed;
      return;
    }
    if (object.object_id == 0) {
      bases[object.group_id] = object.payload.to_string();
      while (bases.size() > 4) bases.erase(bases.begin());
      return;
    }
    auto base = bases.find(object.group_id);
    if (base == bases.end()) return;  // joined mid-group without its minute
    std::printf("%s%s\n", base->second.c_str(), object.payload.to_string().c_str());
    std::fflush(stdout);
    ++printed;
  };
  auto on_ended = [&](const moq::Status& status) {
    if (!status) std::fprintf(stderr, "moq-clock: subscription ended: %s\n", status.error().message().c_str());
    ended = true;
  };

  // The publisher may not be there yet: retry until it is, within --wait.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.wait_seconds);
  moq::Result<moq::Subscription> subscription =
      moq::Error(moq::Errc::not_found, "not subscribed yet");
  while (!stop_requested) {
    subscription = session.subscribe(ns, options.track, {on_object, on_ended});
    if (subscription || subscription.error().code() != moq::Errc::not_found ||
        std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (!subscription) {
    std::fprintf(stderr, "moq-clock: subscribe failed: %s\n", subscription.error().message().c_str());
    return 1;
  }
  while (!stop_requested && !ended && (options.count == 0 || printed < options.count)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string error;
  if (!parse_args(argc, argv, options, error)) return usage(error.c_str());
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  auto ns = moq::Namespace::parse(options.ns);
  if (!ns) return usage(ns.error().message().c_str());
  auto session = moq::Session::connect(options.url, options.session);
  if (!session) {
    std::fprintf(stderr, "moq-clock: cannot connect to %s: %s\n", options.url.c_str(),
                 session.error().message().c_str());
    return 1;
  }
  int rc = options.publish ? run_publisher(*session, *ns, options) : run_subscriber(*session, *ns, options);
  (void)session->close(0, "moq-clock done");
  // Lets the CLOSE leave before the process exits (README: Lifetimes).
  if (auto done = moq::shutdown(); !done) {
    std::fprintf(stderr, "moq-clock: %s\n", done.error().message().c_str());
  }
  return rc;
}
