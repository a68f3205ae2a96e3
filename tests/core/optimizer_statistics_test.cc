// Noise-on checks against stationary laws. Each coordinate of a diagonal quadratic is an
// independent chain, so one run of d coordinates gives d draws per snapshot; snapshots are taken
// several relaxation times apart so they are nearly independent too.
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/optimizer_registry.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

// Mean of x² over all coordinates and snapshots (the chains start at 0 and have mean 0).
template <typename Real>
double StationaryVariance(Optimizer<Real>& o, double a, int burn_in, int snapshots, int spacing, bool anchor) {
  const int64_t d = o.dimension();
  std::vector<Real> g(static_cast<std::size_t>(d));
  auto step = [&] {
    absl::Span<const Real> q = o.Query();
    for (int64_t i = 0; i < d; ++i) g[i] = static_cast<Real>(a) * q[i];
    ASSERT_TRUE(o.Tell(g, 0).ok());
  };
  for (int k = 0; k < burn_in; ++k) step();
  double sum = 0;
  for (int s = 0; s < snapshots; ++s) {
    for (int k = 0; k < spacing; ++k) step();
    absl::Span<const Real> v = anchor ? o.Anchor() : o.Model();
    for (int64_t i = 0; i < d; ++i) sum += static_cast<double>(v[i]) * v[i];
  }
  return sum / (static_cast<double>(d) * snapshots);
}

TEST(SgldStatisticsTest, StationaryVarianceIsTemperatureOverCurvature) {
  // θ' = (1 − αa)θ + √(2αT)ξ has variance T/(a(1 − αa/2)); α·a = 0.01 keeps that 0.5% off T/a.
  // With α·a fixed the cases are one experiment rescaled, so each gets its own seed.
  uint64_t seed = 7;
  for (double a : {1.0, 4.0}) {
    for (double temperature : {0.5, 2.0}) {
      SgldConfig c;
      c.lr = 0.01 / a;
      c.temperature = temperature;
      OptimizerSpec spec;
      spec.config = c;
      spec.seed = seed++;
      auto o = CreateOptimizer<double>(spec, ParameterLayout::Flat(20000));
      ASSERT_TRUE(o.ok());
      const double var = StationaryVariance(**o, a, 500, 5, 200, false);
      const double expected = temperature / a;
      std::printf("a %g T %g: var(θ) / (T/a) = %.4f\n", a, temperature, var / expected);
      EXPECT_NEAR(var / expected, 1.0, 0.05) << "a " << a << " T " << temperature << " var " << var;
    }
  }
}

TEST(SgldStatisticsTest, FloatStateHasTheSameLaw) {
  SgldConfig c;
  c.lr = 0.01;
  c.temperature = 1;
  OptimizerSpec spec;
  spec.config = c;
  spec.seed = 8;
  auto o = CreateOptimizer<float>(spec, ParameterLayout::Flat(20000));
  ASSERT_TRUE(o.ok());
  EXPECT_NEAR(StationaryVariance(**o, 1.0, 500, 5, 200, false), 1.0, 0.05);
}

TEST(EmcmcStatisticsTest, AnchorMarginalIsWidenedByEta) {
  // p(θ, θa) ∝ exp(−aθ²/2 − (θ − θa)²/(2η)) at T = 1: θ ~ N(0, 1/a), θa ~ N(0, 1/a + η).
  // α times the stiffest curvature is 0.04, which biases the variances by about 1%; snapshots are
  // two relaxation times of the slowest mode apart.
  struct Case {
    double a, eta;
  };
  for (Case k : {Case{1, 1}, Case{4, 0.5}}) {
    EmcmcConfig c = EmcmcConfig::PaperDefaults();
    c.lr = 0.04 / (k.a + 2 / k.eta);
    c.eta = k.eta;
    c.temperature = 1;
    OptimizerSpec spec;
    spec.config = c;
    spec.seed = 9;
    auto o = CreateOptimizer<double>(spec, ParameterLayout::Flat(10000));
    ASSERT_TRUE(o.ok());
    // Relaxation time of the slow mode in steps.
    const double slow_rate = ((k.a + 2 / k.eta) - std::sqrt(k.a * k.a + 4 / (k.eta * k.eta))) / 2;
    const int spacing = static_cast<int>(2 / (c.lr * slow_rate));
    const double var_anchor = StationaryVariance(**o, k.a, 2 * spacing, 6, spacing, true);
    std::printf("a %g eta %g: var(θa) / (1/a + η) = %.4f\n", k.a, k.eta, var_anchor / (1 / k.a + k.eta));
    const double expected_anchor = 1 / k.a + k.eta;
    EXPECT_NEAR(var_anchor / expected_anchor, 1.0, 0.05) << "a " << k.a << " η " << k.eta << " var θa " << var_anchor;
    double var_theta = 0;
    for (double v : (*o)->Model()) var_theta += v * v;
    var_theta /= static_cast<double>((*o)->dimension());
    EXPECT_NEAR(var_theta * k.a, 1.0, 0.08) << "θ keeps the posterior N(0, 1/a): var " << var_theta;
  }
}

}  // namespace
}  // namespace basin
