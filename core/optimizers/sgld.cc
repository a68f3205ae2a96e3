#include "core/optimizers/sgld.h"

#include <cmath>

#include "core/optimizers/chunking.h"

namespace basin {

template <typename Real>
Sgld<Real>::Sgld(OptimizerSpec spec, ParameterLayout layout) : Optimizer<Real>(std::move(spec), std::move(layout)) {
  this->RegisterBuffer("theta", &theta_);
}

template <typename Real>
void Sgld<Real>::ApplyTick(absl::Span<const Real> g) {
  const SgldConfig& c = config();
  const double lr = this->CurrentLr();
  const double alpha = c.lr_convention == SgldConfig::LrConvention::kWellingTeh ? lr / 2 : lr;
  const Real step = static_cast<Real>(alpha);
  const Real wd = static_cast<Real>(c.weight_decay);
  const Real noise_std = static_cast<Real>(std::sqrt(2 * alpha * c.temperature / c.num_data));
  Real* theta = theta_.data();
  Real xi[kKernelChunk];
  ForEachKernelChunk(this->dimension(), [&](int64_t begin, int64_t end) {
    if (noise_std != 0) this->Draw(0, begin, absl::MakeSpan(xi, end - begin));
    for (int64_t i = begin; i < end; ++i) {
      Real next = theta[i] - step * (g[i] + wd * theta[i]);
      if (noise_std != 0) next += noise_std * xi[i - begin];
      theta[i] = next;
    }
  });
}

template class Sgld<float>;
template class Sgld<double>;

}  // namespace basin
