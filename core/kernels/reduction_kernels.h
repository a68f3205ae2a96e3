#ifndef BASIN_CORE_KERNELS_REDUCTION_KERNELS_H_
#define BASIN_CORE_KERNELS_REDUCTION_KERNELS_H_

#include <cstdint>

#include "absl/types/span.h"

namespace basin {

// Vectorized sums over one reduction block [0, n), n ≤ kReductionBlock, in exactly the order of
// DeterministicBlockSum (core/reduction.h); terms in double. Callers add block sums in block order.

// Σ x².
template <typename Real>
double BlockSumOfSquares(const Real* x, int64_t n);
// Σ (a − b)².
template <typename Real>
double BlockSumOfSquaredDifferences(const Real* a, const Real* b, int64_t n);
// Σ (|w|·g)², SAM's adaptive ascent norm.
template <typename Real>
double BlockSumOfScaledSquares(const Real* w, const Real* g, int64_t n);

// Over whole vectors: the blocks split across the kernel threads (core/parallel_for.h), block sums
// added in block order. The same bits as DeterministicSum with the same terms.
template <typename Real>
double SumOfSquares(absl::Span<const Real> x);
template <typename Real>
double SumOfSquaredDifferences(absl::Span<const Real> a, absl::Span<const Real> b);
template <typename Real>
double SumOfScaledSquares(absl::Span<const Real> w, absl::Span<const Real> g);

}  // namespace basin

#endif  // BASIN_CORE_KERNELS_REDUCTION_KERNELS_H_
