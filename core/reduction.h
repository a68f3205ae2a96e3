#ifndef BASIN_CORE_REDUCTION_H_
#define BASIN_CORE_REDUCTION_H_

#include <algorithm>
#include <cstdint>

namespace basin {

// The one summation order for every reduction whose result must be reproducible (norms for
// statistics, SAM's ε, distances): terms in double, in fixed blocks of kReductionBlock summed in
// block order. Within a block, term i goes to partial (i − block start) mod 16, each partial
// accumulates in index order, and the 16 partials add up as a balanced pairwise tree. Any split of
// the blocks across threads, and any SIMD width that divides 16, gives the same bits; the
// vectorized kernels in core/kernels/reduction_kernels.h compute exactly this.
inline constexpr int64_t kReductionBlock = 4096;
inline constexpr int kReductionPartials = 16;

inline double SumOfPartials(const double (&p)[kReductionPartials]) {
  const auto pair = [&](int i) { return p[i] + p[i + 1]; };
  const auto quad = [&](int i) { return pair(i) + pair(i + 2); };
  return (quad(0) + quad(4)) + (quad(8) + quad(12));
}

template <typename Term>
double DeterministicBlockSum(int64_t begin, int64_t end, Term term) {
  double partials[kReductionPartials] = {};
  for (int64_t i = begin; i < end; ++i) partials[(i - begin) % kReductionPartials] += term(i);
  return SumOfPartials(partials);
}

template <typename Term>
double DeterministicSum(int64_t n, Term term) {
  double total = 0;
  for (int64_t block = 0; block < n; block += kReductionBlock) {
    total += DeterministicBlockSum(block, std::min(n, block + kReductionBlock), term);
  }
  return total;
}

}  // namespace basin

#endif  // BASIN_CORE_REDUCTION_H_
