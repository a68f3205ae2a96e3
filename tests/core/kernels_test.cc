// The SIMD kernels against their definitions: every Highway target compiled into this binary and
// every kernel thread count gives the same bits, for the reductions (against the scalar
// DeterministicSum) and for whole optimizer trajectories.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "core/kernels/reduction_kernels.h"
#include "core/optimizer.h"
#include "core/optimizer_registry.h"
#include "core/parallel_for.h"
#include "core/reduction.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"

namespace basin {
namespace {

// Restores one thread and the best target however a test ends.
class KernelsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    SetKernelThreads(1);
    hwy::SetSupportedTargetsForTest(0);
  }
};

template <typename Real>
std::vector<Real> Wiggly(int64_t n, double scale, double phase) {
  std::vector<Real> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<Real>(scale * std::sin(0.37 * static_cast<double>(i) + phase));
  return v;
}

template <typename Real>
uint64_t Bits(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// n not a multiple of 16 or of a block, and past 2·kMinElementsPerThread so threads split it.
constexpr int64_t kLength = 2 * kMinElementsPerThread + 3 * kReductionBlock + 1001;

template <typename Real>
void ExpectReductionsMatchTheScalarDefinition() {
  const std::vector<Real> a = Wiggly<Real>(kLength, 3.0, 0.1);
  const std::vector<Real> b = Wiggly<Real>(kLength, 2.0, 1.3);
  const double squares = DeterministicSum(kLength, [&](int64_t i) {
    const double v = a[i];
    return v * v;
  });
  const double differences = DeterministicSum(kLength, [&](int64_t i) {
    const double v = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    return v * v;
  });
  const double scaled = DeterministicSum(kLength, [&](int64_t i) {
    const double v = std::fabs(static_cast<double>(a[i])) * b[i];
    return v * v;
  });
  int targets = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++targets;
    for (int threads : {1, 2, 3}) {
      SetKernelThreads(threads);
      const std::string where = std::string(hwy::TargetName(target)) + ", " + std::to_string(threads) + " threads";
      EXPECT_EQ(Bits<Real>(SumOfSquares<Real>(a)), Bits<Real>(squares)) << where;
      EXPECT_EQ(Bits<Real>(SumOfSquaredDifferences<Real>(a, b)), Bits<Real>(differences)) << where;
      EXPECT_EQ(Bits<Real>(SumOfScaledSquares<Real>(a, b)), Bits<Real>(scaled)) << where;
    }
  }
  EXPECT_GE(targets, 1);
}

TEST_F(KernelsTest, FloatReductionsAreTheScalarDefinitionOnEveryTargetAndThreadCount) {
  ExpectReductionsMatchTheScalarDefinition<float>();
}

TEST_F(KernelsTest, DoubleReductionsAreTheScalarDefinitionOnEveryTargetAndThreadCount) {
  ExpectReductionsMatchTheScalarDefinition<double>();
}

TEST_F(KernelsTest, ParallelForCoversEveryElementOnceInAlignedPieces) {
  for (int threads : {1, 2, 5}) {
    SetKernelThreads(threads);
    for (int64_t n : {int64_t{0}, int64_t{1}, kLength, 7 * kMinElementsPerThread + 5}) {
      std::vector<int> seen(static_cast<size_t>(n), 0);
      ParallelFor(n, 1024, [&](int64_t begin, int64_t end) {
        EXPECT_EQ(begin % 1024, 0) << "begin " << begin;
        for (int64_t i = begin; i < end; ++i) ++seen[static_cast<size_t>(i)];
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], 1) << "element " << i << " of " << n;
    }
  }
}

// f64 gradients can be finite with squares that overflow: the check must not call them bad.
TEST_F(KernelsTest, AFiniteF64GradientWhoseSquaresOverflowIsAccepted) {
  OptimizerSpec spec;
  spec.config = SgdConfig{};
  auto made = CreateOptimizer<double>(spec, ParameterLayout::Flat(4));
  ASSERT_TRUE(made.ok()) << made.status();
  const std::vector<double> g = {1e200, -1e200, 0, 1};
  EXPECT_TRUE((*made)->Tell(g, 0.5).ok());
  EXPECT_EQ((*made)->Stats().last_gradient_norm, std::numeric_limits<double>::infinity());
  const std::vector<double> bad = {1e200, std::numeric_limits<double>::quiet_NaN(), 0, 1};
  const absl::Status s = (*made)->Tell(bad, 0.5);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("element 1"), std::string::npos) << s;
}

OptimizerConfig SgdWithEverything() {
  SgdConfig c;
  c.momentum = 0.9;
  c.dampening = 0.1;
  c.nesterov = false;
  c.weight_decay = 1e-3;
  return c;
}
OptimizerConfig SgdNesterov() {
  SgdConfig c;
  c.momentum = 0.9;
  c.nesterov = true;
  return c;
}
OptimizerConfig NoisySgld() {
  SgldConfig c;
  c.temperature = 1;
  c.num_data = 100;
  c.weight_decay = 1e-3;
  return c;
}
OptimizerConfig SamAdaptiveMomentum() {
  SamConfig c;
  c.momentum = 0.9;
  c.adaptive = true;
  return c;
}
OptimizerConfig EntropySgd(EntropySgdConfig::Variant variant, double momentum) {
  EntropySgdConfig c = EntropySgdConfig::Defaults(variant);
  c.L = 3;
  c.momentum = momentum;
  c.noise = 1e-2;
  c.weight_decay = 1e-3;
  return c;
}
OptimizerConfig EmcmcNoisy(double momentum) {
  EmcmcConfig c;
  c.temperature = 1;
  c.num_data = 100;
  c.momentum = momentum;
  c.weight_decay = 1e-3;
  return c;
}

struct Trajectory {
  std::vector<std::string> names;
  std::vector<std::vector<uint8_t>> bytes;
};

// 9 ticks of a quadratic with a different curvature per element, then every state variable.
template <typename Real>
Trajectory Run(const OptimizerConfig& config) {
  OptimizerSpec spec;
  spec.config = config;
  spec.seed = 0xabc;
  const std::vector<Real> start = Wiggly<Real>(kLength, 1.0, 0.5);
  auto made = CreateOptimizer<Real>(spec, ParameterLayout::Flat(kLength), start);
  EXPECT_TRUE(made.ok()) << made.status();
  if (!made.ok()) return {};
  Optimizer<Real>& o = **made;
  std::vector<Real> g(static_cast<size_t>(kLength));
  for (int tick = 0; tick < 9; ++tick) {
    absl::Span<const Real> q = o.Query();
    for (int64_t i = 0; i < kLength; ++i) g[i] = static_cast<Real>(1 + i % 7) * q[i];
    const absl::Status s = o.Tell(g, 1.0);
    EXPECT_TRUE(s.ok()) << s;
  }
  Trajectory t;
  t.names = o.StateVariableNames();
  for (const std::string& name : t.names) {
    absl::Span<const Real> v = *o.StateVariable(name);
    const auto* p = reinterpret_cast<const uint8_t*>(v.data());
    t.bytes.emplace_back(p, p + v.size() * sizeof(Real));
  }
  return t;
}

template <typename Real>
void ExpectSameBitsEverywhere(const OptimizerConfig& config) {
  SetKernelThreads(1);
  hwy::SetSupportedTargetsForTest(0);
  const Trajectory reference = Run<Real>(config);
  ASSERT_FALSE(reference.names.empty());
  const auto expect_same = [&](const Trajectory& got, const std::string& where) {
    ASSERT_EQ(got.names, reference.names) << where;
    for (size_t v = 0; v < got.names.size(); ++v) {
      EXPECT_TRUE(got.bytes[v] == reference.bytes[v]) << got.names[v] << " differs with " << where;
    }
  };
  for (int threads : {2, 3}) {
    SetKernelThreads(threads);
    expect_same(Run<Real>(config), std::to_string(threads) + " threads");
  }
  SetKernelThreads(1);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    expect_same(Run<Real>(config), hwy::TargetName(target));
  }
}

class TrajectoryTest : public KernelsTest, public ::testing::WithParamInterface<std::pair<const char*, OptimizerConfig>> {};

TEST_P(TrajectoryTest, FloatStateIsTheSameBitsOnEveryTargetAndThreadCount) {
  ExpectSameBitsEverywhere<float>(GetParam().second);
}

TEST_P(TrajectoryTest, DoubleStateIsTheSameBitsOnEveryTargetAndThreadCount) {
  ExpectSameBitsEverywhere<double>(GetParam().second);
}

INSTANTIATE_TEST_SUITE_P(
    AllOptimizers, TrajectoryTest,
    ::testing::Values(std::make_pair("sgd_momentum_dampening", SgdWithEverything()),
                      std::make_pair("sgd_nesterov", SgdNesterov()), std::make_pair("sgld", NoisySgld()),
                      std::make_pair("sam_adaptive_momentum", SamAdaptiveMomentum()),
                      std::make_pair("entropy_sgd_lua", EntropySgd(EntropySgdConfig::Variant::kLua, 0.9)),
                      std::make_pair("entropy_sgd_paper", EntropySgd(EntropySgdConfig::Variant::kPaper, 0)),
                      std::make_pair("entropy_sgd_pytorch", EntropySgd(EntropySgdConfig::Variant::kPytorch, 0.9)),
                      std::make_pair("emcmc", EmcmcNoisy(0)), std::make_pair("emcmc_momentum", EmcmcNoisy(0.9))),
    [](const auto& info) { return std::string(info.param.first); });

}  // namespace
}  // namespace basin
