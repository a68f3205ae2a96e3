#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <numbers>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "core/objectives/logistic_regression.h"
#include "core/objectives/objective.h"
#include "core/objectives/objective_spec.h"
#include "core/objectives/quadratic.h"
#include "core/objectives/sigmoid_entropy.h"
#include "core/objectives/two_mode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

// Central differences with h = 1e-6. The tolerance is 1e-6 relative, plus a floor for the
// rounding of the loss itself (about ε·|f|/h, with room for sums over a batch).
void ExpectGradientMatchesFiniteDifferences(const Objective& objective, std::vector<double> x,
                                            const SampleKey& sample, const std::string& where) {
  SCOPED_TRACE(where);
  ASSERT_EQ(static_cast<int64_t>(x.size()), objective.dimension());
  std::vector<double> gradient(x.size());
  const double loss = objective.Evaluate(x, absl::MakeSpan(gradient), sample);
  ASSERT_TRUE(std::isfinite(loss)) << loss;
  EXPECT_EQ(objective.Evaluate(x, {}, sample), loss) << "loss depends on asking for a gradient";
  constexpr double kStep = 1e-6;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + kStep;
    const double up = objective.Evaluate(x, {}, sample);
    x[i] = saved - kStep;
    const double down = objective.Evaluate(x, {}, sample);
    x[i] = saved;
    const double step = (saved + kStep) - (saved - kStep);  // the step actually taken
    const double difference = (up - down) / step;
    const double tolerance = 1e-6 * std::max(std::abs(gradient[i]), std::abs(difference)) +
                             1e-7 * std::max(1.0, std::abs(loss));
    ASSERT_TRUE(std::isfinite(gradient[i])) << "element " << i;
    EXPECT_NEAR(gradient[i], difference, tolerance) << "element " << i;
  }
}

std::vector<double> RandomPoint(std::mt19937_64& rng, std::size_t size, double scale) {
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> x(size);
  for (double& v : x) v = normal(rng);
  return x;
}

// ---------------------------------------------------------------------------------------------
// Quadratic

TEST(QuadraticTest, LossAndGradientAtAKnownPoint) {
  auto objective = QuadraticObjective::Create({1.0, 4.0, 10.0}, {1.0, -1.0, 0.5});
  ASSERT_TRUE(objective.ok()) << objective.status();
  EXPECT_EQ((*objective)->name(), "quadratic");
  EXPECT_EQ((*objective)->dimension(), 3);
  std::vector<double> gradient(3);
  const double loss = (*objective)->Evaluate({0.0, 0.0, 0.0}, absl::MakeSpan(gradient), {});
  EXPECT_DOUBLE_EQ(loss, 0.5 * (1.0 + 4.0 + 10.0 * 0.25));
  EXPECT_THAT(gradient, ::testing::ElementsAre(-1.0, 4.0, -5.0));
  EXPECT_EQ((*objective)->Evaluate({1.0, -1.0, 0.5}, {}, {}), 0.0);
}

TEST(QuadraticTest, GradientMatchesFiniteDifferences) {
  auto objective = QuadraticObjective::Create({0.5, 2.0, 30.0, 1e3}, {0.1, -0.2, 3.0, 0.0});
  ASSERT_TRUE(objective.ok()) << objective.status();
  std::mt19937_64 rng(1);
  for (int trial = 0; trial < 5; ++trial) {
    ExpectGradientMatchesFiniteDifferences(**objective, RandomPoint(rng, 4, 2.0), {},
                                           "trial " + std::to_string(trial));
  }
}

TEST(QuadraticTest, GradientNoiseIsKeyedBySampleAndHasTheRequestedStd) {
  constexpr int kSize = 4000;
  constexpr double kStd = 0.3;
  auto objective = QuadraticObjective::Create(std::vector<double>(kSize, 2.0), {}, kStd);
  ASSERT_TRUE(objective.ok()) << objective.status();
  const std::vector<double> x(kSize, 1.0);  // exact gradient 2 everywhere, loss kSize
  std::vector<double> first(kSize), again(kSize), next_tick(kSize), other_seed(kSize);
  EXPECT_EQ((*objective)->Evaluate(x, absl::MakeSpan(first), {.seed = 7, .tick = 3}), kSize);
  (*objective)->Evaluate(x, absl::MakeSpan(again), {.seed = 7, .tick = 3});
  (*objective)->Evaluate(x, absl::MakeSpan(next_tick), {.seed = 7, .tick = 4});
  (*objective)->Evaluate(x, absl::MakeSpan(other_seed), {.seed = 8, .tick = 3});
  EXPECT_EQ(first, again);
  EXPECT_NE(first, next_tick);
  EXPECT_NE(first, other_seed);

  double sum = 0, sum_squares = 0;
  for (double g : first) {
    sum += (g - 2.0) / kStd;
    sum_squares += (g - 2.0) * (g - 2.0) / (kStd * kStd);
  }
  const double mean = sum / kSize;
  EXPECT_NEAR(mean, 0.0, 0.08);  // 5 standard errors
  EXPECT_NEAR(std::sqrt(sum_squares / kSize - mean * mean), 1.0, 0.06);
}

TEST(QuadraticTest, RejectsBadArguments) {
  EXPECT_THAT(std::string(QuadraticObjective::Create({}).status().message()), HasSubstr("none"));
  EXPECT_THAT(std::string(QuadraticObjective::Create({1.0, 0.0}).status().message()),
              HasSubstr("curvature 1 must be finite and > 0, got 0"));
  EXPECT_THAT(std::string(QuadraticObjective::Create({1.0}, {1.0, 2.0}).status().message()),
              HasSubstr("center has 2 elements"));
  EXPECT_THAT(std::string(QuadraticObjective::Create({1.0}, {}, -1.0).status().message()),
              HasSubstr("gradient_noise_std must be finite and >= 0, got -1"));
}

// ---------------------------------------------------------------------------------------------
// Two-mode landscape

std::unique_ptr<TwoModeLandscape> DefaultLandscape() {
  auto landscape = TwoModeLandscape::Create();
  EXPECT_TRUE(landscape.ok()) << landscape.status();
  return *std::move(landscape);
}

// Along the axis through both centers, E_s = E_f where 50(t + 2)² = 1 + (t − 2)²/2.
const double kRidge = (-202.0 + std::sqrt(1798.0)) / 99.0;

TEST(TwoModeTest, GradientMatchesFiniteDifferences) {
  const auto landscape = DefaultLandscape();
  std::mt19937_64 rng(2);
  for (int trial = 0; trial < 6; ++trial) {
    ExpectGradientMatchesFiniteDifferences(*landscape, RandomPoint(rng, 2, 2.5), {},
                                           "random " + std::to_string(trial));
  }
  // Near the ridge both wells contribute and the responsibilities change fastest.
  for (double dt : {-0.01, -1e-3, 0.0, 1e-3, 0.01}) {
    ExpectGradientMatchesFiniteDifferences(*landscape, {kRidge + dt, 0.0}, {},
                                           "ridge " + std::to_string(dt));
    ExpectGradientMatchesFiniteDifferences(*landscape, {kRidge + dt, 0.3}, {},
                                           "off-axis ridge " + std::to_string(dt));
  }
  ExpectGradientMatchesFiniteDifferences(*landscape, {50.0, 50.0}, {}, "far");
  ExpectGradientMatchesFiniteDifferences(*landscape, {-40.0, 70.0}, {}, "far, sharp side");

  auto three_d = TwoModeLandscape::Create(TwoModeParams::Defaults(3));
  ASSERT_TRUE(three_d.ok()) << three_d.status();
  for (int trial = 0; trial < 4; ++trial) {
    ExpectGradientMatchesFiniteDifferences(**three_d, RandomPoint(rng, 3, 2.0), {},
                                           "3-D " + std::to_string(trial));
  }
}

TEST(TwoModeTest, FarFromBothModesIsFiniteAndFollowsTheFlatWell) {
  const auto landscape = DefaultLandscape();
  for (const std::vector<double>& theta :
       {std::vector<double>{50.0, 50.0}, {-300.0, 1000.0}, {1e5, -1e5}}) {
    std::vector<double> gradient(2);
    const double loss = landscape->Evaluate(theta, absl::MakeSpan(gradient), {});
    ASSERT_TRUE(std::isfinite(loss) && std::isfinite(gradient[0]) && std::isfinite(gradient[1]))
        << theta[0] << ", " << theta[1];
    // exp(−E_s) underflows to nothing next to exp(−E_f): U is the flat well alone.
    EXPECT_DOUBLE_EQ(loss, landscape->ModeEnergy(TwoModeLandscape::Mode::kFlat, theta));
    EXPECT_DOUBLE_EQ(gradient[0], theta[0] - 2.0);
    EXPECT_DOUBLE_EQ(gradient[1], theta[1]);
  }
}

TEST(TwoModeTest, MinimaAreAtTheCentersAndTheSharpOneIsDeeper) {
  const auto landscape = DefaultLandscape();
  // Gradient descent from near each center, with a step below 2/a_s.
  auto descend = [&](std::vector<double> theta) {
    std::vector<double> gradient(2);
    for (int step = 0; step < 3000; ++step) {
      landscape->Evaluate(theta, absl::MakeSpan(gradient), {});
      for (int i = 0; i < 2; ++i) theta[i] -= 0.009 * gradient[i];
    }
    landscape->Evaluate(theta, absl::MakeSpan(gradient), {});
    EXPECT_LT(std::hypot(gradient[0], gradient[1]), 1e-10);
    return theta;
  };
  const std::vector<double> sharp = descend({-1.9, 0.1});
  const std::vector<double> flat = descend({1.0, -1.0});
  // The flat well pulls the sharp minimum by r_f·4/a_s ≈ 5e-6 towards it; the sharp well does not
  // reach the flat minimum at all (r_s ≈ e^{−799}).
  EXPECT_NEAR(sharp[0], -2.0, 1e-5);
  EXPECT_GT(sharp[0], -2.0);
  EXPECT_NEAR(sharp[1], 0.0, 1e-12);
  EXPECT_NEAR(flat[0], 2.0, 1e-9);
  EXPECT_NEAR(flat[1], 0.0, 1e-9);
  const double sharp_depth = landscape->Evaluate(sharp, {}, {});
  const double flat_depth = landscape->Evaluate(flat, {}, {});
  EXPECT_NEAR(sharp_depth, 0.0, 1e-3);  // c_s, less the flat well's tiny share
  EXPECT_NEAR(flat_depth, 1.0, 1e-12);  // c_f
  EXPECT_LT(sharp_depth, flat_depth);
}

TEST(TwoModeTest, ModeMassesAtUnitTemperature) {
  const auto landscape = DefaultLandscape();
  using Mode = TwoModeLandscape::Mode;
  EXPECT_NEAR(landscape->ModeMass(Mode::kSharp), 0.0628, 1e-3);
  EXPECT_NEAR(landscape->ModeMass(Mode::kFlat), 2.311, 1e-3);
  EXPECT_DOUBLE_EQ(landscape->ModeMass(Mode::kSharp), 2 * std::numbers::pi / 100);
  EXPECT_DOUBLE_EQ(landscape->ModeMass(Mode::kFlat), std::exp(-1.0) * 2 * std::numbers::pi);

  // (2π/a)^{d/2}: a square root in one dimension.
  auto one_d = TwoModeLandscape::Create(TwoModeParams::Defaults(1));
  ASSERT_TRUE(one_d.ok()) << one_d.status();
  EXPECT_DOUBLE_EQ((*one_d)->ModeMass(Mode::kSharp), std::sqrt(2 * std::numbers::pi / 100));
}

TEST(TwoModeTest, ModeHelpersAgreeWithTheRidge) {
  const auto landscape = DefaultLandscape();
  using Mode = TwoModeLandscape::Mode;
  EXPECT_NEAR(landscape->SharpResponsibility({kRidge, 0.0}), 0.5, 1e-12);
  EXPECT_EQ(landscape->DominantMode({kRidge - 0.01, 0.0}), Mode::kSharp);
  EXPECT_EQ(landscape->DominantMode({kRidge + 0.01, 0.0}), Mode::kFlat);
  EXPECT_EQ(landscape->SharpResponsibility({-2.0, 0.0}), 1.0 / (1.0 + std::exp(-9.0)));
  // At (−0.5, 0) the sharp center is nearer, but the point is deep in the flat basin.
  EXPECT_EQ(landscape->NearestCenter({-0.5, 0.0}), Mode::kSharp);
  EXPECT_EQ(landscape->DominantMode({-0.5, 0.0}), Mode::kFlat);
  EXPECT_EQ(landscape->NearestCenter({0.5, 0.0}), Mode::kFlat);
}

TEST(TwoModeTest, RejectsBadParams) {
  TwoModeParams params;
  params.sharp_curvature = 0;
  EXPECT_THAT(std::string(TwoModeLandscape::Create(params).status().message()),
              HasSubstr("two_mode.sharp_curvature must be finite and > 0, got 0"));
  params = TwoModeParams();
  params.flat_center = {1.0, 2.0, 3.0};
  EXPECT_THAT(std::string(TwoModeLandscape::Create(params).status().message()),
              HasSubstr("centers differ in size"));
  params = TwoModeParams();
  params.flat_offset = std::nan("");
  EXPECT_EQ(TwoModeLandscape::Create(params).status().code(), absl::StatusCode::kInvalidArgument);
  params = TwoModeParams();
  params.sharp_center.clear();
  EXPECT_THAT(std::string(TwoModeLandscape::Create(params).status().message()),
              HasSubstr("sharp_center is empty"));
}

// ---------------------------------------------------------------------------------------------
// Sigmoid entropy functional (ALGORITHMS.md §4)

struct EntropyRow {
  double z;
  double entropy;
  double derivative;
};

// ALGORITHMS.md §4.3.
constexpr EntropyRow kEntropyTable[] = {
    {0.0, 1.0, 0.0},
    {0.5, 0.956286539380729, -0.169519345091869},
    {-0.5, 0.956286539380729, 0.169519345091869},
    {1.0, 0.839941537983169, -0.283651061067078},
    {-1.0, 0.839941537983169, 0.283651061067078},
    {2.0, 0.527065341003162, -0.302947449973581},
    {5.0, 0.0579669141524662, -0.0479555919524888},
    {-5.0, 0.0579669141524662, 0.0479555919524888},
    {20.0, 6.24459381760049e-08, -5.94723219468854e-08},
    {40.0, 2.51292264257997e-16, -2.45163184641948e-16},
    {100.0, 5.42060451395879e-42, -5.36693516233543e-42},
};

TEST(SigmoidEntropyTest, ReproducesTheTableOfSection43) {
  for (const EntropyRow& row : kEntropyTable) {
    SCOPED_TRACE(row.z);
    // The table prints 15 significant digits; the tiny tails are checked to 1e-9.
    const double relative = std::abs(row.z) >= 20 ? 1e-9 : 1e-12;
    EXPECT_NEAR(BinaryEntropyBits(row.z), row.entropy, relative * std::abs(row.entropy));
    EXPECT_NEAR(BinaryEntropyBitsDerivative(row.z), row.derivative,
                relative * std::abs(row.derivative));
  }
  EXPECT_EQ(BinaryEntropyBits(0.0), 1.0);
  EXPECT_EQ(BinaryEntropyBitsDerivative(0.0), 0.0);
}

TEST(SigmoidEntropyTest, EvenWithAnOddDerivativeAndNoUnderflowToZero) {
  for (double z : {1e-8, 0.3, 1.5434, 7.0, 36.0, 38.0, 300.0, 700.0}) {
    EXPECT_EQ(BinaryEntropyBits(z), BinaryEntropyBits(-z)) << z;
    EXPECT_EQ(BinaryEntropyBitsDerivative(z), -BinaryEntropyBitsDerivative(-z)) << z;
    EXPECT_GT(BinaryEntropyBits(z), 0.0) << z;  // the naive formula returns 0 from z ≈ 37
    EXPECT_LE(BinaryEntropyBits(z), 1.0) << z;
  }
  EXPECT_EQ(BinaryEntropyBits(1e4), 0.0);
  EXPECT_EQ(BinaryEntropyBits(std::numeric_limits<double>::infinity()), 0.0);
  // |dH/dz| peaks at the root of z·tanh(z/2) = 1.
  EXPECT_NEAR(BinaryEntropyBitsDerivative(1.5434), -0.322978, 1e-6);
}

TEST(SigmoidEntropyTest, DerivativeMatchesFiniteDifferences) {
  for (double z : {-12.0, -3.0, -0.7, 0.0, 0.2, 1.5, 4.0, 9.0}) {
    const double h = 1e-6;
    const double difference = (BinaryEntropyBits(z + h) - BinaryEntropyBits(z - h)) / (2 * h);
    EXPECT_NEAR(BinaryEntropyBitsDerivative(z), difference, 1e-9) << z;
  }
}

TEST(SigmoidEntropyTest, SingleNeuronExampleThroughTheLayerGradient) {
  SigmoidLayerData data{.num_examples = 1, .num_inputs = 3, .inputs = {1.0, -2.0, 0.5}};
  auto layer = SigmoidEntropyObjective::Create(std::move(data));
  ASSERT_TRUE(layer.ok()) << layer.status();
  ASSERT_EQ((*layer)->dimension(), 7);
  const std::vector<double> x = {0.3, 0.1, -0.2,   // W
                                 0.05, 0.0, 0.1,   // G
                                 0.1};             // b
  std::vector<double> gradient(7);
  const double loss = (*layer)->Evaluate(x, absl::MakeSpan(gradient), {});
  EXPECT_NEAR(loss, 0.992822432550573, 1e-12 * 0.992822432550573);
  const double dh_dz = -0.0714181863978466;
  const double dh_dw[3] = {-0.0714181863978466, 0.142836372795693, -0.0357090931989233};
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(gradient[j], dh_dw[j], 1e-12 * std::abs(dh_dw[j])) << "W " << j;
    EXPECT_EQ(gradient[3 + j], gradient[j]) << "G " << j;
  }
  EXPECT_NEAR(gradient[6], dh_dz, 1e-12 * std::abs(dh_dz));
}

TEST(SigmoidEntropyTest, GradientMatchesFiniteDifferences) {
  std::mt19937_64 rng(3);
  for (bool with_targets : {false, true}) {
    for (int64_t batch_size : {int64_t{0}, int64_t{5}}) {
      auto data = MakeSyntheticSigmoidLayerData(11, 20, 4, 3, with_targets, 0.2);
      ASSERT_TRUE(data.ok()) << data.status();
      auto layer = SigmoidEntropyObjective::Create(
          *std::move(data),
          {.num_outputs = 3, .entropy_weight = 0.7, .batch_size = batch_size});
      ASSERT_TRUE(layer.ok()) << layer.status();
      ASSERT_EQ((*layer)->dimension(), 2 * 3 * 4 + 3);
      for (int trial = 0; trial < 3; ++trial) {
        ExpectGradientMatchesFiniteDifferences(
            **layer, RandomPoint(rng, 27, 0.8), {.seed = 5, .tick = static_cast<uint64_t>(trial)},
            "targets " + std::to_string(with_targets) + " batch " + std::to_string(batch_size) +
                " trial " + std::to_string(trial));
      }
    }
  }
}

TEST(SigmoidEntropyTest, LossIsCrossEntropyPlusWeightedEntropy) {
  SigmoidLayerData data{.num_examples = 2, .num_inputs = 1, .inputs = {1.0, -1.0},
                        .targets = {1.0, 0.25}};
  auto layer = SigmoidEntropyObjective::Create(data, {.entropy_weight = 2.0});
  ASSERT_TRUE(layer.ok()) << layer.status();
  // W + G = 0.75 and b = 0.5, so z = 1.25 for x = 1 and −0.25 for x = −1.
  const std::vector<double> x = {0.5, 0.25, 0.5};
  auto bce = [](double y, double z) {
    const double p = 1.0 / (1.0 + std::exp(-z));
    return -y * std::log(p) - (1 - y) * std::log(1 - p);
  };
  const double expected =
      0.5 * (bce(1.0, 1.25) + bce(0.25, -0.25)) +
      2.0 * 0.5 * (BinaryEntropyBits(1.25) + BinaryEntropyBits(-0.25));
  EXPECT_NEAR((*layer)->Evaluate(x, {}, {}), expected, 1e-14);
}

TEST(SigmoidEntropyTest, InitialPointIsReproducibleAndNotStationary) {
  auto data = MakeSyntheticSigmoidLayerData(1, 16, 5, 2, false, 0.0);
  ASSERT_TRUE(data.ok()) << data.status();
  auto layer = SigmoidEntropyObjective::Create(*data, {.num_outputs = 2, .init_seed = 9});
  ASSERT_TRUE(layer.ok()) << layer.status();
  const std::vector<double> x0 = (*layer)->InitialPoint();
  EXPECT_EQ(x0, (*layer)->InitialPoint());
  std::vector<double> gradient(x0.size());
  (*layer)->Evaluate(x0, absl::MakeSpan(gradient), {});
  double norm = 0;
  for (double g : gradient) norm += g * g;
  EXPECT_GT(norm, 1e-6);
  // Gradient descent on the pure functional drives the outputs away from 1/2: H goes down.
  std::vector<double> x = x0;
  const double start = (*layer)->Evaluate(x, {}, {});
  for (int step = 0; step < 100; ++step) {
    (*layer)->Evaluate(x, absl::MakeSpan(gradient), {});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] -= 0.5 * gradient[i];
  }
  EXPECT_LT((*layer)->Evaluate(x, {}, {}), 0.5 * start);
}

TEST(SigmoidEntropyTest, RejectsBadData) {
  auto message = [](SigmoidLayerData data, SigmoidEntropyOptions options = {}) {
    auto layer = SigmoidEntropyObjective::Create(std::move(data), options);
    EXPECT_EQ(layer.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(layer.status().message());
  };
  const SigmoidLayerData good{.num_examples = 2, .num_inputs = 2, .inputs = {1, 2, 3, 4}};
  SigmoidLayerData bad = good;
  bad.inputs.pop_back();
  EXPECT_THAT(message(bad), HasSubstr("inputs has 3 values"));
  bad = good;
  bad.targets = {0.0, 1.5};
  EXPECT_THAT(message(bad), HasSubstr("target 1,0 must be in [0, 1], got 1.5"));
  bad = good;
  bad.targets = {0.0};
  EXPECT_THAT(message(bad), HasSubstr("targets has 1 values"));
  EXPECT_THAT(message(good, {.num_outputs = 0}), HasSubstr("num_outputs must be >= 1, got 0"));
  EXPECT_THAT(message(good, {.batch_size = -2}),
              HasSubstr("batch_size must be in [0, num_examples = 2] (0 = full batch), got -2"));
  EXPECT_THAT(message(good, {.batch_size = int64_t{1} << 40}), HasSubstr("got 1099511627776"));
  EXPECT_THAT(message(good, {.entropy_weight = std::nan("")}), HasSubstr("entropy_weight"));
}

// ---------------------------------------------------------------------------------------------
// Logistic regression

std::unique_ptr<LogisticRegression> SyntheticLogisticRegression(
    int64_t num_examples, int64_t num_features, LogisticRegressionOptions options = {}) {
  auto data = MakeSyntheticClassificationData(42, num_examples, num_features, 0.1);
  EXPECT_TRUE(data.ok()) << data.status();
  auto objective = LogisticRegression::Create(*std::move(data), options);
  EXPECT_TRUE(objective.ok()) << objective.status();
  return *std::move(objective);
}

TEST(LogisticRegressionTest, LossAtZeroIsLn2) {
  for (int64_t batch_size : {int64_t{0}, int64_t{7}}) {
    const auto objective = SyntheticLogisticRegression(100, 5, {.batch_size = batch_size});
    EXPECT_EQ(objective->layout().tensors()[0], (TensorSpec{"w", {5}}));
    EXPECT_EQ(objective->layout().tensors()[1], (TensorSpec{"b", {}}));
    EXPECT_NEAR(objective->Evaluate(std::vector<double>(6, 0.0), {}, {.seed = 1, .tick = 2}),
                std::numbers::ln2, 1e-15);
  }
}

TEST(LogisticRegressionTest, GradientMatchesFiniteDifferences) {
  std::mt19937_64 rng(4);
  const LogisticRegressionOptions configurations[] = {
      {.batch_size = 0, .fit_bias = true},
      {.batch_size = 16, .fit_bias = true},
      {.batch_size = 0, .fit_bias = false},
  };
  for (const LogisticRegressionOptions& options : configurations) {
    const auto objective = SyntheticLogisticRegression(200, 6, options);
    for (int trial = 0; trial < 3; ++trial) {
      ExpectGradientMatchesFiniteDifferences(
          *objective, RandomPoint(rng, static_cast<std::size_t>(objective->dimension()), 1.0),
          {.seed = 3, .tick = static_cast<uint64_t>(trial)},
          "batch " + std::to_string(options.batch_size) + " bias " +
              std::to_string(options.fit_bias) + " trial " + std::to_string(trial));
    }
  }
}

TEST(LogisticRegressionTest, LargeLogitsStayFinite) {
  const auto objective = SyntheticLogisticRegression(50, 3);
  std::vector<double> gradient(4);
  for (double scale : {1e3, -1e3, 1e300}) {
    const double loss =
        objective->Evaluate({scale, -scale, scale, 0.0}, absl::MakeSpan(gradient), {});
    EXPECT_TRUE(std::isfinite(loss)) << scale;
    for (double g : gradient) EXPECT_TRUE(std::isfinite(g)) << scale;
  }
}

TEST(LogisticRegressionTest, MinibatchIsAPureFunctionOfTheSampleKey) {
  const std::vector<int64_t> batch = MinibatchIndices(1000, 64, {.seed = 9, .tick = 5});
  ASSERT_EQ(batch.size(), 64u);
  for (int64_t i : batch) {
    EXPECT_GE(i, 0);
    EXPECT_LT(i, 1000);
  }
  // With replacement from 1000, a batch of 64 repeats about two indices.
  EXPECT_GT(absl::flat_hash_set<int64_t>(batch.begin(), batch.end()).size(), 55u);
  EXPECT_EQ(batch, MinibatchIndices(1000, 64, {.seed = 9, .tick = 5}));
  EXPECT_NE(batch, MinibatchIndices(1000, 64, {.seed = 9, .tick = 6}));
  EXPECT_NE(batch, MinibatchIndices(1000, 64, {.seed = 10, .tick = 5}));
  // A longer batch starts with the shorter one: index k depends on k, not on the batch size.
  const std::vector<int64_t> longer = MinibatchIndices(1000, 100, {.seed = 9, .tick = 5});
  EXPECT_TRUE(std::equal(batch.begin(), batch.end(), longer.begin()));

  const auto objective = SyntheticLogisticRegression(500, 4, {.batch_size = 32});
  const std::vector<double> x = {0.3, -0.2, 0.1, 0.5, -0.1};
  std::vector<double> first(5), again(5), next_tick(5);
  const double loss = objective->Evaluate(x, absl::MakeSpan(first), {.seed = 1, .tick = 10});
  EXPECT_EQ(objective->Evaluate(x, absl::MakeSpan(again), {.seed = 1, .tick = 10}), loss);
  EXPECT_EQ(first, again);
  EXPECT_NE(objective->Evaluate(x, absl::MakeSpan(next_tick), {.seed = 1, .tick = 11}), loss);
  EXPECT_NE(first, next_tick);
}

TEST(LogisticRegressionTest, MinibatchIndicesCoverTheDataEvenly) {
  constexpr int kExamples = 10;
  std::vector<int> counts(kExamples, 0);
  for (uint64_t tick = 0; tick < 1000; ++tick) {
    for (int64_t i : MinibatchIndices(kExamples, 10, {.seed = 0, .tick = tick})) ++counts[i];
  }
  // 10000 draws, 1000 expected per example, standard deviation 30.
  for (int count : counts) EXPECT_NEAR(count, 1000, 150);
}

TEST(LogisticRegressionTest, GradientDescentLearnsSyntheticData) {
  for (int64_t batch_size : {int64_t{0}, int64_t{32}}) {
    const auto objective = SyntheticLogisticRegression(1000, 10, {.batch_size = batch_size});
    std::vector<double> x = objective->InitialPoint();
    EXPECT_LT(objective->Accuracy(x), 0.8);  // nothing learned yet: every prediction is 0
    std::vector<double> gradient(x.size());
    for (uint64_t tick = 0; tick < 300; ++tick) {
      objective->Evaluate(x, absl::MakeSpan(gradient), {.seed = 1, .tick = tick});
      for (std::size_t i = 0; i < x.size(); ++i) x[i] -= 0.5 * gradient[i];
    }
    EXPECT_GT(objective->Accuracy(x), 0.9) << "batch " << batch_size;
    EXPECT_LT(objective->Evaluate(x, {}, {}), 0.4);
  }
}

TEST(LogisticRegressionTest, SyntheticDataIsReproducibleAndHasBothClasses) {
  auto a = MakeSyntheticClassificationData(5, 300, 3, 0.1);
  auto b = MakeSyntheticClassificationData(5, 300, 3, 0.1);
  auto c = MakeSyntheticClassificationData(6, 300, 3, 0.1);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->features, b->features);
  EXPECT_EQ(a->labels, b->labels);
  EXPECT_NE(a->features, c->features);
  const double positives = std::count(a->labels.begin(), a->labels.end(), 1.0);
  EXPECT_GT(positives, 30);
  EXPECT_LT(positives, 270);
  EXPECT_TRUE(ValidateClassificationData(*a).ok());
}

TEST(LogisticRegressionTest, RejectsBadData) {
  const ClassificationData good{
      .num_examples = 2, .num_features = 2, .features = {1, 2, 3, 4}, .labels = {0, 1}};
  auto message = [](ClassificationData data, LogisticRegressionOptions options = {}) {
    auto objective = LogisticRegression::Create(std::move(data), options);
    EXPECT_EQ(objective.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(objective.status().message());
  };
  ClassificationData bad = good;
  bad.labels[1] = 0.5;
  EXPECT_THAT(message(bad), HasSubstr("label 1 must be 0 or 1, got 0.5"));
  bad = good;
  bad.features.push_back(5);
  EXPECT_THAT(message(bad), HasSubstr("features has 5 values"));
  bad = good;
  bad.labels.pop_back();
  EXPECT_THAT(message(bad), HasSubstr("labels has 1 values"));
  bad = good;
  bad.features[2] = INFINITY;
  EXPECT_THAT(message(bad), HasSubstr("feature 1,0 is not finite"));
  bad = good;
  bad.num_features = 0;
  EXPECT_THAT(message(bad), HasSubstr("num_features must be >= 1, got 0"));
  EXPECT_THAT(message(good, {.batch_size = -1}),
              HasSubstr("batch_size must be in [0, num_examples = 2] (0 = full batch), got -1"));
  EXPECT_THAT(message(good, {.batch_size = 3}), HasSubstr("got 3"));
  EXPECT_EQ(MakeSyntheticClassificationData(0, 10, 2, -1.0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Registry

TEST(ObjectiveSpecTest, BuildsEveryKind) {
  const std::vector<std::string> kinds = ObjectiveKinds();
  ASSERT_EQ(kinds.size(), 4u);
  for (const std::string& kind : kinds) {
    ObjectiveSpec spec{.kind = kind, .dimension = 3, .data_seed = 7, .num_examples = 64,
                       .batch_size = 8, .noise = 0.1};
    if (kind == "sigmoid_entropy") {
      spec.num_outputs = 2;
      spec.with_labels = true;
    }
    auto objective = MakeObjective(spec);
    ASSERT_TRUE(objective.ok()) << kind << ": " << objective.status();
    EXPECT_EQ((*objective)->name(), kind);
    const std::vector<double> x0 = (*objective)->InitialPoint();
    EXPECT_EQ(static_cast<int64_t>(x0.size()), (*objective)->dimension());
    if (kind != "quadratic") {  // the quadratic's gradient carries noise here
      ExpectGradientMatchesFiniteDifferences(**objective, x0, {.seed = 1, .tick = 1}, kind);
    }
  }
}

TEST(ObjectiveSpecTest, DimensionIsTheProblemSize) {
  auto dimension_of = [](ObjectiveSpec spec) {
    auto objective = MakeObjective(spec);
    EXPECT_TRUE(objective.ok()) << objective.status();
    return objective.ok() ? (*objective)->dimension() : -1;
  };
  EXPECT_EQ(dimension_of({.kind = "quadratic", .dimension = 5}), 5);
  EXPECT_EQ(dimension_of({.kind = "two_mode", .dimension = 4}), 4);
  EXPECT_EQ(dimension_of({.kind = "logistic_regression", .dimension = 5}), 6);  // w and b
  EXPECT_EQ(dimension_of({.kind = "sigmoid_entropy", .dimension = 3, .num_outputs = 2}), 14);

  auto quadratic = MakeObjective({.kind = "quadratic", .dimension = 3, .condition_number = 100});
  ASSERT_TRUE(quadratic.ok()) << quadratic.status();
  const auto& curvatures = static_cast<const QuadraticObjective&>(**quadratic).curvatures();
  EXPECT_DOUBLE_EQ(curvatures[0], 1.0);
  EXPECT_DOUBLE_EQ(curvatures[1], 10.0);
  EXPECT_DOUBLE_EQ(curvatures[2], 100.0);
}

TEST(ObjectiveSpecTest, SameSpecSameProblem) {
  const ObjectiveSpec spec{.kind = "logistic_regression", .dimension = 4, .data_seed = 3,
                           .num_examples = 50};
  auto a = MakeObjective(spec);
  auto b = MakeObjective(spec);
  ObjectiveSpec other = spec;
  other.data_seed = 4;
  auto c = MakeObjective(other);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const std::vector<double> x = {0.1, 0.2, -0.3, 0.4, 0.0};
  EXPECT_EQ((*a)->Evaluate(x, {}, {}), (*b)->Evaluate(x, {}, {}));
  EXPECT_NE((*a)->Evaluate(x, {}, {}), (*c)->Evaluate(x, {}, {}));
}

TEST(ObjectiveSpecTest, RejectsBadSpecsNamingTheField) {
  auto expect_invalid = [](const ObjectiveSpec& spec, const std::string& what) {
    auto objective = MakeObjective(spec);
    ASSERT_EQ(objective.status().code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_THAT(std::string(objective.status().message()), HasSubstr(what));
  };
  expect_invalid({.kind = "cubic"}, "kind must be one of quadratic, two_mode, "
                                    "logistic_regression, sigmoid_entropy, got 'cubic'");
  expect_invalid({.kind = ""}, "got ''");
  expect_invalid({.kind = "quadratic", .dimension = 0},
                 "quadratic.dimension must be >= 1, got 0");
  expect_invalid({.kind = "quadratic", .dimension = int64_t{1} << 40},
                 "quadratic.dimension must be <= 134217728, got 1099511627776");
  expect_invalid({.kind = "quadratic", .noise = -0.5}, "quadratic.noise must be finite and >= 0, got -0.5");
  expect_invalid({.kind = "quadratic", .condition_number = 0.5},
                 "quadratic.condition_number must be finite and >= 1, got 0.5");
  expect_invalid({.kind = "two_mode", .dimension = -3}, "two_mode.dimension must be >= 1, got -3");
  expect_invalid({.kind = "logistic_regression", .num_examples = 0},
                 "logistic_regression.num_examples must be >= 1, got 0");
  expect_invalid({.kind = "logistic_regression", .batch_size = -1},
                 "logistic_regression.batch_size must be >= 0");
  expect_invalid({.kind = "logistic_regression", .dimension = 1 << 20, .num_examples = 1 << 20},
                 "logistic_regression.num_examples must be <= 64");
  expect_invalid({.kind = "sigmoid_entropy", .num_outputs = 0},
                 "sigmoid_entropy.num_outputs must be >= 1, got 0");
  expect_invalid({.kind = "sigmoid_entropy", .entropy_weight = INFINITY},
                 "sigmoid_entropy.entropy_weight must be finite, got inf");
  expect_invalid({.kind = "sigmoid_entropy", .noise = std::nan("")},
                 "sigmoid_entropy.noise must be finite and >= 0, got nan");
}

}  // namespace
}  // namespace basin
