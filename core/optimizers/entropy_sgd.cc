#include "core/optimizers/entropy_sgd.h"

#include <cmath>
#include <cstring>

#include "core/kernels/update_kernels.h"
#include "core/optimizers/chunking.h"

namespace basin {

template <typename Real>
EntropySgd<Real>::EntropySgd(OptimizerSpec spec, ParameterLayout layout)
    : Optimizer<Real>(std::move(spec), std::move(layout)) {
  this->RegisterBuffer("x", &x_);
  this->RegisterBuffer("x_inner", &x_inner_);
  this->RegisterBuffer("mu", &mu_);
  if (config().momentum != 0) {
    this->RegisterBuffer("inner_momentum", &inner_momentum_);
    if (config().variant == Variant::kPytorch) this->RegisterBuffer("outer_momentum", &outer_momentum_);
  }
}

template <typename Real>
void EntropySgd<Real>::ApplyTick(absl::Span<const Real> g) {
  const EntropySgdConfig& c = config();
  const int64_t first_inner_phase = c.extra_tick_at_x ? 1 : 0;
  if (this->phase() < first_inner_phase) {
    // The tick at x. Only the pytorch variant uses its gradient: the outer momentum buffer starts
    // at the gradient at the first x (python/optim.py), not at zero.
    if (c.variant == Variant::kPytorch && !outer_momentum_.empty() && this->step() == 0) {
      std::memcpy(outer_momentum_.data(), g.data(), g.size() * sizeof(Real));
    }
    return;
  }
  InnerTick(g);
}

template <typename Real>
void EntropySgd<Real>::InnerTick(absl::Span<const Real> g) {
  const EntropySgdConfig& c = config();
  const bool pytorch = c.variant == Variant::kPytorch;
  const bool paper = c.variant == Variant::kPaper;
  // The per-step noise standard deviation is ε·√(2η') (code) or ε·√η' (paper). The reference codes
  // add it to the gradient as (ε/√(0.5η'))·ξ before the η' step; Algorithm 1 adds it to x'. The
  // two agree in law; with prescribed draws the sign differs, so each variant keeps its own.
  const bool code_scaling = c.noise_scaling == EntropySgdConfig::NoiseScaling::kCode;
  const double noise_std = c.noise * std::sqrt(code_scaling ? 2 * c.inner_lr : c.inner_lr);
  const double lr = this->CurrentLr();

  EntropySgdInnerStep<Real> s;
  s.gamma = static_cast<Real>(CurrentGamma());
  s.inner_lr = static_cast<Real>(c.inner_lr);
  s.momentum = static_cast<Real>(c.momentum);
  s.weight_decay = static_cast<Real>(c.weight_decay);
  s.ema = static_cast<Real>(c.ema);
  s.keep = static_cast<Real>(1 - c.ema);
  s.noise_in_iterate = static_cast<Real>(paper ? noise_std : 0);
  s.noise_in_gradient =
      static_cast<Real>(paper ? 0 : c.noise / std::sqrt(code_scaling ? 0.5 * c.inner_lr : c.inner_lr));
  // The outer update, fused into the last inner tick's pass.
  s.lr = static_cast<Real>(lr);
  s.outer_rate = static_cast<Real>(paper ? lr * CurrentGamma() : lr);
  // The first inner tick starts the loop from x (x' ← x, μ ← x, m ← 0) in the same pass; the
  // last one also applies the outer update.
  s.fresh = !InnerLoopStarted();
  s.last = this->phase() + 1 == ticks_per_step();
  s.pytorch = pytorch;
  s.paper = paper;
  s.has_momentum = s.momentum != 0;
  s.nesterov = c.nesterov;
  s.noisy = noise_std != 0;
  s.outer_first = this->step() == 0 && !c.extra_tick_at_x;

  Real* x = x_.data();
  Real* xp = x_inner_.data();
  Real* mu = mu_.data();
  Real* m = inner_momentum_.data();
  Real* outer_m = outer_momentum_.data();
  ForEachKernelChunk(this->dimension(), [&](int64_t begin, int64_t end) {
    Real xi[kKernelChunk];
    if (s.noisy) this->Draw(0, begin, absl::MakeSpan(xi, end - begin));
    ApplyEntropySgdInnerStep(s, g.data() + begin, xi, x + begin, xp + begin, mu + begin,
                             s.has_momentum ? m + begin : nullptr,
                             s.has_momentum && pytorch ? outer_m + begin : nullptr, end - begin);
  });
}

template class EntropySgd<float>;
template class EntropySgd<double>;

}  // namespace basin
