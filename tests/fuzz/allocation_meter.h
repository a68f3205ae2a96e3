#ifndef BASIN_TESTS_FUZZ_ALLOCATION_METER_H_
#define BASIN_TESTS_FUZZ_ALLOCATION_METER_H_

#include <cstddef>
#include <cstdint>

// How much the heap grew at most while a meter lived: the largest (bytes allocated − bytes freed)
// since it was made. It reads the sanitizer allocator's hooks, so it measures only in ASan builds
// (the `fuzz` and `asan` presets); elsewhere available() is false and targets skip the checks
// that need it.

#if defined(__SANITIZE_ADDRESS__)
#define BASIN_ALLOCATION_METER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BASIN_ALLOCATION_METER 1
#endif
#endif

#if defined(BASIN_ALLOCATION_METER)
// The sanitizer runtime's allocator interface (<sanitizer/allocator_interface.h>, which GCC does
// not ship; GCC's libasan exports the same functions).
extern "C" {
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, size_t),
                                              void (*free_hook)(const volatile void*));
size_t __sanitizer_get_allocated_size(const volatile void* p);
}
#endif

namespace basin::fuzz {

// One at a time, on one thread (the allocations of other threads count too).
class AllocationMeter {
 public:
  static constexpr bool available() {
#if defined(BASIN_ALLOCATION_METER)
    return true;
#else
    return false;
#endif
  }

  AllocationMeter() {
#if defined(BASIN_ALLOCATION_METER)
    static const bool installed = __sanitizer_install_malloc_and_free_hooks(&OnMalloc, &OnFree) != 0;
    (void)installed;
    current_ = 0;
    peak_ = 0;
    active_ = true;
#endif
  }
  ~AllocationMeter() { active_ = false; }
  AllocationMeter(const AllocationMeter&) = delete;
  AllocationMeter& operator=(const AllocationMeter&) = delete;

  int64_t peak_bytes() const { return peak_; }

 private:
#if defined(BASIN_ALLOCATION_METER)
  static void OnMalloc(const volatile void*, size_t size) {
    if (!active_) return;
    current_ += static_cast<int64_t>(size);
    if (current_ > peak_) peak_ = current_;
  }
  static void OnFree(const volatile void* p) {
    if (active_) current_ -= static_cast<int64_t>(__sanitizer_get_allocated_size(p));
  }
#endif

  static inline bool active_ = false;
  static inline int64_t current_ = 0;
  static inline int64_t peak_ = 0;
};

}  // namespace basin::fuzz

#endif  // BASIN_TESTS_FUZZ_ALLOCATION_METER_H_
