// moq-test-flood: a publisher for the memory tests, in a process of its own so
// that what it buffers is not counted against the subscriber under test.
//
//   moq-test-flood URL CA NAMESPACE TRACK OBJECT_BYTES SECONDS MIB_PER_SECOND [LINGER]
//
// Announces NAMESPACE, then writes one-object groups of OBJECT_BYTES at
// MIB_PER_SECOND (about what a local relay path carries, far more than a slow
// subscriber takes) for SECONDS. Each payload starts with its group id (8 bytes,
// native order) followed by that id's low byte repeated, so a subscriber can
// check that every object arrived whole. Prints "publishing" when it starts
// writing and "done N" with the number of groups written at the end; then
// keeps the session (and the track) LINGER more seconds (default 0): a relay
// drops what it still holds for a subscriber when the publisher leaves.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <moq/moq.hpp>

int main(int argc, char** argv) {
  if (argc != 8 && argc != 9) {
    std::fprintf(stderr, "usage: moq-test-flood URL CA NAMESPACE TRACK OBJECT_BYTES SECONDS "
                         "MIB_PER_SECOND [LINGER]\n");
    return 2;
  }
  const auto linger = std::chrono::seconds(argc == 9 ? std::strtol(argv[8], nullptr, 10) : 0);
  moq::SessionConfig config;
  config.tls.root_cert_files = {argv[2]};
  config.bind = "127.0.0.1:0";
  const std::size_t size = std::strtoull(argv[5], nullptr, 10);
  const auto duration = std::chrono::seconds(std::strtol(argv[6], nullptr, 10));
  const double rate = std::strtod(argv[7], nullptr) * 1024 * 1024;  // bytes per second
  const auto pace = std::chrono::duration<double>(static_cast<double>(size) / rate);
  auto session = moq::Session::connect(argv[1], config);
  if (!session) {
    std::fprintf(stderr, "moq-test-flood: %s\n", session.error().message().c_str());
    return 1;
  }
  auto ns = moq::Namespace::parse(argv[3]);
  auto announcement = session->announce(*ns);
  if (!announcement) {
    std::fprintf(stderr, "moq-test-flood: %s\n", announcement.error().message().c_str());
    return 1;
  }
  auto track = announcement->create_track(argv[4]);
  if (!track) {
    std::fprintf(stderr, "moq-test-flood: %s\n", track.error().message().c_str());
    return 1;
  }
  std::printf("publishing\n");
  std::fflush(stdout);
  uint64_t written = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + duration;
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                              pace * static_cast<double>(written)));
    auto group = track->begin_group();
    if (!group) break;
    std::vector<uint8_t> payload(size, static_cast<uint8_t>(group->group_id()));
    const uint64_t id = group->group_id();
    std::memcpy(payload.data(), &id, sizeof id);
    if (!group->write(moq::Bytes(std::move(payload)))) break;
    (void)group->finish();
    ++written;
  }
  std::printf("done %llu\n", static_cast<unsigned long long>(written));
  std::fflush(stdout);
  std::this_thread::sleep_for(linger);
  (void)session->close();
  (void)moq::shutdown(std::chrono::seconds(5));
  return 0;
}
