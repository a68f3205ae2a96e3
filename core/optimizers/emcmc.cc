#include "core/optimizers/emcmc.h"

#include <cmath>

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
  const Real lr = static_cast<Real>(lr_d);
  const Real coupling = static_cast<Real>(1 / (c.eta * c.num_data));
  const Real wd = static_cast<Real>(c.weight_decay);
  const Real wd_anchor = static_cast<Real>(c.anchor_weight_decay ? c.weight_decay : 0);
  const double noise_std_d = std::sqrt(2 * lr_d * c.temperature / c.num_data);
  const Real noise_std = static_cast<Real>(noise_std_d);
  const bool noisy = noise_std_d != 0;
  const Real mom = static_cast<Real>(c.momentum);
  const bool has_momentum = mom != 0;
  const bool first = this->step() == 0;
  // With momentum the reference code feeds the noise through the optimizer as the gradient of
  // −√(2T/(lr·N))·Σθ⊙ξ; computed as noise_std / lr it cannot blow up as lr → 0 (lr = 0 gives 0).
  const Real noise_in_gradient = static_cast<Real>(lr_d > 0 ? noise_std_d / lr_d : 0);

  Real* theta = theta_.data();
  Real* anchor = anchor_.data();
  Real* mt = theta_momentum_.data();
  Real* ma = anchor_momentum_.data();
  Real xi[kKernelChunk];
  Real xi_anchor[kKernelChunk];
  ForEachKernelChunk(this->dimension(), [&](int64_t begin, int64_t end) {
    if (noisy) {
      this->Draw(0, begin, absl::MakeSpan(xi, end - begin));
      this->Draw(1, begin, absl::MakeSpan(xi_anchor, end - begin));
    }
    for (int64_t i = begin; i < end; ++i) {
      const Real t = theta[i];
      const Real a = anchor[i];
      Real gt = g[i] + coupling * (t - a) + wd * t;
      Real ga = coupling * (a - t) + wd_anchor * a;
      if (!has_momentum) {
        Real nt = t - lr * gt;
        Real na = a - lr * ga;
        if (noisy) {
          nt += noise_std * xi[i - begin];
          na += noise_std * xi_anchor[i - begin];
        }
        theta[i] = nt;
        anchor[i] = na;
        continue;
      }
      if (noisy) {
        gt -= noise_in_gradient * xi[i - begin];
        ga -= noise_in_gradient * xi_anchor[i - begin];
      }
      mt[i] = first ? gt : mom * mt[i] + gt;
      ma[i] = first ? ga : mom * ma[i] + ga;
      theta[i] = t - lr * mt[i];
      anchor[i] = a - lr * ma[i];
    }
  });
}

template class Emcmc<float>;
template class Emcmc<double>;

}  // namespace basin
