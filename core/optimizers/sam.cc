#include "core/optimizers/sam.h"

#include <cmath>

#include "core/optimizers/chunking.h"
#include "core/optimizers/sgd_rule.h"
#include "core/reduction.h"

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
  const Real* w = w_.data();
  if (this->phase() == 0) {
    // The ascent direction needs the global norm first: one reduction pass, then one update pass.
    const double norm = std::sqrt(DeterministicSum(this->dimension(), [&](int64_t i) {
      const double s = c.adaptive ? std::fabs(static_cast<double>(w[i])) * g[i] : g[i];
      return s * s;
    }));
    const Real scale = static_cast<Real>(c.rho / (norm + c.eps));
    Real* p = perturbed_.data();
    ForEachKernelChunk(this->dimension(), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const Real e = c.adaptive ? w[i] * w[i] * g[i] * scale : g[i] * scale;
        p[i] = w[i] + e;
      }
    });
    return;
  }
  const SgdRule<Real> rule = MakeSgdRule<Real>(c, this->CurrentLr(), this->step() == 0);
  ForEachKernelChunk(this->dimension(), [&](int64_t begin, int64_t end) {
    rule.Apply(g.data(), w_.data(), momentum_.data(), begin, end);
  });
}

template class Sam<float>;
template class Sam<double>;

}  // namespace basin
