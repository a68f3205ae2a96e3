#include "core/optimizers/sam.h"

#include <cmath>

#include "core/optimizers/chunking.h"
#include "core/optimizers/sgd_rule.h"
#include "core/kernels/reduction_kernels.h"

namespace basin {

template <typename Real>
Sam<Real>::Sam(OptimizerSpec spec, ParameterLayout layout) : Optimizer<Real>(std::move(spec), std::move(layout)) {
  this->RegisterBuffer("w", &w_);
  this->RegisterBuffer("perturbed", &perturbed_);
  if (config().momentum != 0) this->RegisterBuffer("momentum", &momentum_);
}

template <typename Real>
double Sam<Real>::DistanceToAnchor() const {
  return this->phase() == 1 ? DistanceL2<Real>(w_.span(), perturbed_.span()) : 0;
}

template <typename Real>
void Sam<Real>::ApplyTick(absl::Span<const Real> g) {
  const SamConfig& c = config();
  const int64_t n = this->dimension();
  if (this->phase() == 0) {
    // The ascent direction needs the global norm first: one reduction pass, then one update pass.
    const double norm = std::sqrt(c.adaptive ? SumOfScaledSquares<Real>(w_.span(), g) : SumOfSquares<Real>(g));
    const Real scale = static_cast<Real>(c.rho / (norm + c.eps));
    const Real* w = w_.data();
    Real* p = perturbed_.data();
    ForEachKernelChunk(n, [&](int64_t begin, int64_t end) {
      ApplySamAscent(c.adaptive, scale, g.data() + begin, w + begin, p + begin, end - begin);
    });
    return;
  }
  const SgdRule<Real> rule = MakeSgdRule<Real>(c, this->CurrentLr(), this->step() == 0);
  Real* w = w_.data();
  Real* momentum = momentum_.data();
  ForEachKernelChunk(n, [&](int64_t begin, int64_t end) {
    ApplySgdRule(rule, g.data() + begin, w + begin, rule.momentum != 0 ? momentum + begin : nullptr, end - begin);
  });
}

template class Sam<float>;
template class Sam<double>;

}  // namespace basin
