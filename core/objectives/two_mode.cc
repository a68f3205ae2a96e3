#include "core/objectives/two_mode.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace basin {
namespace {

double SquaredDistance(absl::Span<const double> a, const std::vector<double>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const double d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

absl::Status CheckWell(const char* which, double curvature, double offset,
                       const std::vector<double>& center) {
  if (!(std::isfinite(curvature) && curvature > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("two_mode.", which, "_curvature must be finite and > 0, got ", curvature));
  }
  if (!std::isfinite(offset)) {
    return absl::InvalidArgumentError(
        absl::StrCat("two_mode.", which, "_offset must be finite, got ", offset));
  }
  if (center.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("two_mode.", which, "_center is empty"));
  }
  for (std::size_t i = 0; i < center.size(); ++i) {
    if (!std::isfinite(center[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("two_mode.", which, "_center[", i, "] must be finite, got ", center[i]));
    }
  }
  return absl::OkStatus();
}

}  // namespace

TwoModeParams TwoModeParams::Defaults(int64_t dimension) {
  TwoModeParams params;
  params.sharp_center.assign(static_cast<std::size_t>(dimension), 0.0);
  params.flat_center.assign(static_cast<std::size_t>(dimension), 0.0);
  if (dimension >= 1) {
    params.sharp_center[0] = -2.0;
    params.flat_center[0] = 2.0;
  }
  return params;
}

absl::StatusOr<std::unique_ptr<TwoModeLandscape>> TwoModeLandscape::Create(TwoModeParams params) {
  if (absl::Status s = CheckWell("sharp", params.sharp_curvature, params.sharp_offset,
                                 params.sharp_center);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckWell("flat", params.flat_curvature, params.flat_offset, params.flat_center);
      !s.ok()) {
    return s;
  }
  if (params.sharp_center.size() != params.flat_center.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("two_mode centers differ in size: sharp_center has ", params.sharp_center.size(),
                     " elements, flat_center ", params.flat_center.size()));
  }
  return std::unique_ptr<TwoModeLandscape>(new TwoModeLandscape(std::move(params)));
}

TwoModeLandscape::TwoModeLandscape(TwoModeParams params)
    : params_(std::move(params)),
      layout_(ParameterLayout::Flat(static_cast<int64_t>(params_.sharp_center.size()))) {}

double TwoModeLandscape::ModeEnergy(Mode mode, absl::Span<const double> theta) const {
  if (mode == Mode::kSharp) {
    return params_.sharp_offset +
           0.5 * params_.sharp_curvature * SquaredDistance(theta, params_.sharp_center);
  }
  return params_.flat_offset +
         0.5 * params_.flat_curvature * SquaredDistance(theta, params_.flat_center);
}

double TwoModeLandscape::SharpResponsibility(absl::Span<const double> theta) const {
  const double sharp = ModeEnergy(Mode::kSharp, theta);
  const double flat = ModeEnergy(Mode::kFlat, theta);
  // σ(flat − sharp), evaluated on the side where exp cannot overflow.
  const double e = std::exp(-std::abs(flat - sharp));
  return sharp <= flat ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

TwoModeLandscape::Mode TwoModeLandscape::DominantMode(absl::Span<const double> theta) const {
  return ModeEnergy(Mode::kSharp, theta) <= ModeEnergy(Mode::kFlat, theta) ? Mode::kSharp
                                                                           : Mode::kFlat;
}

TwoModeLandscape::Mode TwoModeLandscape::NearestCenter(absl::Span<const double> theta) const {
  return SquaredDistance(theta, params_.sharp_center) <= SquaredDistance(theta, params_.flat_center)
             ? Mode::kSharp
             : Mode::kFlat;
}

double TwoModeLandscape::ModeMass(Mode mode) const {
  const double d = static_cast<double>(params_.sharp_center.size());
  const bool sharp = mode == Mode::kSharp;
  const double curvature = sharp ? params_.sharp_curvature : params_.flat_curvature;
  const double offset = sharp ? params_.sharp_offset : params_.flat_offset;
  // In log space so that a large dimension gives 0 or inf honestly instead of NaN.
  return std::exp(-offset + 0.5 * d * std::log(2.0 * std::numbers::pi / curvature));
}

double TwoModeLandscape::Evaluate(absl::Span<const double> theta, absl::Span<double> gradient,
                                  const SampleKey& /*sample*/) const {
  const double sharp = ModeEnergy(Mode::kSharp, theta);
  const double flat = ModeEnergy(Mode::kFlat, theta);
  // −log(e^{−E_s} + e^{−E_f}) = min(E) − log1p(e^{−|E_s − E_f|}): no exp of a large argument.
  const double gap = std::abs(flat - sharp);
  const double e = std::exp(-gap);
  const double loss = std::min(sharp, flat) - std::log1p(e);
  if (gradient.empty()) return loss;

  // Both responsibilities from their own stable formula (not r_f = 1 − r_s), so the minority one
  // keeps its relative precision when it is tiny.
  const double major = 1.0 / (1.0 + e);
  const double minor = e / (1.0 + e);
  const double r_sharp = sharp <= flat ? major : minor;
  const double r_flat = sharp <= flat ? minor : major;
  const double w_sharp = r_sharp * params_.sharp_curvature;
  const double w_flat = r_flat * params_.flat_curvature;
  for (std::size_t i = 0; i < params_.sharp_center.size(); ++i) {
    gradient[i] = w_sharp * (theta[i] - params_.sharp_center[i]) +
                  w_flat * (theta[i] - params_.flat_center[i]);
  }
  return loss;
}

}  // namespace basin
