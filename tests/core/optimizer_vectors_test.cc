// Every noise-off test vector of ../shared/ALGORITHMS.md, and the vectors with prescribed draws,
// reproduced through the ask/tell interface in f64 (1e-9 relative) and f32 (1e-5 relative).
#include <memory>
#include <vector>

#include "core/noise.h"
#include "core/optimizer_config.h"
#include "gtest/gtest.h"
#include "tests/core/optimizer_test_util.h"

namespace basin {
namespace {

using ::basin::testing::kVectorTolerance;
using ::basin::testing::MakeOptimizer;
using ::basin::testing::NearRelative;
using ::basin::testing::StepQuadratic;

template <typename Real>
class VectorTest : public ::testing::Test {
 protected:
  static constexpr double kTol = kVectorTolerance<Real>;

  void ExpectModel(const Optimizer<Real>& o, std::vector<double> expected, const char* where) {
    absl::Span<const Real> m = o.Model();
    ASSERT_EQ(m.size(), expected.size());
    for (std::size_t i = 0; i < m.size(); ++i) EXPECT_TRUE(NearRelative(m[i], expected[i], kTol)) << where << "[" << i << "]";
  }
  void ExpectVariable(const Optimizer<Real>& o, const char* name, double expected, const char* where) {
    auto v = o.StateVariable(name);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_TRUE(NearRelative((*v)[0], expected, kTol)) << where << " " << name;
  }
};

using RealTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(VectorTest, RealTypes);

// --- Entropy-SGD -------------------------------------------------------------------------------

EntropySgdConfig EsgdA(double scoping) {
  EntropySgdConfig c = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kPaper);
  c.L = 3;
  c.gamma = 0.5;
  c.scoping = scoping;
  c.lr = 1;
  c.inner_lr = 0.1;
  c.ema = 0.75;
  c.noise = 0;
  return c;
}

TYPED_TEST(VectorTest, EsgdAPaperAlgorithm) {
  auto o = MakeOptimizer<TypeParam>(EsgdA(0), {1.0});
  ASSERT_EQ(o->ticks_per_step(), 3);
  const double x[] = {0.7890625, 0.622619628906, 0.491285800934};
  const double mu[] = {0.578125, 0.456176757812, 0.359951972961};
  const double last_inner[] = {0.5375, 0.42412109375, 0.334658050537};
  for (int s = 0; s < 3; ++s) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {x[s]}, "ESGD-A x");
    this->ExpectVariable(*o, "mu", mu[s], "ESGD-A");
    this->ExpectVariable(*o, "x_inner", last_inner[s], "ESGD-A");
  }
}

TYPED_TEST(VectorTest, EsgdAWithScoping) {
  auto o = MakeOptimizer<TypeParam>(EsgdA(0.1), {1.0});
  const double x[] = {0.7890625, 0.606868807129, 0.453559197413};
  const double gamma[] = {0.5, 0.55, 0.605};
  for (int s = 0; s < 3; ++s) {
    EXPECT_NEAR(o->Stats().gamma, gamma[s], 1e-12);
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {x[s]}, "ESGD-A scoped");
  }
}

EntropySgdConfig EsgdB(double lr) {
  EntropySgdConfig c = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kLua);
  c.L = 3;
  c.gamma = 0.5;
  c.scoping = 0.1;
  c.inner_lr = 0.1;
  c.momentum = 0.9;
  c.nesterov = true;
  c.weight_decay = 0.01;
  c.noise = 0;
  c.lr = lr;
  return c;
}

TYPED_TEST(VectorTest, EsgdBLuaLrOne) {
  auto o = MakeOptimizer<TypeParam>(EsgdB(1), {1.0});
  ASSERT_EQ(o->ticks_per_step(), 4);  // the Lua code's tick at x, then L = 3
  const double x[] = {0.540687481, 0.293277033495, 0.159633254079};
  const double gamma[] = {0.55, 0.605, 0.6655};
  for (int s = 0; s < 3; ++s) {
    EXPECT_NEAR(o->Stats().gamma, gamma[s], 1e-12);
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {x[s]}, "ESGD-B lr 1");
    this->ExpectVariable(*o, "mu", x[s], "ESGD-B lr 1: x equals μ");
  }
}

TYPED_TEST(VectorTest, EsgdBLuaLrPointTwo) {
  auto o = MakeOptimizer<TypeParam>(EsgdB(0.2), {1.0});
  const double x[] = {0.9081374962, 0.82502748821, 0.74983592593};
  for (int s = 0; s < 3; ++s) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {x[s]}, "ESGD-B lr 0.2");
  }
}

EntropySgdConfig EsgdC(double scoping) {
  EntropySgdConfig c = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kPytorch);
  c.L = 3;
  c.gamma = 0.5;
  c.scoping = scoping;
  c.inner_lr = 0.1;
  c.momentum = 0.9;
  c.nesterov = true;
  c.weight_decay = 0.01;
  c.lr = 0.1;
  c.ema = 0.25;
  c.noise = 0;
  return c;
}

TYPED_TEST(VectorTest, EsgdCPytorchFrozenScoping) {
  // The shipped code never advances t; with scoping 0 the fixed counter behaves the same.
  auto o = MakeOptimizer<TypeParam>(EsgdC(0), {1.0});
  const double x[] = {0.748327866106, 0.497195062946, 0.258377177291};
  for (int s = 0; s < 3; ++s) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {x[s]}, "ESGD-C frozen");
  }
}

TYPED_TEST(VectorTest, EsgdCPytorchFixedScoping) {
  auto o = MakeOptimizer<TypeParam>(EsgdC(0.1), {1.0});
  const double x[] = {0.748327866106, 0.497419558175, 0.25899009627};
  for (int s = 0; s < 3; ++s) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {x[s]}, "ESGD-C fixed");
  }
}

TYPED_TEST(VectorTest, EsgdNoiseScalingWithPrescribedDraws) {
  const std::vector<double> draws = {0.5, -1.0, 0.25};
  auto prescribe = [&](Optimizer<TypeParam>& o, uint64_t first_tick) {
    auto noise = std::make_shared<PrescribedNoise>();
    for (uint64_t k = 0; k < 3; ++k) noise->Set(first_tick + k, 0, {draws[k]});
    o.SetNoiseSource(noise);
  };
  {  // paper scaling √η'·ε
    EntropySgdConfig c = EsgdA(0);
    c.noise = 0.1;
    auto o = MakeOptimizer<TypeParam>(c, {1.0});
    prescribe(*o, 0);
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {0.784986126454}, "ESGD-A paper noise");
    this->ExpectVariable(*o, "mu", 0.569972252907, "ESGD-A paper noise");
  }
  {  // code scaling √(2η')·ε
    EntropySgdConfig c = EsgdA(0);
    c.noise = 0.1;
    c.noise_scaling = EntropySgdConfig::NoiseScaling::kCode;
    auto o = MakeOptimizer<TypeParam>(c, {1.0});
    prescribe(*o, 0);
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {0.783297637246}, "ESGD-A code noise");
    this->ExpectVariable(*o, "mu", 0.566595274491, "ESGD-A code noise");
  }
  {  // Lua, one step, lr 1; the inner ticks are 1..3 after the tick at x
    EntropySgdConfig c = EsgdB(1);
    c.noise = 0.1;
    auto o = MakeOptimizer<TypeParam>(c, {1.0});
    prescribe(*o, 1);
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {0.546201646993}, "ESGD-B noise");
    this->ExpectVariable(*o, "mu", 0.546201646993, "ESGD-B noise");
  }
}

// --- EMCMC -------------------------------------------------------------------------------------

EmcmcConfig EmcmcPaper(double temperature) {
  EmcmcConfig c = EmcmcConfig::PaperDefaults();
  c.lr = 0.1;
  c.eta = 0.5;
  c.temperature = temperature;
  return c;
}

TYPED_TEST(VectorTest, EmcmcE1) {
  auto o = MakeOptimizer<TypeParam>(EmcmcPaper(0), {1.0});
  const double theta[] = {0.8, 0.68, 0.6};
  const double anchor[] = {1, 0.96, 0.904};
  for (int s = 0; s < 3; ++s) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {theta[s]}, "E1 θ");
    EXPECT_TRUE(NearRelative(o->Anchor()[0], anchor[s], this->kTol)) << "E1 θa step " << s;
  }
}

TYPED_TEST(VectorTest, EmcmcE3PrescribedDraws) {
  auto o = MakeOptimizer<TypeParam>(EmcmcPaper(0.01), {1.0});
  auto noise = std::make_shared<PrescribedNoise>();
  const double xi_theta[] = {0.3, -1.2, 0.7};
  const double xi_anchor[] = {-0.5, 0.4, 1.1};
  for (uint64_t t = 0; t < 3; ++t) {
    noise->Set(t, 0, {xi_theta[t]});
    noise->Set(t, 1, {xi_anchor[t]});
  }
  o->SetNoiseSource(noise);
  const double theta[] = {0.813416407865, 0.629912077304, 0.601788854382};
  const double anchor[] = {0.977639320225, 0.962683281573, 0.945322536224};
  for (int s = 0; s < 3; ++s) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {theta[s]}, "E3 θ");
    EXPECT_TRUE(NearRelative(o->Anchor()[0], anchor[s], this->kTol)) << "E3 θa step " << s;
  }
}

EmcmcConfig EmcmcE4(double momentum) {
  EmcmcConfig c;
  c.form = EmcmcConfig::Form::kCode;
  c.num_data = 100;
  c.lr = 0.5;
  c.eta = 0.04;
  c.weight_decay = 0.001;
  c.anchor_weight_decay = true;
  c.temperature = 0;
  c.momentum = momentum;
  return c;
}

TYPED_TEST(VectorTest, EmcmcE4CodeUnits) {
  auto o = MakeOptimizer<TypeParam>(EmcmcE4(0), {1.0});
  ASSERT_TRUE(o->SetAnchor(std::vector<TypeParam>{TypeParam(0.5)}).ok());
  const double theta[] = {-0.063, 0.07818775, 0.0506640155};
  const double anchor[] = {0.56225, 0.483812625, 0.432867609313};
  for (int s = 0; s < 3; ++s) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {theta[s]}, "E4 θ");
    EXPECT_TRUE(NearRelative(o->Anchor()[0], anchor[s], this->kTol)) << "E4 θa step " << s;
  }
}

TYPED_TEST(VectorTest, EmcmcE5Momentum) {
  auto o = MakeOptimizer<TypeParam>(EmcmcE4(0.9), {1.0});
  ASSERT_TRUE(o->SetAnchor(std::vector<TypeParam>{TypeParam(0.5)}).ok());
  const double theta[] = {-0.063, -0.87851225, -0.5562280345};
  const double anchor[] = {0.56225, 0.539837625, 0.342102834312};
  for (int s = 0; s < 3; ++s) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {theta[s]}, "E5 θ");
    EXPECT_TRUE(NearRelative(o->Anchor()[0], anchor[s], this->kTol)) << "E5 θa step " << s;
  }
}

// --- SAM ---------------------------------------------------------------------------------------

TYPED_TEST(VectorTest, SamS1) {
  SamConfig c;
  c.rho = 0.05;
  c.lr = 0.1;
  auto o = MakeOptimizer<TypeParam>(c, {1.0, 1.0});
  ASSERT_EQ(o->ticks_per_step(), 2);
  const std::vector<std::vector<double>> w = {{0.899502481405, -0.0497518595105},
                                              {0.805176901281, 0.0242001447059},
                                              {0.719870814251, -0.0143918557212}};
  const std::vector<std::vector<double>> eps = {{0.00497518595105, 0.0497518595105},
                                                {0.0437533198307, -0.0242001447059}};
  for (int s = 0; s < 3; ++s) {
    ::basin::testing::TickQuadratic(*o, {1.0, 10.0});
    if (s < 2) {
      // Between the ticks the query is w + ε.
      for (int i = 0; i < 2; ++i) {
        const double e = static_cast<double>(o->Query()[i]) - o->Model()[i];
        EXPECT_TRUE(NearRelative(e, eps[s][i], sizeof(TypeParam) == 8 ? 1e-9 : 1e-4)) << "S1 ε step " << s;
      }
    }
    ::basin::testing::TickQuadratic(*o, {1.0, 10.0});
    this->ExpectModel(*o, w[s], "S1 w");
  }
}

TYPED_TEST(VectorTest, SamS3) {
  SamConfig c;
  c.rho = 0.05;
  c.lr = 0.1;
  auto o = MakeOptimizer<TypeParam>(c, {1.0});
  const double w[] = {0.79, 0.622, 0.4876};
  for (int s = 0; s < 3; ++s) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {w[s]}, "S3");
  }
}

// --- SGLD --------------------------------------------------------------------------------------

TYPED_TEST(VectorTest, SgldG1G2G3) {
  const double draws[] = {0.3, -1.2, 0.7};
  auto run = [&](SgldConfig c, std::vector<double> expected, const char* name) {
    auto o = MakeOptimizer<TypeParam>(c, {1.0});
    auto noise = std::make_shared<PrescribedNoise>();
    for (uint64_t t = 0; t < 3; ++t) noise->Set(t, 0, {draws[t]});
    o->SetNoiseSource(noise);
    for (int s = 0; s < 3; ++s) {
      StepQuadratic(*o, {2.0});
      this->ExpectModel(*o, {expected[s]}, name);
    }
  };
  SgldConfig g1;
  g1.lr = 0.1;
  g1.temperature = 0;
  run(g1, {0.8, 0.64, 0.512}, "G1");
  SgldConfig g2 = g1;
  g2.temperature = 0.5;
  run(g2, {0.894868329805, 0.336421344624, 0.490496511911}, "G2");
  SgldConfig g3;
  g3.lr = 0.2;  // Welling–Teh ε_t
  g3.temperature = 1;
  g3.lr_convention = SgldConfig::LrConvention::kWellingTeh;
  run(g3, {0.93416407865, 0.21067494832, 0.481589475506}, "G3");
}

// --- SGD (torch.optim.SGD) ---------------------------------------------------------------------
// Expected values from a line-by-line transcription of torch/optim/sgd.py's _single_tensor_sgd
// (python3, f64), f(w) = w², w0 = 1.

TYPED_TEST(VectorTest, SgdMatchesTorchSemantics) {
  SgdConfig plain;
  plain.lr = 0.1;
  auto o = MakeOptimizer<TypeParam>(plain, {1.0});
  for (double w : {0.8, 0.64, 0.512}) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {w}, "SGD plain");
  }
  SgdConfig heavy = plain;
  heavy.momentum = 0.9;
  heavy.dampening = 0.1;
  heavy.weight_decay = 0.01;
  o = MakeOptimizer<TypeParam>(heavy, {1.0});
  for (double w : {0.799, 0.4735609, 0.09499854319}) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {w}, "SGD momentum+dampening+wd");
  }
  SgdConfig nesterov = plain;
  nesterov.momentum = 0.9;
  nesterov.nesterov = true;
  nesterov.weight_decay = 0.01;
  o = MakeOptimizer<TypeParam>(nesterov, {1.0});
  for (double w : {0.6181, 0.21923761, -0.111651094259}) {
    StepQuadratic(*o, {2.0});
    this->ExpectModel(*o, {w}, "SGD Nesterov+wd");
  }
}

// --- Schedules ---------------------------------------------------------------------------------

TEST(ScheduleTest, CyclicalCosineMatchesEmcmcReference) {
  // ALGORITHMS.md §2.3: CIFAR defaults, k = epoch·(N/B + 1) + batch with N/B + 1 = 391.625.
  Schedule s;
  s.kind = Schedule::Kind::kCyclicalCosine;
  s.total = 200 * 391.625;
  s.cycles = 4;
  s.final_value = 0;
  auto at = [&](double epoch, double batch) { return s.Value(0.5, epoch * 391.625 + batch); };
  EXPECT_TRUE(NearRelative(at(0, 0), 0.5, 1e-12));
  EXPECT_TRUE(NearRelative(at(0, 1), 0.499999996782, 1e-9));
  EXPECT_TRUE(NearRelative(at(25, 0), 0.249994986223, 1e-9));
  EXPECT_TRUE(NearRelative(at(49, 390), 6.0834e-09, 1e-4));
  EXPECT_TRUE(NearRelative(at(50, 0), 0.499999999799, 1e-9));
}

TEST(ScheduleTest, PolynomialWellingTehDemo) {
  // a(b + t)^−γ with a = 0.015851, b = 2.3107, γ = 0.55: 0.01 at t = 0, 1e-4 after 10000 sweeps.
  Schedule s;
  s.kind = Schedule::Kind::kPolynomial;
  s.offset = 2.3107;
  s.power = 0.55;
  EXPECT_NEAR(s.Value(0.015851, 0), 0.01, 1e-5);
  EXPECT_NEAR(s.Value(0.015851, 10000), 1e-4, 1e-6);
}

TEST(ScheduleTest, StepAndCosine) {
  Schedule step;
  step.kind = Schedule::Kind::kStep;
  step.step_size = 3;
  step.factor = 0.2;
  EXPECT_DOUBLE_EQ(step.Value(1, 2), 1);
  EXPECT_DOUBLE_EQ(step.Value(1, 3), 0.2);
  EXPECT_NEAR(step.Value(1, 7), 0.04, 1e-15);
  Schedule cosine;
  cosine.kind = Schedule::Kind::kCosine;
  cosine.total = 100;
  cosine.final_value = 0.1;
  EXPECT_DOUBLE_EQ(cosine.Value(1, 0), 1);
  EXPECT_NEAR(cosine.Value(1, 50), 0.55, 1e-15);
  EXPECT_DOUBLE_EQ(cosine.Value(1, 100), 0.1);
  EXPECT_DOUBLE_EQ(cosine.Value(1, 500), 0.1);  // holds the final value after the end
}

TYPED_TEST(VectorTest, ScheduleDrivesTheStepSize) {
  SgdConfig c;
  c.lr = 0.1;
  c.lr_schedule.kind = Schedule::Kind::kStep;
  c.lr_schedule.step_size = 1;
  c.lr_schedule.factor = 0.5;
  auto o = MakeOptimizer<TypeParam>(c, {1.0});
  // w ← w − lr_t·2w with lr_t = 0.1, 0.05, 0.025
  double w = 1;
  for (double lr : {0.1, 0.05, 0.025}) {
    EXPECT_NEAR(o->Stats().lr, lr, 1e-15);
    StepQuadratic(*o, {2.0});
    w -= lr * 2 * w;
    this->ExpectModel(*o, {w}, "scheduled SGD");
  }
}

}  // namespace
}  // namespace basin
