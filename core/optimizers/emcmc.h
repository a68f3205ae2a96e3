#ifndef BASIN_CORE_OPTIMIZERS_EMCMC_H_
#define BASIN_CORE_OPTIMIZERS_EMCMC_H_

#include "core/optimizer.h"

namespace basin {

// Entropy-MCMC (Li & Zhang 2024): θ and the guiding variable θa move together; only θ needs a
// gradient, θa feels the coupling. θ draws noise on stream 0, θa on stream 1.
template <typename Real>
class Emcmc final : public Optimizer<Real> {
 public:
  using typename Optimizer<Real>::Buffer;
  // θa starts as a copy of θ; call SetAnchor to start elsewhere.
  Emcmc(OptimizerSpec spec, ParameterLayout layout);

  int64_t ticks_per_step() const override { return 1; }
  absl::Span<const Real> Query() const override { return theta_.span(); }
  absl::Span<const Real> Model() const override { return theta_.span(); }
  absl::Span<const Real> Anchor() const override { return anchor_.span(); }

 private:
  const EmcmcConfig& config() const { return std::get<EmcmcConfig>(this->spec().config); }
  void ApplyTick(absl::Span<const Real> gradient) override;
  Buffer& MutableModel() override { return theta_; }
  Buffer* MutableAnchor() override { return &anchor_; }
  double DistanceToAnchor() const override { return DistanceL2<Real>(theta_.span(), anchor_.span()); }

  Buffer theta_;
  Buffer anchor_;
  Buffer theta_momentum_;
  Buffer anchor_momentum_;
};

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZERS_EMCMC_H_
