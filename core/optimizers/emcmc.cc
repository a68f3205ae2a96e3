#include "core/optimizers/emcmc.h"

#include <cmath>

#include "core/kernels/update_kernels.h"
#include "core/optimizers/chunking.h"

namespace basin {

template <typename Real>
Emcmc<Real>::Emcmc(OptimizerSpec spec, ParameterLayout layout) : Optimizer<Real>(std::move(spec), std::move(layout)) {
  this->RegisterBuffer("theta", &theta_);
  this->RegisterBuffer("anchor", &anchor_);
  if (config().momentum != 0) {
    this->RegisterBuffer("theta_momentum", &theta_momentum_);
    this->RegisterBuffer("anchor_momentum", &anchor_momentum_);
  }
}

template <typename Real>
void Emcmc<Real>::ApplyTick(absl::Span<const Real> g) {
  const EmcmcConfig& c = config();
  const double lr_d = this->CurrentLr();
  const double noise_std = std::sqrt(2 * lr_d * c.temperature / c.num_data);
  EmcmcStep<Real> s;
  s.lr = static_cast<Real>(lr_d);
  s.coupling = static_cast<Real>(1 / (c.eta * c.num_data));
  s.weight_decay = static_cast<Real>(c.weight_decay);
  s.anchor_weight_decay = static_cast<Real>(c.anchor_weight_decay ? c.weight_decay : 0);
  s.noise_std = static_cast<Real>(noise_std);
  // With momentum the reference code feeds the noise through the optimizer as the gradient of
  // −√(2T/(lr·N))·Σθ⊙ξ; computed as noise_std / lr it cannot blow up as lr → 0 (lr = 0 gives 0).
  s.noise_in_gradient = static_cast<Real>(lr_d > 0 ? noise_std / lr_d : 0);
  s.momentum = static_cast<Real>(c.momentum);
  s.noisy = noise_std != 0;
  s.has_momentum = s.momentum != 0;
  s.first = this->step() == 0;

  Real* theta = theta_.data();
  Real* anchor = anchor_.data();
  Real* mt = theta_momentum_.data();
  Real* ma = anchor_momentum_.data();
  ForEachKernelChunk(this->dimension(), [&](int64_t begin, int64_t end) {
    Real xi[kKernelChunk];
    Real xi_anchor[kKernelChunk];
    if (s.noisy) {
      this->Draw(0, begin, absl::MakeSpan(xi, end - begin));
      this->Draw(1, begin, absl::MakeSpan(xi_anchor, end - begin));
    }
    ApplyEmcmcStep(s, g.data() + begin, xi, xi_anchor, theta + begin, anchor + begin,
                   s.has_momentum ? mt + begin : nullptr, s.has_momentum ? ma + begin : nullptr, end - begin);
  });
}

template class Emcmc<float>;
template class Emcmc<double>;

}  // namespace basin
