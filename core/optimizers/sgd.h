#ifndef BASIN_CORE_OPTIMIZERS_SGD_H_
#define BASIN_CORE_OPTIMIZERS_SGD_H_

#include "core/optimizer.h"

namespace basin {

// torch.optim.SGD as an ask/tell optimizer: one tick per step, queried at θ.
template <typename Real>
class Sgd final : public Optimizer<Real> {
 public:
  using typename Optimizer<Real>::Buffer;
  Sgd(OptimizerSpec spec, ParameterLayout layout);

  int64_t ticks_per_step() const override { return 1; }
  absl::Span<const Real> Query() const override { return theta_.span(); }
  absl::Span<const Real> Model() const override { return theta_.span(); }

 private:
  const SgdConfig& config() const { return std::get<SgdConfig>(this->spec().config); }
  void ApplyTick(absl::Span<const Real> gradient) override;
  Buffer& MutableModel() override { return theta_; }

  Buffer theta_;
  Buffer momentum_;
};

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZERS_SGD_H_
