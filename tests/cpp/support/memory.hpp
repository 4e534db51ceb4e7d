// What the test process holds, for the memory tests: heap in use, resident
// size, and their peak growth over a sampling loop.
#pragma once

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

namespace moq_test {

inline long rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE) / (1024 * 1024);
}

// Bytes the process has allocated and not freed: what the library holds.
// (The resident size also counts memory glibc keeps in its per-thread arenas
// after it was freed, which depends on thread timing; it gets a looser bound.)
inline long heap_mib() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<long>((info.uordblks + info.hblkhd) >> 20);
}

// Under AddressSanitizer (a Debug build) freed memory waits in a quarantine
// (256 MiB), every block has redzones, and the engine runs several times
// slower: memory figures say nothing about the library, and a slow reader
// may not even fall behind. ThreadSanitizer keeps shadow memory and runs
// slower still. The memory tests run their scenario there, for the
// sanitizer's sake, but check bounds in a normal build only.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// Peak heap and resident growth over a sampling loop.
struct MemoryPeak {
  long heap_base = heap_mib(), rss_base = rss_mib();
  long heap = heap_base, rss = rss_base;
  void sample() {
    heap = std::max(heap, heap_mib());
    rss = std::max(rss, rss_mib());
  }
  long heap_growth() const { return heap - heap_base; }
  long rss_growth() const { return rss - rss_base; }
};

}  // namespace moq_test
