#ifndef BASIN_CORE_OBJECTIVES_TWO_MODE_H_
#define BASIN_CORE_OBJECTIVES_TWO_MODE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/layout.h"
#include "core/objectives/objective.h"

namespace basin {

// The sharp/flat landscape of ALGORITHMS.md §2.6, a mixture of two isotropic Gaussian wells:
//
//   U(θ) = −log( exp(−E_sharp(θ)) + exp(−E_flat(θ)) ),   E_k(θ) = c_k + (a_k/2)‖θ − m_k‖².
//
// With the defaults the sharp mode is deeper (c_s = 0 < c_f = 1) but the flat one holds ~37× the
// probability mass at T = 1, which is the situation where a flatness-seeking sampler (EMCMC)
// should end up in the flat mode while SGLD stays stuck in the sharp one.
struct TwoModeParams {
  double sharp_curvature = 100.0;  // a_s
  double sharp_offset = 0.0;       // c_s
  std::vector<double> sharp_center = {-2.0, 0.0};
  double flat_curvature = 1.0;  // a_f
  double flat_offset = 1.0;     // c_f
  std::vector<double> flat_center = {2.0, 0.0};

  // The defaults lifted to `dimension` ≥ 1: centers (∓2, 0, …, 0) (just ∓2 in one dimension).
  static TwoModeParams Defaults(int64_t dimension);
};

class TwoModeLandscape final : public Objective {
 public:
  enum class Mode { kSharp, kFlat };

  // Fails (InvalidArgument) on a curvature that is not finite and > 0, an offset that is not
  // finite, empty or non-finite centers, or centers of different sizes.
  static absl::StatusOr<std::unique_ptr<TwoModeLandscape>> Create(TwoModeParams params = {});

  std::string name() const override { return "two_mode"; }
  const ParameterLayout& layout() const override { return layout_; }
  // Log-sum-exp evaluation, so there is no overflow or NaN far from both modes; the gradient is
  // Σ_k r_k a_k (θ − m_k) with responsibilities r_k ∝ exp(−E_k).
  double Evaluate(absl::Span<const double> theta, absl::Span<double> gradient,
                  const SampleKey& sample) const override;

  const TwoModeParams& params() const { return params_; }

  // E_k(θ) = c_k + (a_k/2)‖θ − m_k‖²: the energy θ would have under mode k alone.
  double ModeEnergy(Mode mode, absl::Span<const double> theta) const;
  // r_sharp(θ) = exp(−E_s) / (exp(−E_s) + exp(−E_f)) ∈ [0, 1]: how much of U's gradient at θ
  // comes from the sharp well. 1/2 exactly on the ridge between the basins.
  double SharpResponsibility(absl::Span<const double> theta) const;
  // The mode whose well claims θ: the one with the lower energy E_k (ties go to sharp). This is
  // the basin a sampler at θ is in, which for a sharp well is not the same as the nearer center.
  Mode DominantMode(absl::Span<const double> theta) const;
  // The mode whose center is nearer in Euclidean distance (ties go to sharp).
  Mode NearestCenter(absl::Span<const double> theta) const;
  // ∫ exp(−E_k(θ)) dθ = e^{−c_k} (2π/a_k)^{d/2}: the probability mass of mode k under exp(−U)
  // at temperature 1, up to the common normalizer. 0.0628 (sharp) and 2.311 (flat) by default.
  double ModeMass(Mode mode) const;

 private:
  explicit TwoModeLandscape(TwoModeParams params);

  TwoModeParams params_;
  ParameterLayout layout_;
};

}  // namespace basin

#endif  // BASIN_CORE_OBJECTIVES_TWO_MODE_H_
