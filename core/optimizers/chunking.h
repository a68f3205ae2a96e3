#ifndef BASIN_CORE_OPTIMIZERS_CHUNKING_H_
#define BASIN_CORE_OPTIMIZERS_CHUNKING_H_

#include <algorithm>
#include <cstdint>

#include "core/parallel_for.h"

namespace basin {

// Update kernels walk the parameters in chunks so a chunk's noise draws fit on the stack and stay
// in L1 while they are used; large tensors are split across the kernel threads in whole chunks.
// Results never depend on the chunk size or the thread count: every rule is elementwise and the
// noise is keyed by element index. `body` runs concurrently on different chunks, so it keeps its
// scratch (noise draws) in its own frame.
inline constexpr int64_t kKernelChunk = 1024;

template <typename Body>
void ForEachKernelChunk(int64_t n, Body body) {
  ParallelFor(n, kKernelChunk, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; chunk += kKernelChunk) body(chunk, std::min(end, chunk + kKernelChunk));
  });
}

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZERS_CHUNKING_H_
