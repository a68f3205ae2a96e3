// Per-target code for reduction_kernels.h: 16 partial sums held in 16/N vectors of N doubles, so
// every target (N = 1, 2, 4 or 8) keeps the partials DeterministicBlockSum defines.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels/reduction_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/kernels/reduction_kernels.h"
#include "core/reduction.h"

HWY_BEFORE_NAMESPACE();
namespace basin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Doubles from Real lanes: f64 loads as is, f32 loads half as many floats and widens them.
template <class DD>
HWY_INLINE hn::Vec<DD> LoadAsDouble(DD dd, const double* p) {
  return hn::LoadU(dd, p);
}
template <class DD>
HWY_INLINE hn::Vec<DD> LoadAsDouble(DD dd, const float* p) {
  return hn::PromoteTo(dd, hn::LoadU(hn::Rebind<float, DD>(), p));
}

// term(d, i) gives the terms of elements i .. i + Lanes(d) as doubles.
template <class Term>
HWY_INLINE double BlockSum(int64_t n, const Term& term) {
  const hn::CappedTag<double, kReductionPartials> dd;
  constexpr int64_t kMaxVectors = kReductionPartials;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(dd));
  const int64_t vectors = kReductionPartials / lanes;
  hn::Vec<decltype(dd)> acc[kMaxVectors];
  for (int64_t k = 0; k < vectors; ++k) acc[k] = hn::Zero(dd);
  int64_t i = 0;
  for (; i + kReductionPartials <= n; i += kReductionPartials) {
    for (int64_t k = 0; k < vectors; ++k) acc[k] = hn::Add(acc[k], term(dd, i + k * lanes));
  }
  HWY_ALIGN double partials[kReductionPartials];
  for (int64_t k = 0; k < vectors; ++k) hn::Store(acc[k], dd, partials + k * lanes);
  const hn::CappedTag<double, 1> d1;
  for (; i < n; ++i) partials[i % kReductionPartials] += hn::GetLane(term(d1, i));
  return SumOfPartials(partials);
}

template <typename T>
HWY_INLINE double SumOfSquares(const T* HWY_RESTRICT x, int64_t n) {
  return BlockSum(n, [&](auto d, int64_t i) HWY_ATTR {
    const auto v = LoadAsDouble(d, x + i);
    return hn::Mul(v, v);
  });
}

template <typename T>
HWY_INLINE double SumOfSquaredDifferences(const T* HWY_RESTRICT a, const T* HWY_RESTRICT b, int64_t n) {
  return BlockSum(n, [&](auto d, int64_t i) HWY_ATTR {
    const auto v = hn::Sub(LoadAsDouble(d, a + i), LoadAsDouble(d, b + i));
    return hn::Mul(v, v);
  });
}

template <typename T>
HWY_INLINE double SumOfScaledSquares(const T* HWY_RESTRICT w, const T* HWY_RESTRICT g, int64_t n) {
  return BlockSum(n, [&](auto d, int64_t i) HWY_ATTR {
    const auto v = hn::Mul(hn::Abs(LoadAsDouble(d, w + i)), LoadAsDouble(d, g + i));
    return hn::Mul(v, v);
  });
}

double SquaresF32(const float* x, int64_t n) { return SumOfSquares(x, n); }
double SquaresF64(const double* x, int64_t n) { return SumOfSquares(x, n); }
double DifferencesF32(const float* a, const float* b, int64_t n) { return SumOfSquaredDifferences(a, b, n); }
double DifferencesF64(const double* a, const double* b, int64_t n) { return SumOfSquaredDifferences(a, b, n); }
double ScaledF32(const float* w, const float* g, int64_t n) { return SumOfScaledSquares(w, g, n); }
double ScaledF64(const double* w, const double* g, int64_t n) { return SumOfScaledSquares(w, g, n); }

}  // namespace HWY_NAMESPACE
}  // namespace basin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <vector>

#include "core/parallel_for.h"

namespace basin {
namespace {

// block_sum(begin, end) for every reduction block of [0, n), added in block order.
template <typename BlockSumFn>
double SumOfBlocks(int64_t n, const BlockSumFn& block_sum) {
  const int64_t blocks = (n + kReductionBlock - 1) / kReductionBlock;
  std::vector<double> sums(static_cast<size_t>(blocks));
  ParallelFor(n, kReductionBlock, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += kReductionBlock) {
      sums[static_cast<size_t>(b / kReductionBlock)] = block_sum(b, std::min(end, b + kReductionBlock));
    }
  });
  double total = 0;
  for (double s : sums) total += s;
  return total;
}

}  // namespace

HWY_EXPORT(SquaresF32);
HWY_EXPORT(SquaresF64);
HWY_EXPORT(DifferencesF32);
HWY_EXPORT(DifferencesF64);
HWY_EXPORT(ScaledF32);
HWY_EXPORT(ScaledF64);

template <>
double BlockSumOfSquares(const float* x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SquaresF32)(x, n);
}
template <>
double BlockSumOfSquares(const double* x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SquaresF64)(x, n);
}
template <>
double BlockSumOfSquaredDifferences(const float* a, const float* b, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DifferencesF32)(a, b, n);
}
template <>
double BlockSumOfSquaredDifferences(const double* a, const double* b, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DifferencesF64)(a, b, n);
}
template <>
double BlockSumOfScaledSquares(const float* w, const float* g, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(ScaledF32)(w, g, n);
}
template <>
double BlockSumOfScaledSquares(const double* w, const double* g, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(ScaledF64)(w, g, n);
}

template <typename Real>
double SumOfSquares(absl::Span<const Real> x) {
  return SumOfBlocks(static_cast<int64_t>(x.size()),
                     [&](int64_t begin, int64_t end) { return BlockSumOfSquares(x.data() + begin, end - begin); });
}

template <typename Real>
double SumOfSquaredDifferences(absl::Span<const Real> a, absl::Span<const Real> b) {
  return SumOfBlocks(static_cast<int64_t>(a.size()), [&](int64_t begin, int64_t end) {
    return BlockSumOfSquaredDifferences(a.data() + begin, b.data() + begin, end - begin);
  });
}

template <typename Real>
double SumOfScaledSquares(absl::Span<const Real> w, absl::Span<const Real> g) {
  return SumOfBlocks(static_cast<int64_t>(w.size()), [&](int64_t begin, int64_t end) {
    return BlockSumOfScaledSquares(w.data() + begin, g.data() + begin, end - begin);
  });
}

template double SumOfSquares<float>(absl::Span<const float>);
template double SumOfSquares<double>(absl::Span<const double>);
template double SumOfSquaredDifferences<float>(absl::Span<const float>, absl::Span<const float>);
template double SumOfSquaredDifferences<double>(absl::Span<const double>, absl::Span<const double>);
template double SumOfScaledSquares<float>(absl::Span<const float>, absl::Span<const float>);
template double SumOfScaledSquares<double>(absl::Span<const double>, absl::Span<const double>);

}  // namespace basin
#endif
