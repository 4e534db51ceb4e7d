// moq-bench: the C++ side of moq's benchmark. Runs one scenario through a
// relay, publisher and subscribers in this one process, over the public API
// only, and prints one `RESULT {json}` line. bench/engine is its twin: the same
// scenarios with moq-transport used directly. bench/run.py runs both in turn
// against one relay and prints the comparison.
//
//   moq-bench --url URL --ca ca.pem --scenario NAME [--size B] [--count N]
//             [--per-group N] [--subscribers N] [--rate N] [--seconds S]
//             [--per-session N] [--namespace NS] [--ascending]
//             [--max-incoming-subgroups N]
//
// --ascending subscribes with GroupOrder::ascending (groups delivered in
// order; see moq/subscribe.hpp). --max-incoming-subgroups sets
// SessionConfig::max_incoming_subgroups (0, the default: the library's).
//
// Scenarios:
//   throughput     --count objects of --size bytes, --per-group per group, as
//                  fast as the publisher can write; one subscriber session
//   latency        --rate objects per second for --seconds, each carrying its
//                  send time; percentiles of the one-way delay
//   fanout         throughput to --subscribers subscriber sessions at once
//   subscriptions  --count tracks, one subscription each, --per-session tracks
//                  per publisher and per subscriber session (a draft-18 request
//                  holds a QUIC stream, and QUIC peers allow 100 by default)
//   idle           one connected session doing nothing for --seconds
//   soak-publish   (bench/soak.py) announces --namespace, writes one-object
//                  "warm" groups until a line arrives on stdin, then --rate
//                  objects per second for --seconds, --per-group per group
//   soak-subscribe (bench/soak.py) subscribes to --namespace in its own
//                  process; prints WARM at the first warm object, then counts
//                  --count objects: lost, duplicated, out of order, RSS each
//                  second, CPU per object
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <moq/moq.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Args {
  std::string url;
  std::string ca;
  std::string scenario;
  std::size_t size = 1024;
  uint64_t count = 20000;
  uint64_t per_group = 100;
  int subscribers = 8;
  int rate = 1000;
  double seconds = 5;
  uint64_t per_session = 90;
  std::string ns;
  bool ascending = false;
  uint32_t max_incoming_subgroups = 0;
};

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "moq-bench: %s\n", why.c_str());
  std::exit(1);
}

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--ascending") {
      args.ascending = true;
      continue;
    }
    if (i + 1 >= argc) fail(flag + " needs a value");
    std::string value = argv[++i];
    if (flag == "--url") args.url = value;
    else if (flag == "--ca") args.ca = value;
    else if (flag == "--scenario") args.scenario = value;
    else if (flag == "--size") args.size = std::stoull(value);
    else if (flag == "--count") args.count = std::stoull(value);
    else if (flag == "--per-group") args.per_group = std::max<uint64_t>(1, std::stoull(value));
    else if (flag == "--subscribers") args.subscribers = std::stoi(value);
    else if (flag == "--rate") args.rate = std::stoi(value);
    else if (flag == "--seconds") args.seconds = std::stod(value);
    else if (flag == "--per-session") args.per_session = std::max<uint64_t>(1, std::stoull(value));
    else if (flag == "--namespace") args.ns = value;
    else if (flag == "--max-incoming-subgroups") args.max_incoming_subgroups = static_cast<uint32_t>(std::stoul(value));
    else fail("unknown option " + flag);
  }
  if (args.url.empty() || args.scenario.empty()) fail("--url and --scenario are required");
  if (args.size < 16) fail("--size must be at least 16 (sequence number and send time)");
  return args;
}

// ---------------------------------------------------------------- process figures

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

/// Bytes the heap has handed out and not got back (RSS can grow without
/// these growing: freed memory the allocator keeps).
double heap_in_use_mib() { return static_cast<double>(mallinfo2().uordblks) / (1024.0 * 1024.0); }

long rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

/// A fresh payload of `size` bytes starting with the sequence number and the send time.
moq::Bytes payload(std::size_t size, uint64_t seq) {
  std::vector<uint8_t> data(size, 0x5a);
  const int64_t sent = now_ns();
  std::memcpy(data.data(), &seq, 8);
  std::memcpy(data.data() + 8, &sent, 8);
  return moq::Bytes(std::move(data));
}

uint64_t read_u64(const moq::Bytes& bytes, std::size_t at) {
  uint64_t value = 0;
  if (bytes.size() >= at + 8) std::memcpy(&value, bytes.data() + at, 8);
  return value;
}

// ---------------------------------------------------------------- sessions

moq::Session connect(const Args& args) {
  moq::SessionConfig config;
  if (!args.ca.empty()) config.tls.root_cert_files = {args.ca};
  config.bind = "127.0.0.1:0";
  if (args.max_incoming_subgroups > 0) config.max_incoming_subgroups = args.max_incoming_subgroups;
  auto session = moq::Session::connect(args.url, config);
  if (!session) fail("connect: " + session.error().message());
  return std::move(*session);
}

moq::Namespace unique_namespace(const std::string& scenario) {
  static int counter = 0;
  auto ns = moq::Namespace::parse("bench/" + scenario + "-" + std::to_string(getpid()) + "-" +
                                  std::to_string(counter++));
  if (!ns) fail(ns.error().message());
  return *ns;
}

/// What one subscriber received. Objects carry their sequence number; a
/// 4-byte object is a warm-up object (not counted).
struct Receiver {
  std::mutex mutex;
  std::condition_variable changed;
  uint64_t warm = 0;
  uint64_t received = 0;
  uint64_t duplicates = 0;
  uint64_t reorders = 0;  // objects of a lower group than one already seen
  uint64_t out_of_order = 0;  // objects with a lower sequence number than one already seen
  uint64_t max_seq = 0;
  uint64_t max_group = 0;
  bool any = false;
  std::vector<bool> seen;
  std::vector<int64_t> latencies_ns;
  bool record_latency = false;

  explicit Receiver(uint64_t count) : seen(count, false) {}

  void on_object(const moq::Object& object) {
    const int64_t arrived = now_ns();
    std::lock_guard<std::mutex> lock(mutex);
    if (object.payload.size() == 4) {
      ++warm;
    } else {
      const uint64_t seq = read_u64(object.payload, 0);
      if (seq < seen.size() && !seen[seq]) {
        seen[seq] = true;
        ++received;
      } else {
        ++duplicates;
      }
      if (any && object.group_id < max_group) ++reorders;
      if (received > 1 && seq < max_seq) ++out_of_order;
      max_seq = std::max(max_seq, seq);
      if (record_latency) latencies_ns.push_back(arrived - static_cast<int64_t>(read_u64(object.payload, 8)));
    }
    if (!any || object.group_id > max_group) max_group = object.group_id;
    any = true;
    // Only when what the waits ask for can have become true (the first
    // warm-up object, the last object): a wake-up of the waiting thread per
    // object would be the harness's cost, not the library's. Same in the twin.
    if ((object.payload.size() == 4 && warm == 1) || received == seen.size()) {
      changed.notify_all();
    }
  }

  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return pred(*this); });
  }
};

struct Subscriber {
  moq::Session session;
  std::unique_ptr<Receiver> receiver;
  moq::Subscription subscription;
};

Subscriber subscribe(const Args& args, const moq::Namespace& ns, uint64_t count) {
  moq::Session session = connect(args);
  auto receiver = std::make_unique<Receiver>(count);
  Receiver* raw = receiver.get();
  moq::SubscribeOptions options;
  if (args.ascending) options.group_order = moq::GroupOrder::ascending;
  auto subscription = session.subscribe(
      ns, "data", [raw](const moq::Object& object) { raw->on_object(object); }, options);
  if (!subscription) fail("subscribe: " + subscription.error().message());
  return Subscriber{std::move(session), std::move(receiver), std::move(*subscription)};
}

/// Sends one-object "warm" groups until every subscriber has one: a relay may
/// drop the first group after a subscription starts (DESIGN §1).
void warm_up(moq::TrackWriter& track, std::vector<Subscriber>& subscribers) {
  for (int attempt = 0; attempt < 40; ++attempt) {
    auto group = track.begin_group();
    if (!group) fail("warm-up group: " + group.error().message());
    (void)group->write(moq::Bytes::copy("warm"));
    (void)group->finish();
    bool all = true;
    for (auto& s : subscribers) {
      all = s.receiver->wait([](Receiver& r) { return r.warm > 0; }, 250ms) && all;
    }
    if (all) return;
  }
  fail("warm-up: a subscriber received nothing in 10 s");
}

struct Published {
  moq::Session session;
  moq::Announcement announcement;
  moq::TrackWriter track;
};

Published publish(const Args& args, const moq::Namespace& ns) {
  moq::Session session = connect(args);
  auto announcement = session.announce(ns);
  if (!announcement) fail("announce: " + announcement.error().message());
  // The engine used directly keeps whatever a subscriber was not sent; so
  // does this side here, for the same work (the bursts exceed the default).
  moq::TrackOptions options;
  options.max_backlog_bytes = uint64_t{1} << 40;
  auto track = announcement->create_track("data", options);
  if (!track) fail("create_track: " + track.error().message());
  return Published{std::move(session), std::move(*announcement), std::move(*track)};
}

/// Writes objects `0..count` in groups of `per_group`; `pace` > 0 spaces them.
void write_objects(moq::TrackWriter& track, const Args& args, std::chrono::nanoseconds pace) {
  moq::Result<moq::GroupWriter> group = moq::Error(moq::Errc::closed, "no group yet");
  const auto start = Clock::now();
  for (uint64_t seq = 0; seq < args.count; ++seq) {
    if (pace.count() > 0) std::this_thread::sleep_until(start + pace * seq);
    if (seq % args.per_group == 0) {
      if (group) (void)group->finish();
      group = track.begin_group();
      if (!group) fail("begin_group: " + group.error().message());
    }
    if (auto st = group->write(payload(args.size, seq)); !st) fail("write: " + st.error().message());
  }
  if (group) (void)group->finish();
}

// ---------------------------------------------------------------- results

struct Result {
  std::string fields;
  void add(const char* name, double value) {
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%s\"%s\":%.6g", fields.empty() ? "" : ",", name, value);
    fields += buffer;
  }
  void print(const Args& args) const {
    std::printf("RESULT {\"impl\":\"cpp\",\"scenario\":\"%s\",%s}\n", args.scenario.c_str(), fields.c_str());
    std::fflush(stdout);
  }
};

double percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t index = std::min(values.size() - 1, static_cast<std::size_t>(p * values.size()));
  return static_cast<double>(values[index]);
}

/// throughput, latency and fanout: one publisher, `subscribers` subscriber sessions.
int run_flow(const Args& args, int subscriber_count, bool latency) {
  const moq::Namespace ns = unique_namespace(args.scenario);
  Published pub = publish(args, ns);
  std::vector<Subscriber> subscribers;
  for (int i = 0; i < subscriber_count; ++i) {
    subscribers.push_back(subscribe(args, ns, args.count));
    subscribers.back().receiver->record_latency = latency;
  }
  warm_up(pub.track, subscribers);

  const double cpu_before = cpu_seconds();
  const auto start = Clock::now();
  const auto pace = latency ? std::chrono::nanoseconds(1000000000LL / std::max(1, args.rate))
                            : std::chrono::nanoseconds(0);
  write_objects(pub.track, args, pace);
  const auto written = Clock::now();
  // Done when every subscriber has everything, or nothing arrived for 10 s.
  for (auto& s : subscribers) {
    uint64_t last = UINT64_MAX;
    while (!s.receiver->wait([&](Receiver& r) { return r.received == args.count; }, 10s)) {
      std::lock_guard<std::mutex> lock(s.receiver->mutex);
      if (s.receiver->received == last) break;  // stalled
      last = s.receiver->received;
    }
  }
  const auto end = Clock::now();
  const double cpu = cpu_seconds() - cpu_before;
  const double seconds = std::chrono::duration<double>(end - start).count();

  uint64_t delivered = 0, duplicates = 0, reorders = 0, chunks = 0;
  std::vector<int64_t> latencies;
  for (auto& s : subscribers) {
    std::lock_guard<std::mutex> lock(s.receiver->mutex);
    delivered += s.receiver->received;
    duplicates += s.receiver->duplicates;
    reorders += s.receiver->reorders;
    latencies.insert(latencies.end(), s.receiver->latencies_ns.begin(), s.receiver->latencies_ns.end());
    chunks += s.subscription.stats().chunks;
  }
  const double expected = static_cast<double>(args.count) * subscriber_count;
  Result result;
  result.add("objects", static_cast<double>(args.count));
  result.add("size", static_cast<double>(args.size));
  result.add("subscribers", subscriber_count);
  result.add("seconds", seconds);
  result.add("write_seconds", std::chrono::duration<double>(written - start).count());
  result.add("objects_per_s", static_cast<double>(args.count) / seconds);
  result.add("delivered_per_s", static_cast<double>(delivered) / seconds);
  result.add("cpu_us_per_obj", cpu * 1e6 / std::max(1.0, static_cast<double>(delivered)));
  result.add("peak_rss_mib", peak_rss_kib() / 1024.0);
  result.add("chunks_per_obj", delivered ? static_cast<double>(chunks) / static_cast<double>(delivered) : 0);
  result.add("lost", expected - static_cast<double>(delivered));
  result.add("duplicates", static_cast<double>(duplicates));
  result.add("reorders", static_cast<double>(reorders));
  if (latency) {
    result.add("p50_us", percentile(latencies, 0.50) / 1e3);
    result.add("p90_us", percentile(latencies, 0.90) / 1e3);
    result.add("p99_us", percentile(latencies, 0.99) / 1e3);
    result.add("p999_us", percentile(latencies, 0.999) / 1e3);
  }
  result.print(args);
  return delivered == static_cast<uint64_t>(expected) && duplicates == 0 ? 0 : 1;
}

/// `count` tracks, `per_session` per publisher session (each its own
/// namespace) and per subscriber session, one subscription each. Sessions,
/// announcements and tracks exist before the measurement starts: what is
/// measured is the subscriptions alone.
int run_subscriptions(const Args& args) {
  struct Chunk {
    moq::Namespace ns;
    moq::Session publisher;
    moq::Announcement announcement;
    std::vector<moq::TrackWriter> tracks;
    moq::Session subscriber;
  };
  std::vector<Chunk> chunks;
  for (uint64_t first = 0; first < args.count; first += args.per_session) {
    moq::Namespace ns = unique_namespace(args.scenario);
    moq::Session publisher = connect(args);
    auto announcement = publisher.announce(ns);
    if (!announcement) fail("announce: " + announcement.error().message());
    std::vector<moq::TrackWriter> tracks;
    for (uint64_t i = first; i < std::min(args.count, first + args.per_session); ++i) {
      auto track = announcement->create_track("t" + std::to_string(i));
      if (!track) fail("create_track: " + track.error().message());
      tracks.push_back(std::move(*track));
    }
    chunks.push_back(Chunk{std::move(ns), std::move(publisher), std::move(*announcement),
                           std::move(tracks), connect(args)});
  }
  std::atomic<uint64_t> objects{0};
  std::vector<moq::Subscription> subscriptions;
  subscriptions.reserve(args.count);
  const long rss_before = rss_kib();
  const double cpu_before = cpu_seconds();
  const auto start = Clock::now();
  for (uint64_t i = 0; i < args.count; ++i) {
    Chunk& chunk = chunks[i / args.per_session];
    auto sub = chunk.subscriber.subscribe(chunk.ns, "t" + std::to_string(i),
                                          [&](const moq::Object&) { ++objects; });
    if (!sub) fail("subscribe t" + std::to_string(i) + ": " + sub.error().message());
    subscriptions.push_back(std::move(*sub));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = cpu_seconds() - cpu_before;
  const long rss_after = rss_kib();
  Result result;
  result.add("subscriptions", static_cast<double>(args.count));
  result.add("sessions", static_cast<double>(chunks.size() * 2));
  result.add("setup_seconds", seconds);
  result.add("setup_us_per_sub", seconds * 1e6 / static_cast<double>(args.count));
  result.add("cpu_us_per_sub", cpu * 1e6 / static_cast<double>(args.count));
  result.add("rss_kib_per_sub", static_cast<double>(rss_after - rss_before) / static_cast<double>(args.count));
  result.add("peak_rss_mib", peak_rss_kib() / 1024.0);
  result.print(args);
  return 0;
}

/// One connected session doing nothing.
int run_idle(const Args& args) {
  moq::Session session = connect(args);
  std::this_thread::sleep_for(1s);  // let the connection settle
  const double cpu_before = cpu_seconds();
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(args.seconds));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Result result;
  result.add("idle_seconds", seconds);
  result.add("idle_cpu_pct", (cpu_seconds() - cpu_before) * 100 / seconds);
  result.add("rss_mib", rss_kib() / 1024.0);
  result.print(args);
  return 0;
}

moq::Namespace given_namespace(const Args& args) {
  auto ns = moq::Namespace::parse(args.ns);
  if (!ns) fail("--namespace: " + ns.error().message());
  return *ns;
}

/// The soak's publisher: its own process, paced writes, CPU per object.
int run_soak_publish(const Args& args) {
  Published pub = publish(args, given_namespace(args));
  std::printf("READY\n");
  std::fflush(stdout);
  std::atomic<bool> go{false};
  std::thread reader([&] {
    char line[64];
    (void)std::fgets(line, sizeof line, stdin);
    go = true;
  });
  // Warm groups until the subscriber has one: the relay may drop the first
  // group after a subscription starts.
  for (int i = 0; !go.load() && i < 600; ++i) {
    auto group = pub.track.begin_group();
    if (!group) fail("warm-up group: " + group.error().message());
    (void)group->write(moq::Bytes::copy("warm"));
    (void)group->finish();
    std::this_thread::sleep_for(50ms);
  }
  reader.join();
  Args paced = args;
  paced.count = static_cast<uint64_t>(args.rate * args.seconds);
  const double cpu_before = cpu_seconds();
  write_objects(pub.track, paced, std::chrono::nanoseconds(1000000000LL / std::max(1, args.rate)));
  const double cpu = cpu_seconds() - cpu_before;
  // What was written must reach the relay before the session closes.
  (void)pub.track.flush(10s);
  Result result;
  result.add("written", static_cast<double>(paced.count));
  result.add("cpu_us_per_obj", cpu * 1e6 / static_cast<double>(std::max<uint64_t>(1, paced.count)));
  result.add("peak_rss_mib", peak_rss_kib() / 1024.0);
  result.print(args);
  std::this_thread::sleep_for(2s);  // the relay forwards the last groups
  return 0;
}

/// The soak's subscriber: its own process; every object checked.
int run_soak_subscribe(const Args& args) {
  const auto start_rss = rss_kib();
  Subscriber sub = subscribe(args, given_namespace(args), args.count);
  if (!sub.receiver->wait([](Receiver& r) { return r.warm > 0; }, 30s)) fail("no warm object in 30 s");
  std::printf("WARM\n");
  std::fflush(stdout);
  const double cpu_before = cpu_seconds();
  std::vector<long> rss;     // KiB, each second
  std::vector<double> heap;  // MiB in use, each second
  uint64_t last = 0;
  int stalled = 0;
  // Until everything came, or nothing came for 10 s (once anything did).
  for (int second = 0; second < 36000; ++second) {
    const bool all = sub.receiver->wait([&](Receiver& r) { return r.received == args.count; }, 1s);
    rss.push_back(rss_kib());
    heap.push_back(heap_in_use_mib());
    if (all) break;
    std::lock_guard<std::mutex> lock(sub.receiver->mutex);
    stalled = sub.receiver->received == last ? stalled + 1 : 0;
    last = sub.receiver->received;
    if (last > 0 && stalled >= 10) break;
  }
  const double cpu = cpu_seconds() - cpu_before;
  std::lock_guard<std::mutex> lock(sub.receiver->mutex);
  const Receiver& r = *sub.receiver;
  Result result;
  result.add("objects", static_cast<double>(args.count));
  result.add("received", static_cast<double>(r.received));
  result.add("lost", static_cast<double>(args.count - r.received));
  result.add("duplicates", static_cast<double>(r.duplicates));
  result.add("out_of_order", static_cast<double>(r.out_of_order));
  result.add("group_reorders", static_cast<double>(r.reorders));
  result.add("cpu_us_per_obj", cpu * 1e6 / static_cast<double>(std::max<uint64_t>(1, r.received)));
  result.add("rss_before_mib", start_rss / 1024.0);
  // After a 10 s warm-up, every 10 s after it, and at the end.
  result.add("rss_warm_mib", rss[std::min<std::size_t>(rss.size() - 1, 10)] / 1024.0);
  for (std::size_t at = 20; at < rss.size(); at += 10) {
    result.add(("rss_" + std::to_string(at) + "s_mib").c_str(), rss[at] / 1024.0);
    result.add(("heap_" + std::to_string(at) + "s_mib").c_str(), heap[at]);
  }
  result.add("heap_warm_mib", heap[std::min<std::size_t>(heap.size() - 1, 10)]);
  result.add("heap_end_mib", heap.back());
  result.add("rss_end_mib", rss.back() / 1024.0);
  result.add("peak_rss_mib", peak_rss_kib() / 1024.0);
  result.print(args);
  return r.received == args.count && r.duplicates == 0 && r.out_of_order == 0 ? 0 : 1;
}

int run(const Args& args) {
  if (args.scenario == "throughput") return run_flow(args, 1, false);
  if (args.scenario == "latency") {
    Args paced = args;
    paced.count = static_cast<uint64_t>(args.rate * args.seconds);
    return run_flow(paced, 1, true);
  }
  if (args.scenario == "fanout") return run_flow(args, args.subscribers, false);
  if (args.scenario == "subscriptions") return run_subscriptions(args);
  if (args.scenario == "idle") return run_idle(args);
  if (args.scenario == "soak-publish") return run_soak_publish(args);
  if (args.scenario == "soak-subscribe") return run_soak_subscribe(args);
  fail("unknown scenario " + args.scenario);
}

}  // namespace

int main(int argc, char** argv) {
  const int rc = run(parse(argc, argv));
  (void)moq::shutdown();
  return rc;
}
