#ifndef BASIN_TESTS_CORE_OPTIMIZER_TEST_UTIL_H_
#define BASIN_TESTS_CORE_OPTIMIZER_TEST_UTIL_H_

#include <cmath>
#include <memory>
#include <vector>

#include "core/optimizer.h"
#include "core/optimizer_registry.h"
#include "gtest/gtest.h"

namespace basin::testing {

// Relative tolerance of the ALGORITHMS.md vectors: 1e-9 in f64, 1e-5 in f32.
template <typename Real>
constexpr double kVectorTolerance = sizeof(Real) == 8 ? 1e-9 : 1e-5;

template <typename Real>
std::unique_ptr<Optimizer<Real>> MakeOptimizer(OptimizerConfig config, std::vector<double> initial,
                                               uint64_t seed = 0) {
  OptimizerSpec spec;
  spec.config = std::move(config);
  spec.seed = seed;
  std::vector<Real> x(initial.begin(), initial.end());
  auto made = CreateOptimizer<Real>(spec, ParameterLayout::Flat(static_cast<int64_t>(x.size())), x);
  EXPECT_TRUE(made.ok()) << made.status();
  return made.ok() ? std::move(*made) : nullptr;
}

// One tick of f(x) = ½ Σ a_i x_i² (mean loss of a "dataset" whose gradient is exact).
template <typename Real>
void TickQuadratic(Optimizer<Real>& o, const std::vector<double>& a) {
  absl::Span<const Real> q = o.Query();
  std::vector<Real> g(q.size());
  double loss = 0;
  for (std::size_t i = 0; i < q.size(); ++i) {
    g[i] = static_cast<Real>(a[i]) * q[i];
    loss += 0.5 * a[i] * static_cast<double>(q[i]) * q[i];
  }
  absl::Status s = o.Tell(g, loss);
  ASSERT_TRUE(s.ok()) << s;
}

template <typename Real>
void StepQuadratic(Optimizer<Real>& o, const std::vector<double>& a) {
  for (int64_t k = 0; k < o.ticks_per_step(); ++k) TickQuadratic(o, a);
}

inline ::testing::AssertionResult NearRelative(double actual, double expected, double tolerance) {
  const double error = std::fabs(actual - expected);
  if (error <= tolerance * std::fabs(expected)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "actual " << actual << " expected " << expected << " relative error "
                                       << error / std::fabs(expected) << " > " << tolerance;
}

}  // namespace basin::testing

#endif  // BASIN_TESTS_CORE_OPTIMIZER_TEST_UTIL_H_
