#ifndef BASIN_CORE_REDUCTION_H_
#define BASIN_CORE_REDUCTION_H_

#include <algorithm>
#include <cstdint>

namespace basin {

// Sums term(i) for i in [0, n) in double, in fixed blocks summed in block order. Any split of the
// blocks across threads gives the same bits, which keeps norms (SAM's ε, statistics) reproducible.
inline constexpr int64_t kReductionBlock = 4096;

template <typename Term>
double DeterministicSum(int64_t n, Term term) {
  double total = 0;
  for (int64_t block = 0; block < n; block += kReductionBlock) {
    const int64_t end = std::min(n, block + kReductionBlock);
    double partial = 0;
    for (int64_t i = block; i < end; ++i) partial += term(i);
    total += partial;
  }
  return total;
}

}  // namespace basin

#endif  // BASIN_CORE_REDUCTION_H_
