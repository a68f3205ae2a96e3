// basin-demo: runs every optimizer of core/ on built-in objectives, in-process, and prints what
// each did. Two problems with one gradient budget per optimizer:
//   1. logistic regression on a synthetic data set: loss and accuracy;
//   2. the sharp/flat two-mode landscape of ALGORITHMS.md §2.6, started near the ridge between
//      the modes: in how many runs each optimizer ends in the flat mode.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/noise.h"
#include "core/objectives/logistic_regression.h"
#include "core/objectives/objective_driver.h"
#include "core/objectives/two_mode.h"
#include "core/optimizer_registry.h"

namespace basin {
namespace {

struct Contender {
  std::string label;
  OptimizerConfig config;
};

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "basin-demo: %s\n", s.ToString().c_str());
  return 1;
}

std::vector<Contender> LogisticContenders(double num_data) {
  SgdConfig sgd;
  sgd.lr = 0.1;
  sgd.momentum = 0.9;
  sgd.nesterov = true;
  SgldConfig sgld;
  sgld.lr = 0.1;
  sgld.num_data = num_data;
  sgld.temperature = 1;
  SamConfig sam;
  sam.lr = 0.1;
  sam.momentum = 0.9;
  sam.rho = 0.05;
  EntropySgdConfig esgd = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kLua);
  esgd.L = 5;
  esgd.inner_lr = 0.1;
  esgd.gamma = 0.03;
  EmcmcConfig emcmc;
  emcmc.lr = 0.1;
  emcmc.num_data = num_data;
  emcmc.eta = 1e-3;
  emcmc.temperature = 1;
  emcmc.weight_decay = 0;
  emcmc.anchor_weight_decay = false;
  return {{"sgd (nesterov 0.9)", sgd},
          {"sgld (T=1)", sgld},
          {"sam (rho 0.05)", sam},
          {"entropy_sgd (lua, L=5)", esgd},
          {"emcmc (code form)", emcmc}};
}

int LogisticRegressionDemo() {
  constexpr int64_t kExamples = 4000, kFeatures = 32, kBatch = 64, kBudget = 1200;
  auto data = MakeSyntheticClassificationData(/*seed=*/1, kExamples, kFeatures, /*label_noise=*/0.5);
  if (!data.ok()) return Fail(data.status());
  LogisticRegressionOptions options;
  options.batch_size = kBatch;
  auto objective = LogisticRegression::Create(*data, options);
  if (!objective.ok()) return Fail(objective.status());
  LogisticRegression& f = **objective;

  std::printf("1) Logistic regression: %lld synthetic examples, %lld features, minibatch %lld,\n"
              "   %lld gradient evaluations for every optimizer, f32 state, starting at zero.\n\n",
              static_cast<long long>(kExamples), static_cast<long long>(kFeatures),
              static_cast<long long>(kBatch), static_cast<long long>(kBudget));
  std::printf("   %-24s %6s %6s %12s %10s %10s %8s\n", "optimizer", "ticks", "steps", "full loss", "accuracy",
              "|x-anchor|", "ms");
  for (const Contender& c : LogisticContenders(static_cast<double>(kExamples))) {
    OptimizerSpec spec;
    spec.config = c.config;
    spec.seed = 7;
    auto o = CreateOptimizer<float>(spec, f.layout());
    if (!o.ok()) return Fail(o.status());
    const absl::Time start = absl::Now();
    absl::Status s = DriveObjective<float>(**o, f, kBudget, /*data_seed=*/11);
    if (!s.ok()) return Fail(s);
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    std::vector<double> model((*o)->Model().begin(), (*o)->Model().end());
    LogisticRegressionOptions full;
    auto full_batch = LogisticRegression::Create(*data, full);
    const double loss = (*full_batch)->Evaluate(model, {}, SampleKey{});
    const OptimizerStats stats = (*o)->Stats();
    std::printf("   %-24s %6lld %6lld %12.5f %9.2f%% %10.4f %8.1f\n", c.label.c_str(),
                static_cast<long long>(stats.tick), static_cast<long long>(stats.step), loss,
                100 * f.Accuracy(model), stats.distance_to_anchor, ms);
  }
  std::printf("\n   |x-anchor| is ‖θ − θa‖ for EMCMC, ‖x − x'‖ for Entropy-SGD and 0 for the others.\n\n");
  return 0;
}

std::vector<Contender> LandscapeContenders() {
  // Step sizes keep the sharp mode (curvature 100) stable: lr·100 < 2.
  SgdConfig sgd;
  sgd.lr = 0.005;
  SgldConfig sgld;
  sgld.lr = 0.005;
  sgld.temperature = 1;
  SamConfig sam;
  sam.lr = 0.005;
  sam.rho = 0.05;
  EntropySgdConfig esgd = EntropySgdConfig::Defaults(EntropySgdConfig::Variant::kLua);
  esgd.L = 10;
  esgd.inner_lr = 0.005;
  esgd.momentum = 0;
  esgd.nesterov = false;
  esgd.gamma = 0.5;
  esgd.scoping = 0;
  esgd.noise = 1;  // inner SGLD at temperature ε² = 1, like SGLD and EMCMC here
  esgd.lr = 1;
  esgd.extra_tick_at_x = false;
  EmcmcConfig emcmc = EmcmcConfig::PaperDefaults();
  emcmc.lr = 0.005;
  emcmc.eta = 1;
  emcmc.temperature = 1;
  return {{"sgd", sgd},
          {"sgld (T=1)", sgld},
          {"sam (rho 0.05)", sam},
          {"entropy_sgd (eps=1, gamma=0.5)", esgd},
          {"emcmc (paper, eta=1, T=1)", emcmc}};
}

int TwoModeDemo() {
  constexpr int kRuns = 50;
  constexpr int64_t kBudget = 2000;
  auto landscape = TwoModeLandscape::Create();
  if (!landscape.ok()) return Fail(landscape.status());
  const TwoModeLandscape& f = **landscape;
  std::printf("2) Sharp vs flat: U(θ) = −log(e^{−50‖θ−(−2,0)‖²} + e^{−1−½‖θ−(2,0)‖²}); the flat mode holds\n"
              "   %.1f%% of the mass at T = 1. %d runs per optimizer from (−1.6, 0) + N(0, 0.1²) near the ridge,\n"
              "   %lld gradient evaluations each, f64 state.\n\n",
              100 * f.ModeMass(TwoModeLandscape::Mode::kFlat) /
                  (f.ModeMass(TwoModeLandscape::Mode::kFlat) + f.ModeMass(TwoModeLandscape::Mode::kSharp)),
              kRuns, static_cast<long long>(kBudget));
  std::printf("   %-32s %14s %14s\n", "optimizer", "ends in flat", "mean final U");
  PhiloxNormalNoise starts(2024);
  for (const Contender& c : LandscapeContenders()) {
    int flat = 0;
    double energy = 0;
    for (int run = 0; run < kRuns; ++run) {
      std::vector<double> start(2);
      starts.Fill(static_cast<uint64_t>(run), 0, 0, absl::MakeSpan(start));
      start[0] = -1.6 + 0.1 * start[0];
      start[1] = 0.1 * start[1];
      OptimizerSpec spec;
      spec.config = c.config;
      spec.seed = static_cast<uint64_t>(run);
      auto o = CreateOptimizer<double>(spec, f.layout(), start);
      if (!o.ok()) return Fail(o.status());
      absl::Status s = DriveObjective<double>(**o, f, kBudget, 0);
      if (!s.ok()) return Fail(s);
      absl::Span<const double> model = (*o)->Model();
      flat += f.DominantMode(model) == TwoModeLandscape::Mode::kFlat ? 1 : 0;
      energy += f.Evaluate(model, {}, SampleKey{});
    }
    std::printf("   %-32s %9d / %d %14.3f\n", c.label.c_str(), flat, kRuns, energy / kRuns);
  }
  std::printf("\n");
  return 0;
}

}  // namespace
}  // namespace basin

int main() {
  std::printf("basin demo: every optimizer of core/ on built-in objectives, run in-process.\n"
              "(The gRPC service that exposes these to any language is the next milestone.)\n\n");
  if (int rc = basin::LogisticRegressionDemo(); rc != 0) return rc;
  return basin::TwoModeDemo();
}
