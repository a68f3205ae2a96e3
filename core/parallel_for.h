#ifndef BASIN_CORE_PARALLEL_FOR_H_
#define BASIN_CORE_PARALLEL_FOR_H_

#include <cstdint>

#include "absl/functional/function_ref.h"

namespace basin {

// How many threads one large kernel pass may use, the caller's included: a process-wide setting
// (the server's --kernel_threads), 1 until set. Set it at start-up, before passes run.
void SetKernelThreads(int threads);
int KernelThreads();

// Below this many elements a pass runs on the caller's thread alone: waking helpers costs more
// than the work.
inline constexpr int64_t kMinElementsPerThread = int64_t{1} << 17;

// Runs body(begin, end) over pieces that cover [0, n) once, each starting at a multiple of
// `alignment`, on up to KernelThreads() threads, and returns when all are done. Callers make their
// results independent of the split (elementwise updates, noise keyed by element, reductions in
// fixed blocks), so the thread count never changes a bit. Safe to call from several threads at
// once: they share one pool.
void ParallelFor(int64_t n, int64_t alignment, absl::FunctionRef<void(int64_t, int64_t)> body);

}  // namespace basin

#endif  // BASIN_CORE_PARALLEL_FOR_H_
