#ifndef BASIN_CORE_OPTIMIZERS_SGLD_H_
#define BASIN_CORE_OPTIMIZERS_SGLD_H_

#include "core/optimizer.h"

namespace basin {

// Stochastic gradient Langevin dynamics (Welling & Teh 2011) in temperature form.
template <typename Real>
class Sgld final : public Optimizer<Real> {
 public:
  using typename Optimizer<Real>::Buffer;
  Sgld(OptimizerSpec spec, ParameterLayout layout);

  int64_t ticks_per_step() const override { return 1; }
  absl::Span<const Real> Query() const override { return theta_.span(); }
  absl::Span<const Real> Model() const override { return theta_.span(); }

 private:
  const SgldConfig& config() const { return std::get<SgldConfig>(this->spec().config); }
  void ApplyTick(absl::Span<const Real> gradient) override;
  Buffer& MutableModel() override { return theta_; }

  Buffer theta_;
};

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZERS_SGLD_H_
