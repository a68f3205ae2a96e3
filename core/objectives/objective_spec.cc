#include "core/objectives/objective_spec.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/objectives/logistic_regression.h"
#include "core/objectives/quadratic.h"
#include "core/objectives/sigmoid_entropy.h"
#include "core/objectives/two_mode.h"

namespace basin {
namespace {

absl::Status Invalid(const ObjectiveSpec& spec, absl::string_view field, absl::string_view requirement,
                     const auto& value) {
  return absl::InvalidArgumentError(
      absl::StrCat(spec.kind, ".", field, " must be ", requirement, ", got ", value));
}

// `dimension` within [1, kMaxObjectiveDimension].
absl::Status CheckDimension(const ObjectiveSpec& spec) {
  if (spec.dimension < 1) return Invalid(spec, "dimension", ">= 1", spec.dimension);
  if (spec.dimension > kMaxObjectiveDimension) {
    return Invalid(spec, "dimension", absl::StrCat("<= ", kMaxObjectiveDimension),
                   spec.dimension);
  }
  return absl::OkStatus();
}

// num_examples and batch_size of a data-driven kind whose examples are `row_width` doubles wide.
absl::Status CheckData(const ObjectiveSpec& spec, int64_t row_width) {
  const int64_t max_rows = kMaxObjectiveDataElements / row_width;
  if (spec.num_examples < 1) return Invalid(spec, "num_examples", ">= 1", spec.num_examples);
  if (spec.num_examples > max_rows) {
    return Invalid(spec, "num_examples",
                   absl::StrCat("<= ", max_rows, " at this size"), spec.num_examples);
  }
  if (spec.batch_size < 0) {
    return Invalid(spec, "batch_size", ">= 0 (0 = full batch)", spec.batch_size);
  }
  if (spec.batch_size > max_rows) {
    return Invalid(spec, "batch_size", absl::StrCat("<= ", max_rows, " at this size"),
                   spec.batch_size);
  }
  return absl::OkStatus();
}

absl::Status CheckNoise(const ObjectiveSpec& spec) {
  if (!(std::isfinite(spec.noise) && spec.noise >= 0)) {
    return Invalid(spec, "noise", "finite and >= 0", spec.noise);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Objective>> MakeQuadratic(const ObjectiveSpec& spec) {
  if (absl::Status s = CheckDimension(spec); !s.ok()) return s;
  if (absl::Status s = CheckNoise(spec); !s.ok()) return s;
  if (!(std::isfinite(spec.condition_number) && spec.condition_number >= 1)) {
    return Invalid(spec, "condition_number", "finite and >= 1", spec.condition_number);
  }
  // Log-spaced, so every scale between the extremes is represented, as in a real Hessian.
  std::vector<double> curvatures(static_cast<std::size_t>(spec.dimension), 1.0);
  const double log_condition = std::log(spec.condition_number);
  for (std::size_t i = 1; i < curvatures.size(); ++i) {
    curvatures[i] = std::exp(log_condition * static_cast<double>(i) /
                             static_cast<double>(curvatures.size() - 1));
  }
  auto objective = QuadraticObjective::Create(std::move(curvatures), {}, spec.noise);
  if (!objective.ok()) return objective.status();
  return std::unique_ptr<Objective>(std::move(*objective));
}

absl::StatusOr<std::unique_ptr<Objective>> MakeTwoMode(const ObjectiveSpec& spec) {
  if (absl::Status s = CheckDimension(spec); !s.ok()) return s;
  auto objective = TwoModeLandscape::Create(TwoModeParams::Defaults(spec.dimension));
  if (!objective.ok()) return objective.status();
  return std::unique_ptr<Objective>(std::move(*objective));
}

absl::StatusOr<std::unique_ptr<Objective>> MakeLogisticRegression(const ObjectiveSpec& spec) {
  if (absl::Status s = CheckDimension(spec); !s.ok()) return s;
  if (absl::Status s = CheckData(spec, spec.dimension); !s.ok()) return s;
  if (absl::Status s = CheckNoise(spec); !s.ok()) return s;
  auto data =
      MakeSyntheticClassificationData(spec.data_seed, spec.num_examples, spec.dimension, spec.noise);
  if (!data.ok()) return data.status();
  auto objective = LogisticRegression::Create(
      *std::move(data), LogisticRegressionOptions{.batch_size = spec.batch_size, .fit_bias = true});
  if (!objective.ok()) return objective.status();
  return std::unique_ptr<Objective>(std::move(*objective));
}

absl::StatusOr<std::unique_ptr<Objective>> MakeSigmoidEntropy(const ObjectiveSpec& spec) {
  if (absl::Status s = CheckDimension(spec); !s.ok()) return s;
  if (spec.num_outputs < 1) return Invalid(spec, "num_outputs", ">= 1", spec.num_outputs);
  // The layer has 2·m·n + m parameters.
  const int64_t max_outputs = kMaxObjectiveDimension / (2 * spec.dimension + 1);
  if (spec.num_outputs > max_outputs) {
    return Invalid(spec, "num_outputs",
                   absl::StrCat("<= ", max_outputs, " at dimension ", spec.dimension),
                   spec.num_outputs);
  }
  if (absl::Status s = CheckData(spec, std::max(spec.dimension, spec.num_outputs)); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckNoise(spec); !s.ok()) return s;
  if (!std::isfinite(spec.entropy_weight)) {
    return Invalid(spec, "entropy_weight", "finite", spec.entropy_weight);
  }
  auto data = MakeSyntheticSigmoidLayerData(spec.data_seed, spec.num_examples, spec.dimension,
                                            spec.num_outputs, spec.with_labels, spec.noise);
  if (!data.ok()) return data.status();
  auto objective = SigmoidEntropyObjective::Create(
      *std::move(data), SigmoidEntropyOptions{.num_outputs = spec.num_outputs,
                                              .entropy_weight = spec.entropy_weight,
                                              .batch_size = spec.batch_size,
                                              .init_seed = spec.data_seed});
  if (!objective.ok()) return objective.status();
  return std::unique_ptr<Objective>(std::move(*objective));
}

}  // namespace

std::vector<std::string> ObjectiveKinds() {
  return {"quadratic", "two_mode", "logistic_regression", "sigmoid_entropy"};
}

absl::StatusOr<std::unique_ptr<Objective>> MakeObjective(const ObjectiveSpec& spec) {
  if (spec.kind == "quadratic") return MakeQuadratic(spec);
  if (spec.kind == "two_mode") return MakeTwoMode(spec);
  if (spec.kind == "logistic_regression") return MakeLogisticRegression(spec);
  if (spec.kind == "sigmoid_entropy") return MakeSigmoidEntropy(spec);
  return absl::InvalidArgumentError(absl::StrCat("kind must be one of ",
                                                 absl::StrJoin(ObjectiveKinds(), ", "),
                                                 ", got '", spec.kind, "'"));
}

}  // namespace basin
