#ifndef BASIN_CORE_OBJECTIVES_QUADRATIC_H_
#define BASIN_CORE_OBJECTIVES_QUADRATIC_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/layout.h"
#include "core/objectives/objective.h"

namespace basin {

// f(x) = ½ Σ_i a_i (x_i − c_i)² with every a_i > 0: the strongly convex test problem whose
// minimizer (c) and Hessian (diag a) are known exactly. One flat tensor "x".
//
// With gradient_noise_std σ > 0 the returned gradient is a⊙(x − c) + σ·ξ, ξ ~ N(0, I) a pure
// function of the SampleKey, which mimics a minibatch gradient with known covariance σ²I. The
// returned loss stays the exact f(x): the noise models the gradient estimator only.
class QuadraticObjective final : public Objective {
 public:
  // `center` empty means c = 0. Fails (InvalidArgument) on no curvatures, a curvature that is not
  // finite and > 0, a center of the wrong size or not finite, or σ negative or not finite.
  static absl::StatusOr<std::unique_ptr<QuadraticObjective>> Create(std::vector<double> curvatures,
                                                                    std::vector<double> center = {},
                                                                    double gradient_noise_std = 0.0);

  std::string name() const override { return "quadratic"; }
  const ParameterLayout& layout() const override { return layout_; }
  double Evaluate(absl::Span<const double> x, absl::Span<double> gradient,
                  const SampleKey& sample) const override;

  const std::vector<double>& curvatures() const { return curvatures_; }
  // The minimizer c.
  const std::vector<double>& center() const { return center_; }
  double gradient_noise_std() const { return gradient_noise_std_; }

 private:
  QuadraticObjective(std::vector<double> curvatures, std::vector<double> center,
                     double gradient_noise_std);

  std::vector<double> curvatures_;
  std::vector<double> center_;
  double gradient_noise_std_;
  ParameterLayout layout_;
};

}  // namespace basin

#endif  // BASIN_CORE_OBJECTIVES_QUADRATIC_H_
