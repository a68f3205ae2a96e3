#ifndef BASIN_CORE_OPTIMIZERS_ENTROPY_SGD_H_
#define BASIN_CORE_OPTIMIZERS_ENTROPY_SGD_H_

#include "core/optimizer.h"

namespace basin {

// Entropy-SGD (Chaudhari et al. 2017) in the lua, paper and pytorch variants of
// ALGORITHMS.md §1.3. The query point is x at the start of a step (the inner loop starts there)
// and x' after each inner tick. x' and μ keep their last values after a step, so ‖x − x'‖ and μ
// can be inspected; the next step's first inner tick restarts them from x in the same pass.
template <typename Real>
class EntropySgd final : public Optimizer<Real> {
 public:
  using typename Optimizer<Real>::Buffer;
  EntropySgd(OptimizerSpec spec, ParameterLayout layout);

  int64_t ticks_per_step() const override { return config().L + (config().extra_tick_at_x ? 1 : 0); }
  absl::Span<const Real> Query() const override { return InnerLoopStarted() ? x_inner_.span() : x_.span(); }
  absl::Span<const Real> Model() const override { return x_.span(); }

 private:
  using Variant = EntropySgdConfig::Variant;
  const EntropySgdConfig& config() const { return std::get<EntropySgdConfig>(this->spec().config); }
  void ApplyTick(absl::Span<const Real> gradient) override;
  void InnerTick(absl::Span<const Real> gradient);
  // Whether the current step has taken an inner tick yet, i.e. whether x' is this step's.
  bool InnerLoopStarted() const { return this->phase() > (config().extra_tick_at_x ? 1 : 0); }
  Buffer& MutableModel() override { return x_; }
  double CurrentGamma() const override { return config().GammaAt(this->step()); }
  double DistanceToAnchor() const override { return DistanceL2<Real>(x_.span(), x_inner_.span()); }  // last x'

  Buffer x_;             // the model
  Buffer x_inner_;       // x', the inner SGLD iterate
  Buffer mu_;            // μ, the running average of x'
  Buffer inner_momentum_;
  Buffer outer_momentum_;  // pytorch variant only
};

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZERS_ENTROPY_SGD_H_
