#ifndef BASIN_CORE_OPTIMIZERS_CHUNKING_H_
#define BASIN_CORE_OPTIMIZERS_CHUNKING_H_

#include <algorithm>
#include <cstdint>

namespace basin {

// Update kernels walk the parameters in chunks so a chunk's noise draws fit on the stack and stay
// in L1 while they are used. Results never depend on the chunk size: every rule is elementwise
// and the noise is keyed by element index.
inline constexpr int64_t kKernelChunk = 1024;

template <typename Body>
void ForEachKernelChunk(int64_t n, Body body) {
  for (int64_t begin = 0; begin < n; begin += kKernelChunk) body(begin, std::min(n, begin + kKernelChunk));
}

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZERS_CHUNKING_H_
