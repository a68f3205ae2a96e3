#ifndef BASIN_CORE_OBJECTIVES_SIGMOID_ENTROPY_H_
#define BASIN_CORE_OBJECTIVES_SIGMOID_ENTROPY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/layout.h"
#include "core/objectives/objective.h"

namespace basin {

// The "entropy functional" H(z) = −(1/ln 2) ∫ z dσ(z), integrated from z = −∞: the binary
// Shannon entropy of σ(z) in bits (ALGORITHMS.md §4). Even in z, 1 at z = 0, → 0 as |z| → ∞.
// Evaluated as [log1p(e) + |z|·e/(1+e)] / ln 2 with e = exp(−|z|), which is exact to rounding for
// every z, where −D log₂ D − (1−D) log₂(1−D) loses everything beyond |z| ≈ 37.
double BinaryEntropyBits(double z);
// dH/dz = −z·σ(z)σ(−z)/ln 2 = −z·e/(1+e)²/ln 2. Odd in z.
double BinaryEntropyBitsDerivative(double z);

// Inputs (and optional targets) for a sigmoid layer.
struct SigmoidLayerData {
  int64_t num_examples = 0;
  int64_t num_inputs = 0;      // n
  std::vector<double> inputs = {};  // row-major, num_examples × n
  // Empty (the pure entropy functional), or row-major num_examples × m targets in [0, 1].
  std::vector<double> targets = {};
};

// Reproducible data for the layer: inputs x ~ N(0, I_n). With `with_targets`, target i of an
// example is [w*_i·x + label_noise·ε > 0] for m teachers w*_i ~ N(0, I_n / n), ε ~ N(0, 1).
// Philox noise keyed by `seed` alone.
absl::StatusOr<SigmoidLayerData> MakeSyntheticSigmoidLayerData(uint64_t seed, int64_t num_examples,
                                                               int64_t num_inputs,
                                                               int64_t num_outputs,
                                                               bool with_targets,
                                                               double label_noise);

struct SigmoidEntropyOptions {
  int64_t num_outputs = 1;  // m
  // λ, the weight of the entropy term. Must be finite; negative maximizes entropy.
  double entropy_weight = 1.0;
  // Examples per evaluation, drawn with MinibatchIndices (logistic_regression.h); 0 = all.
  int64_t batch_size = 0;
  // Seed of InitialPoint's W (see there).
  uint64_t init_seed = 0;
};

// A sigmoid layer z = (W + G)·x + b, D = σ(z), with parameters "W" [m, n], "G" [m, n], "b" [m].
// The loss over a batch of B examples is
//
//   (1/B) Σ_examples Σ_i [ BCE(y_i, σ(z_i)) if targets are given ] + λ · (1/B) Σ_examples Σ_i H(z_i)
//
// with BCE in nats (log1p(exp(−|z|)) + max(z, 0) − y·z) and H in bits. Without targets it is the
// entropy functional of the layer, averaged over the inputs. W and G enter only through W + G, so
// their gradients are equal: ∂/∂W_ij = ∂/∂G_ij = (dLoss/dz_i)·x_j and ∂/∂b_i = dLoss/dz_i.
class SigmoidEntropyObjective final : public Objective {
 public:
  // InvalidArgument on bad sizes, a buffer length that does not match them, non-finite inputs,
  // targets outside [0, 1], num_outputs < 1, a negative batch size or a non-finite λ.
  static absl::StatusOr<std::unique_ptr<SigmoidEntropyObjective>> Create(
      SigmoidLayerData data, SigmoidEntropyOptions options = {});

  std::string name() const override { return "sigmoid_entropy"; }
  const ParameterLayout& layout() const override { return layout_; }
  double Evaluate(absl::Span<const double> x, absl::Span<double> gradient,
                  const SampleKey& sample) const override;
  // W ~ N(0, 1/n) drawn from options.init_seed, G = 0, b = 0. Not all zeros: z = 0 is where H
  // has its maximum and a zero gradient, so plain gradient descent from zeros would never move.
  std::vector<double> InitialPoint() const override;

  const SigmoidLayerData& data() const { return data_; }
  const SigmoidEntropyOptions& options() const { return options_; }

 private:
  SigmoidEntropyObjective(SigmoidLayerData data, SigmoidEntropyOptions options);

  SigmoidLayerData data_;
  SigmoidEntropyOptions options_;
  ParameterLayout layout_;
};

}  // namespace basin

#endif  // BASIN_CORE_OBJECTIVES_SIGMOID_ENTROPY_H_
