#include "core/optimizers/entropy_sgd.h"

#include <cmath>
#include <cstring>

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
  // The first inner tick starts the loop from x (x' ← x, μ ← x, m ← 0) in the same pass; the
  // last one also applies the outer update.
  const bool fresh = !InnerLoopStarted();
  const bool last = this->phase() + 1 == ticks_per_step();
  const bool pytorch = c.variant == Variant::kPytorch;
  const bool paper = c.variant == Variant::kPaper;
  const Real gamma = static_cast<Real>(CurrentGamma());
  const Real inner_lr = static_cast<Real>(c.inner_lr);
  const Real mom = static_cast<Real>(c.momentum);
  const Real wd = static_cast<Real>(c.weight_decay);
  const Real ema = static_cast<Real>(c.ema);
  const Real keep = static_cast<Real>(1 - c.ema);
  // The per-step noise standard deviation is ε·√(2η') (code) or ε·√η' (paper). The reference codes
  // add it to the gradient as (ε/√(0.5η'))·ξ before the η' step; Algorithm 1 adds it to x'. The
  // two agree in law; with prescribed draws the sign differs, so each variant keeps its own.
  const double noise_std = c.noise * std::sqrt(c.noise_scaling == EntropySgdConfig::NoiseScaling::kCode
                                                   ? 2 * c.inner_lr
                                                   : c.inner_lr);
  const Real noise_in_iterate = static_cast<Real>(paper ? noise_std : 0);
  const Real noise_in_gradient = static_cast<Real>(
      paper ? 0
            : c.noise / std::sqrt(c.noise_scaling == EntropySgdConfig::NoiseScaling::kCode ? 0.5 * c.inner_lr
                                                                                           : c.inner_lr));
  const bool noisy = noise_std != 0;

  // The outer update, fused into the last inner tick's pass.
  const double lr_d = this->CurrentLr();
  const Real lr = static_cast<Real>(lr_d);
  const Real outer_rate = static_cast<Real>(paper ? lr_d * CurrentGamma() : lr_d);
  const bool outer_first = this->step() == 0 && !c.extra_tick_at_x;

  Real* x = x_.data();
  Real* xp = x_inner_.data();
  Real* mu = mu_.data();
  Real* m = inner_momentum_.data();
  Real* outer_m = outer_momentum_.data();
  const bool has_momentum = mom != 0;

  Real xi[kKernelChunk];
  ForEachKernelChunk(this->dimension(), [&](int64_t begin, int64_t end) {
    if (noisy) this->Draw(0, begin, absl::MakeSpan(xi, end - begin));
    for (int64_t i = begin; i < end; ++i) {
      const Real x_inner = fresh ? x[i] : xp[i];
      const Real mu_prev = fresh ? x[i] : mu[i];
      Real d = g[i];
      if (pytorch) d += wd * x_inner;
      if (has_momentum) {
        m[i] = fresh ? d : mom * m[i] + d;  // the buffer restarts at 0 each step: mom·0 + d
        d = c.nesterov ? d + mom * m[i] : m[i];
      }
      if (!pytorch) {
        d = d - gamma * (x[i] - x_inner) + wd * x_inner;
      } else {
        d -= gamma * (x[i] - x_inner);
      }
      if (noisy && !paper) d += noise_in_gradient * xi[i - begin];
      Real next = x_inner - inner_lr * d;
      if (noisy && paper) next += noise_in_iterate * xi[i - begin];
      xp[i] = next;
      mu[i] = keep * mu_prev + ema * next;
      if (!last) continue;

      if (pytorch) {
        Real od = (x[i] - mu[i]) + wd * x[i];
        if (has_momentum) {
          outer_m[i] = outer_first ? od : mom * outer_m[i] + od;
          od = c.nesterov ? od + mom * outer_m[i] : outer_m[i];
        }
        x[i] -= lr * od;
      } else {
        x[i] -= outer_rate * (x[i] - mu[i]);
      }
    }
  });
}

template class EntropySgd<float>;
template class EntropySgd<double>;

}  // namespace basin
