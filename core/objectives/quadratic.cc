#include "core/objectives/quadratic.h"

#include <cmath>
#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/noise.h"

namespace basin {
namespace {

// Objectives draw from their own Philox streams, far above the small stream numbers optimizers
// use (0, 1, ...), so a client that passes its session seed as SampleKey.seed still gets gradient
// noise independent of the optimizer's Langevin noise at the same tick. ASCII "QUAD".
constexpr uint32_t kGradientNoiseStream = 0x51554144;

}  // namespace

absl::StatusOr<std::unique_ptr<QuadraticObjective>> QuadraticObjective::Create(
    std::vector<double> curvatures, std::vector<double> center, double gradient_noise_std) {
  if (curvatures.empty()) {
    return absl::InvalidArgumentError("quadratic needs at least one curvature, got none");
  }
  for (std::size_t i = 0; i < curvatures.size(); ++i) {
    if (!(std::isfinite(curvatures[i]) && curvatures[i] > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("quadratic curvature ", i, " must be finite and > 0, got ", curvatures[i]));
    }
  }
  if (center.empty()) center.assign(curvatures.size(), 0.0);
  if (center.size() != curvatures.size()) {
    return absl::InvalidArgumentError(absl::StrCat("quadratic center has ", center.size(),
                                                   " elements, curvatures have ", curvatures.size()));
  }
  for (std::size_t i = 0; i < center.size(); ++i) {
    if (!std::isfinite(center[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("quadratic center ", i, " must be finite, got ", center[i]));
    }
  }
  if (!(std::isfinite(gradient_noise_std) && gradient_noise_std >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quadratic gradient_noise_std must be finite and >= 0, got ", gradient_noise_std));
  }
  return std::unique_ptr<QuadraticObjective>(
      new QuadraticObjective(std::move(curvatures), std::move(center), gradient_noise_std));
}

QuadraticObjective::QuadraticObjective(std::vector<double> curvatures, std::vector<double> center,
                                       double gradient_noise_std)
    : curvatures_(std::move(curvatures)),
      center_(std::move(center)),
      gradient_noise_std_(gradient_noise_std),
      layout_(ParameterLayout::Flat(static_cast<int64_t>(curvatures_.size()))) {}

double QuadraticObjective::Evaluate(absl::Span<const double> x, absl::Span<double> gradient,
                                    const SampleKey& sample) const {
  const std::size_t n = curvatures_.size();
  double loss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = x[i] - center_[i];
    loss += 0.5 * curvatures_[i] * d * d;
  }
  if (gradient.empty()) return loss;

  if (gradient_noise_std_ > 0) {
    PhiloxNormalNoise(sample.seed).Fill(sample.tick, kGradientNoiseStream, 0, gradient);
    for (std::size_t i = 0; i < n; ++i) {
      gradient[i] = curvatures_[i] * (x[i] - center_[i]) + gradient_noise_std_ * gradient[i];
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) gradient[i] = curvatures_[i] * (x[i] - center_[i]);
  }
  return loss;
}

}  // namespace basin
