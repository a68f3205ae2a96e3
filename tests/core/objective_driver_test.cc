#include "core/objectives/objective_driver.h"

#include <memory>
#include <vector>

#include "core/objectives/logistic_regression.h"
#include "core/objectives/quadratic.h"
#include "core/optimizer_registry.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

std::unique_ptr<Optimizer<double>> Make(OptimizerConfig config, const ParameterLayout& layout,
                                        std::vector<double> initial = {}) {
  OptimizerSpec spec;
  spec.config = std::move(config);
  return std::move(*CreateOptimizer<double>(spec, layout, initial));
}

TEST(ObjectiveDriverTest, SamEvaluatesBothTicksOfAStepOnOneMinibatch) {
  auto data = MakeSyntheticClassificationData(3, 200, 5, 0.3);
  ASSERT_TRUE(data.ok());
  auto f = LogisticRegression::Create(*data, {.batch_size = 8, .fit_bias = true});
  ASSERT_TRUE(f.ok());
  SamConfig sam;
  sam.lr = 0.1;
  auto o = Make(sam, (*f)->layout());
  ASSERT_TRUE(o->ticks_share_minibatch());
  // Tick k uses minibatch step(k): 0, 0, 1, 1, 2, 2.
  std::vector<uint64_t> keys;
  for (int k = 0; k < 6; ++k) {
    keys.push_back(SampleKeyForTick(*o, 5).tick);
    ASSERT_TRUE(DriveObjective<double>(*o, **f, 1, 5).ok());
  }
  EXPECT_EQ(keys, (std::vector<uint64_t>{0, 0, 1, 1, 2, 2}));

  auto e = Make(EntropySgdConfig{}, (*f)->layout());
  EXPECT_FALSE(e->ticks_share_minibatch());
  ASSERT_TRUE(DriveObjective<double>(*e, **f, 3, 5).ok());
  EXPECT_EQ(SampleKeyForTick(*e, 5).tick, 3u);
}

TEST(ObjectiveDriverTest, MatchesAHandWrittenLoopAndReportsEachTick) {
  auto f = QuadraticObjective::Create({1.0, 3.0, 9.0});
  ASSERT_TRUE(f.ok());
  SgdConfig sgd;
  sgd.lr = 0.05;
  sgd.momentum = 0.5;
  auto driven = Make(sgd, (*f)->layout(), {1, -1, 0.5});
  auto manual = Make(sgd, (*f)->layout(), {1, -1, 0.5});
  std::vector<double> losses;
  ASSERT_TRUE(DriveObjective<double>(*driven, **f, 20, 0, [&](int64_t tick, double loss) {
                EXPECT_EQ(tick, static_cast<int64_t>(losses.size()) + 1);
                losses.push_back(loss);
              }).ok());
  ASSERT_EQ(losses.size(), 20u);
  for (int k = 0; k < 20; ++k) {
    std::vector<double> x(manual->Query().begin(), manual->Query().end()), g(3);
    const double loss = (*f)->Evaluate(x, absl::MakeSpan(g), {});
    EXPECT_EQ(loss, losses[k]);
    ASSERT_TRUE(manual->Tell(g, loss).ok());
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(driven->Model()[i], manual->Model()[i]);
  EXPECT_LT(losses.back(), losses.front() * 0.1);
}

TEST(ObjectiveDriverTest, RejectsAMismatchedObjective) {
  auto f = QuadraticObjective::Create({1.0, 2.0});
  auto o = Make(SgdConfig{}, ParameterLayout::Flat(3));
  absl::Status s = DriveObjective<double>(*o, **f, 1, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(o->tick(), 0);
}

}  // namespace
}  // namespace basin
