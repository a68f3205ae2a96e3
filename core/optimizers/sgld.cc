#include "core/optimizers/sgld.h"

#include <cmath>

#include "core/kernels/update_kernels.h"
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
  SgldStep<Real> s;
  s.step = static_cast<Real>(alpha);
  s.weight_decay = static_cast<Real>(c.weight_decay);
  s.noise_std = static_cast<Real>(std::sqrt(2 * alpha * c.temperature / c.num_data));
  s.noisy = s.noise_std != 0;
  Real* theta = theta_.data();
  ForEachKernelChunk(this->dimension(), [&](int64_t begin, int64_t end) {
    Real xi[kKernelChunk];
    if (s.noisy) this->Draw(0, begin, absl::MakeSpan(xi, end - begin));
    ApplySgldStep(s, g.data() + begin, xi, theta + begin, end - begin);
  });
}

template class Sgld<float>;
template class Sgld<double>;

}  // namespace basin
