#ifndef BASIN_CORE_OBJECTIVES_OBJECTIVE_SPEC_H_
#define BASIN_CORE_OBJECTIVES_OBJECTIVE_SPEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/objectives/objective.h"

namespace basin {

// What the server's RunObjective (and the experiments) need to build a built-in objective. Fields
// a kind does not use are ignored. The data-driven kinds make synthetic data from data_seed, so a
// spec names one problem exactly.
struct ObjectiveSpec {
  // "quadratic", "two_mode", "logistic_regression" or "sigmoid_entropy".
  std::string kind;
  // The problem size. quadratic, two_mode: number of parameters. logistic_regression: number of
  // features p (p + 1 parameters with the bias). sigmoid_entropy: number of inputs n
  // (2·m·n + m parameters).
  int64_t dimension = 2;
  // Seed of the synthetic data of logistic_regression and sigmoid_entropy, and of the initial
  // weights of sigmoid_entropy.
  uint64_t data_seed = 0;
  // logistic_regression, sigmoid_entropy: examples in the synthetic data set.
  int64_t num_examples = 1024;
  // logistic_regression, sigmoid_entropy: examples per evaluation, with replacement; 0 = all.
  int64_t batch_size = 0;
  // quadratic: std of the additive Gaussian gradient noise. logistic_regression and
  // sigmoid_entropy (with labels): std of the logit noise that makes labels disagree with the
  // teacher near the boundary.
  double noise = 0.0;
  // quadratic: curvatures are log-spaced from 1 to condition_number (all 1 if it is 1).
  double condition_number = 100.0;
  // sigmoid_entropy: outputs m of the layer.
  int64_t num_outputs = 1;
  // sigmoid_entropy: λ, the weight of the entropy term.
  double entropy_weight = 1.0;
  // sigmoid_entropy: add the cross-entropy against synthetic teacher labels. Without it the loss
  // is the pure entropy functional.
  bool with_labels = false;
};

// Upper bounds that keep a typo in a spec from allocating the machine away. The server applies
// its own, usually tighter, per-tenant limits on top.
inline constexpr int64_t kMaxObjectiveDimension = int64_t{1} << 27;
inline constexpr int64_t kMaxObjectiveDataElements = int64_t{1} << 26;  // 512 MiB of doubles

// The kinds MakeObjective knows, in a fixed order.
std::vector<std::string> ObjectiveKinds();

// Builds the objective a spec describes, or InvalidArgument naming the field and the bad value,
// e.g. "quadratic.dimension must be >= 1, got 0".
absl::StatusOr<std::unique_ptr<Objective>> MakeObjective(const ObjectiveSpec& spec);

}  // namespace basin

#endif  // BASIN_CORE_OBJECTIVES_OBJECTIVE_SPEC_H_
