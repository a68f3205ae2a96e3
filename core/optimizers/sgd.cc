#include "core/optimizers/sgd.h"

#include "core/optimizers/chunking.h"
#include "core/optimizers/sgd_rule.h"

namespace basin {

template <typename Real>
Sgd<Real>::Sgd(OptimizerSpec spec, ParameterLayout layout) : Optimizer<Real>(std::move(spec), std::move(layout)) {
  this->RegisterBuffer("theta", &theta_);
  if (config().momentum != 0) this->RegisterBuffer("momentum", &momentum_);
}

template <typename Real>
void Sgd<Real>::ApplyTick(absl::Span<const Real> g) {
  const SgdRule<Real> rule = MakeSgdRule<Real>(config(), this->CurrentLr(), this->step() == 0);
  Real* theta = theta_.data();
  Real* momentum = momentum_.data();
  ForEachKernelChunk(this->dimension(), [&](int64_t begin, int64_t end) {
    ApplySgdRule(rule, g.data() + begin, theta + begin, rule.momentum != 0 ? momentum + begin : nullptr, end - begin);
  });
}

template class Sgd<float>;
template class Sgd<double>;

}  // namespace basin
