#ifndef BASIN_CORE_KERNELS_UPDATE_KERNELS_H_
#define BASIN_CORE_KERNELS_UPDATE_KERNELS_H_

// The elementwise passes of every optimizer, vectorized with run-time dispatch. Each takes
// pointers to the first element of a range and its length; the noise `xi` is the range's draws.
// The parameters are the step's constants, already in the state's precision, and each pass
// performs exactly the IEEE operations, in the order, that its comment gives (no fused
// multiply-add): the bits are those of the plain scalar loop on every target, so the test vectors
// of ALGORITHMS.md hold exactly.

#include <cstdint>

namespace basin {

// torch.optim.SGD in its order of operations. SGD applies it at every tick; SAM with the gradient
// from w + ε.
//   d = g + weight_decay·w
//   if momentum ≠ 0: buf = first_step ? d : momentum·buf + (1 − dampening)·d
//                    d = nesterov ? d + momentum·buf : buf
//   w = w − lr·d
template <typename Real>
struct SgdRule {
  Real lr;
  Real momentum;
  Real dampening;
  Real weight_decay;
  bool nesterov;
  bool first_step;  // torch starts the momentum buffer at d instead of mixing it in
};
template <typename Real>
void ApplySgdRule(const SgdRule<Real>& rule, const Real* g, Real* w, Real* buf, int64_t n);

// θ = θ − step·(g + weight_decay·θ), then θ = θ + noise_std·ξ when noisy.
template <typename Real>
struct SgldStep {
  Real step;
  Real weight_decay;
  Real noise_std;
  bool noisy;
};
template <typename Real>
void ApplySgldStep(const SgldStep<Real>& s, const Real* g, const Real* xi, Real* theta, int64_t n);

// Entropy-MCMC, θ with stream-0 noise ξ, θa with stream-1 noise ξa:
//   gθ = g + coupling·(θ − θa) + wd·θ;  ga = coupling·(θa − θ) + wd_anchor·θa
//   no momentum: θ = θ − lr·gθ (+ noise_std·ξ);  θa = θa − lr·ga (+ noise_std·ξa)
//   momentum:    gθ = gθ − noise_in_gradient·ξ; ga = ga − noise_in_gradient·ξa (when noisy)
//                mθ = first ? gθ : mom·mθ + gθ;  ma likewise;  θ = θ − lr·mθ;  θa = θa − lr·ma
template <typename Real>
struct EmcmcStep {
  Real lr;
  Real coupling;
  Real weight_decay;
  Real anchor_weight_decay;
  Real noise_std;
  Real noise_in_gradient;
  Real momentum;
  bool noisy;
  bool has_momentum;
  bool first;
};
template <typename Real>
void ApplyEmcmcStep(const EmcmcStep<Real>& s, const Real* g, const Real* xi, const Real* xi_anchor, Real* theta,
                    Real* anchor, Real* theta_momentum, Real* anchor_momentum, int64_t n);

// One inner tick of Entropy-SGD (all three variants), with the outer update fused into the last:
//   x' = fresh ? x : x';  μprev = fresh ? x : μ;  d = g
//   pytorch: d = d + wd·x'
//   momentum: m = fresh ? d : mom·m + d;  d = nesterov ? d + mom·m : m
//   not pytorch: d = d − γ·(x − x') + wd·x'        pytorch: d = d − γ·(x − x')
//   noisy and not paper: d = d + noise_in_gradient·ξ
//   x' = x' − inner_lr·d  (paper, noisy: x' = x' + noise_in_iterate·ξ)
//   μ = keep·μprev + ema·x'
//   last, pytorch: od = (x − μ) + wd·x; momentum: om = outer_first ? od : mom·om + od,
//                  od = nesterov ? od + mom·om : om;  x = x − lr·od
//   last, otherwise: x = x − outer_rate·(x − μ)
template <typename Real>
struct EntropySgdInnerStep {
  Real gamma;
  Real inner_lr;
  Real momentum;
  Real weight_decay;
  Real ema;
  Real keep;
  Real noise_in_iterate;
  Real noise_in_gradient;
  Real lr;
  Real outer_rate;
  bool fresh;
  bool last;
  bool pytorch;
  bool paper;
  bool has_momentum;
  bool nesterov;
  bool noisy;
  bool outer_first;
};
template <typename Real>
void ApplyEntropySgdInnerStep(const EntropySgdInnerStep<Real>& s, const Real* g, const Real* xi, Real* x,
                              Real* x_inner, Real* mu, Real* inner_momentum, Real* outer_momentum, int64_t n);

// SAM's ascent point: p = w + (adaptive ? w·w·g·scale : g·scale), left to right.
template <typename Real>
void ApplySamAscent(bool adaptive, Real scale, const Real* g, const Real* w, Real* perturbed, int64_t n);

}  // namespace basin

#endif  // BASIN_CORE_KERNELS_UPDATE_KERNELS_H_
