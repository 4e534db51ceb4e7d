// Happens-before marks for ThreadSanitizer builds (CMake option MOQ_TSAN).
// Only the C++ is instrumented there; Rust's locks and queues are invisible
// to the sanitizer. An object Rust owns is made on the user's thread, called
// and finally destroyed on library threads, ordered by Rust: these marks tell
// the sanitizer about that order. In every other build they are empty.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define MOQ_TSAN_MARKS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MOQ_TSAN_MARKS 1
#endif
#endif

#ifdef MOQ_TSAN_MARKS
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace moq {
namespace detail {

/// Declared as the *last* member of a class whose objects Rust owns: it is
/// then constructed after, and destroyed before, every other member.
class RustHandoff {
 public:
  RustHandoff() noexcept { release(); }
  ~RustHandoff() { acquire(); }
  RustHandoff(const RustHandoff&) = delete;
  RustHandoff& operator=(const RustHandoff&) = delete;

  /// Brackets one call from Rust: ordered after construction and after every
  /// earlier call, and before destruction.
  class Call {
   public:
    explicit Call(const RustHandoff& owner) noexcept : owner_(owner) { owner_.acquire(); }
    ~Call() { owner_.release(); }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

   private:
    const RustHandoff& owner_;
  };
  Call enter() const noexcept { return Call(*this); }

 private:
#ifdef MOQ_TSAN_MARKS
  void release() const noexcept { __tsan_release(const_cast<RustHandoff*>(this)); }
  void acquire() const noexcept { __tsan_acquire(const_cast<RustHandoff*>(this)); }
#else
  void release() const noexcept {}
  void acquire() const noexcept {}
#endif
};

}  // namespace detail
}  // namespace moq
