#ifndef BASIN_CORE_OPTIMIZERS_SAM_H_
#define BASIN_CORE_OPTIMIZERS_SAM_H_

#include "core/optimizer.h"

namespace basin {

// Sharpness-aware minimization: tick 0 at w, tick 1 at w + ε, then the SGD rule at w.
template <typename Real>
class Sam final : public Optimizer<Real> {
 public:
  using typename Optimizer<Real>::Buffer;
  Sam(OptimizerSpec spec, ParameterLayout layout);

  int64_t ticks_per_step() const override { return 2; }
  bool ticks_share_minibatch() const override { return true; }
  absl::Span<const Real> Query() const override { return this->phase() == 0 ? w_.span() : perturbed_.span(); }
  absl::Span<const Real> Model() const override { return w_.span(); }

 private:
  const SamConfig& config() const { return std::get<SamConfig>(this->spec().config); }
  void ApplyTick(absl::Span<const Real> gradient) override;
  Buffer& MutableModel() override { return w_; }
  double DistanceToAnchor() const override;

  Buffer w_;
  Buffer perturbed_;  // w + ε between the two ticks
  Buffer momentum_;
};

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZERS_SAM_H_
