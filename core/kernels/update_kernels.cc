// Per-target code for the passes declared in update_kernels.h. Every pass is written once as a
// body over a Highway descriptor: full vectors for the bulk, then one-lane vectors for the rest,
// so the tail runs the same operations as the bulk. Uniform flags (momentum on, first step, ...)
// are plain branches: they are the same for every lane.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels/update_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <cstddef>
#include <cstdint>

#include "core/kernels/update_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace basin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <typename T, class Body>
HWY_INLINE void ForEachLaneGroup(int64_t n, const Body& body) {
  const hn::ScalableTag<T> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) body(d, i);
  const hn::CappedTag<T, 1> d1;
  for (; i < n; ++i) body(d1, i);
}

template <typename T>
HWY_INLINE void SgdRulePass(const SgdRule<T>& r, const T* HWY_RESTRICT g, T* HWY_RESTRICT w, T* HWY_RESTRICT buf,
                            int64_t n) {
  const T one_minus_dampening = 1 - r.dampening;
  ForEachLaneGroup<T>(n, [&](auto d, int64_t i) HWY_ATTR {
    const auto vw = hn::LoadU(d, w + i);
    auto step = hn::Add(hn::LoadU(d, g + i), hn::Mul(hn::Set(d, r.weight_decay), vw));
    if (r.momentum != 0) {
      const auto b = r.first_step ? step
                                  : hn::Add(hn::Mul(hn::Set(d, r.momentum), hn::LoadU(d, buf + i)),
                                            hn::Mul(hn::Set(d, one_minus_dampening), step));
      hn::StoreU(b, d, buf + i);
      step = r.nesterov ? hn::Add(step, hn::Mul(hn::Set(d, r.momentum), b)) : b;
    }
    hn::StoreU(hn::Sub(vw, hn::Mul(hn::Set(d, r.lr), step)), d, w + i);
  });
}

template <typename T>
HWY_INLINE void SgldPass(const SgldStep<T>& s, const T* HWY_RESTRICT g, const T* HWY_RESTRICT xi,
                         T* HWY_RESTRICT theta, int64_t n) {
  ForEachLaneGroup<T>(n, [&](auto d, int64_t i) HWY_ATTR {
    const auto t = hn::LoadU(d, theta + i);
    auto next = hn::Sub(t, hn::Mul(hn::Set(d, s.step), hn::Add(hn::LoadU(d, g + i), hn::Mul(hn::Set(d, s.weight_decay), t))));
    if (s.noisy) next = hn::Add(next, hn::Mul(hn::Set(d, s.noise_std), hn::LoadU(d, xi + i)));
    hn::StoreU(next, d, theta + i);
  });
}

template <typename T>
HWY_INLINE void EmcmcPass(const EmcmcStep<T>& s, const T* HWY_RESTRICT g, const T* HWY_RESTRICT xi,
                          const T* HWY_RESTRICT xi_anchor, T* HWY_RESTRICT theta, T* HWY_RESTRICT anchor,
                          T* HWY_RESTRICT mt, T* HWY_RESTRICT ma, int64_t n) {
  ForEachLaneGroup<T>(n, [&](auto d, int64_t i) HWY_ATTR {
    const auto t = hn::LoadU(d, theta + i);
    const auto a = hn::LoadU(d, anchor + i);
    const auto coupling = hn::Set(d, s.coupling);
    const auto lr = hn::Set(d, s.lr);
    auto gt = hn::Add(hn::Add(hn::LoadU(d, g + i), hn::Mul(coupling, hn::Sub(t, a))), hn::Mul(hn::Set(d, s.weight_decay), t));
    auto ga = hn::Add(hn::Mul(coupling, hn::Sub(a, t)), hn::Mul(hn::Set(d, s.anchor_weight_decay), a));
    if (!s.has_momentum) {
      auto nt = hn::Sub(t, hn::Mul(lr, gt));
      auto na = hn::Sub(a, hn::Mul(lr, ga));
      if (s.noisy) {
        const auto std = hn::Set(d, s.noise_std);
        nt = hn::Add(nt, hn::Mul(std, hn::LoadU(d, xi + i)));
        na = hn::Add(na, hn::Mul(std, hn::LoadU(d, xi_anchor + i)));
      }
      hn::StoreU(nt, d, theta + i);
      hn::StoreU(na, d, anchor + i);
      return;
    }
    if (s.noisy) {
      const auto scale = hn::Set(d, s.noise_in_gradient);
      gt = hn::Sub(gt, hn::Mul(scale, hn::LoadU(d, xi + i)));
      ga = hn::Sub(ga, hn::Mul(scale, hn::LoadU(d, xi_anchor + i)));
    }
    const auto mom = hn::Set(d, s.momentum);
    const auto vmt = s.first ? gt : hn::Add(hn::Mul(mom, hn::LoadU(d, mt + i)), gt);
    const auto vma = s.first ? ga : hn::Add(hn::Mul(mom, hn::LoadU(d, ma + i)), ga);
    hn::StoreU(vmt, d, mt + i);
    hn::StoreU(vma, d, ma + i);
    hn::StoreU(hn::Sub(t, hn::Mul(lr, vmt)), d, theta + i);
    hn::StoreU(hn::Sub(a, hn::Mul(lr, vma)), d, anchor + i);
  });
}

template <typename T>
HWY_INLINE void EntropySgdInnerPass(const EntropySgdInnerStep<T>& s, const T* HWY_RESTRICT g,
                                    const T* HWY_RESTRICT xi, T* HWY_RESTRICT x, T* HWY_RESTRICT xp,
                                    T* HWY_RESTRICT mu, T* HWY_RESTRICT m, T* HWY_RESTRICT om, int64_t n) {
  ForEachLaneGroup<T>(n, [&](auto d, int64_t i) HWY_ATTR {
    const auto vx = hn::LoadU(d, x + i);
    const auto x_inner = s.fresh ? vx : hn::LoadU(d, xp + i);
    const auto mu_prev = s.fresh ? vx : hn::LoadU(d, mu + i);
    const auto wd = hn::Set(d, s.weight_decay);
    const auto mom = hn::Set(d, s.momentum);
    auto step = hn::LoadU(d, g + i);
    if (s.pytorch) step = hn::Add(step, hn::Mul(wd, x_inner));
    if (s.has_momentum) {
      const auto vm = s.fresh ? step : hn::Add(hn::Mul(mom, hn::LoadU(d, m + i)), step);
      hn::StoreU(vm, d, m + i);
      step = s.nesterov ? hn::Add(step, hn::Mul(mom, vm)) : vm;
    }
    const auto pull = hn::Mul(hn::Set(d, s.gamma), hn::Sub(vx, x_inner));
    step = s.pytorch ? hn::Sub(step, pull) : hn::Add(hn::Sub(step, pull), hn::Mul(wd, x_inner));
    if (s.noisy && !s.paper) step = hn::Add(step, hn::Mul(hn::Set(d, s.noise_in_gradient), hn::LoadU(d, xi + i)));
    auto next = hn::Sub(x_inner, hn::Mul(hn::Set(d, s.inner_lr), step));
    if (s.noisy && s.paper) next = hn::Add(next, hn::Mul(hn::Set(d, s.noise_in_iterate), hn::LoadU(d, xi + i)));
    hn::StoreU(next, d, xp + i);
    const auto vmu = hn::Add(hn::Mul(hn::Set(d, s.keep), mu_prev), hn::Mul(hn::Set(d, s.ema), next));
    hn::StoreU(vmu, d, mu + i);
    if (!s.last) return;
    if (s.pytorch) {
      auto od = hn::Add(hn::Sub(vx, vmu), hn::Mul(wd, vx));
      if (s.has_momentum) {
        const auto vom = s.outer_first ? od : hn::Add(hn::Mul(mom, hn::LoadU(d, om + i)), od);
        hn::StoreU(vom, d, om + i);
        od = s.nesterov ? hn::Add(od, hn::Mul(mom, vom)) : vom;
      }
      hn::StoreU(hn::Sub(vx, hn::Mul(hn::Set(d, s.lr), od)), d, x + i);
    } else {
      hn::StoreU(hn::Sub(vx, hn::Mul(hn::Set(d, s.outer_rate), hn::Sub(vx, vmu))), d, x + i);
    }
  });
}

template <typename T>
HWY_INLINE void SamAscentPass(bool adaptive, T scale, const T* HWY_RESTRICT g, const T* HWY_RESTRICT w,
                              T* HWY_RESTRICT p, int64_t n) {
  ForEachLaneGroup<T>(n, [&](auto d, int64_t i) HWY_ATTR {
    const auto vw = hn::LoadU(d, w + i);
    const auto vg = hn::LoadU(d, g + i);
    const auto e = adaptive ? hn::Mul(hn::Mul(hn::Mul(vw, vw), vg), hn::Set(d, scale)) : hn::Mul(vg, hn::Set(d, scale));
    hn::StoreU(hn::Add(vw, e), d, p + i);
  });
}

// Highway exports plain functions, one per state dtype.
void SgdRuleF32(const SgdRule<float>& r, const float* g, float* w, float* buf, int64_t n) { SgdRulePass(r, g, w, buf, n); }
void SgdRuleF64(const SgdRule<double>& r, const double* g, double* w, double* buf, int64_t n) { SgdRulePass(r, g, w, buf, n); }
void SgldF32(const SgldStep<float>& s, const float* g, const float* xi, float* t, int64_t n) { SgldPass(s, g, xi, t, n); }
void SgldF64(const SgldStep<double>& s, const double* g, const double* xi, double* t, int64_t n) { SgldPass(s, g, xi, t, n); }
void EmcmcF32(const EmcmcStep<float>& s, const float* g, const float* xi, const float* xa, float* t, float* a,
              float* mt, float* ma, int64_t n) {
  EmcmcPass(s, g, xi, xa, t, a, mt, ma, n);
}
void EmcmcF64(const EmcmcStep<double>& s, const double* g, const double* xi, const double* xa, double* t, double* a,
              double* mt, double* ma, int64_t n) {
  EmcmcPass(s, g, xi, xa, t, a, mt, ma, n);
}
void EntropySgdInnerF32(const EntropySgdInnerStep<float>& s, const float* g, const float* xi, float* x, float* xp,
                        float* mu, float* m, float* om, int64_t n) {
  EntropySgdInnerPass(s, g, xi, x, xp, mu, m, om, n);
}
void EntropySgdInnerF64(const EntropySgdInnerStep<double>& s, const double* g, const double* xi, double* x,
                        double* xp, double* mu, double* m, double* om, int64_t n) {
  EntropySgdInnerPass(s, g, xi, x, xp, mu, m, om, n);
}
void SamAscentF32(bool adaptive, float scale, const float* g, const float* w, float* p, int64_t n) {
  SamAscentPass(adaptive, scale, g, w, p, n);
}
void SamAscentF64(bool adaptive, double scale, const double* g, const double* w, double* p, int64_t n) {
  SamAscentPass(adaptive, scale, g, w, p, n);
}

}  // namespace HWY_NAMESPACE
}  // namespace basin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace basin {

HWY_EXPORT(SgdRuleF32);
HWY_EXPORT(SgdRuleF64);
HWY_EXPORT(SgldF32);
HWY_EXPORT(SgldF64);
HWY_EXPORT(EmcmcF32);
HWY_EXPORT(EmcmcF64);
HWY_EXPORT(EntropySgdInnerF32);
HWY_EXPORT(EntropySgdInnerF64);
HWY_EXPORT(SamAscentF32);
HWY_EXPORT(SamAscentF64);

template <>
void ApplySgdRule(const SgdRule<float>& r, const float* g, float* w, float* buf, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SgdRuleF32)(r, g, w, buf, n);
}
template <>
void ApplySgdRule(const SgdRule<double>& r, const double* g, double* w, double* buf, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SgdRuleF64)(r, g, w, buf, n);
}
template <>
void ApplySgldStep(const SgldStep<float>& s, const float* g, const float* xi, float* t, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SgldF32)(s, g, xi, t, n);
}
template <>
void ApplySgldStep(const SgldStep<double>& s, const double* g, const double* xi, double* t, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SgldF64)(s, g, xi, t, n);
}
template <>
void ApplyEmcmcStep(const EmcmcStep<float>& s, const float* g, const float* xi, const float* xa, float* t, float* a,
                    float* mt, float* ma, int64_t n) {
  HWY_DYNAMIC_DISPATCH(EmcmcF32)(s, g, xi, xa, t, a, mt, ma, n);
}
template <>
void ApplyEmcmcStep(const EmcmcStep<double>& s, const double* g, const double* xi, const double* xa, double* t,
                    double* a, double* mt, double* ma, int64_t n) {
  HWY_DYNAMIC_DISPATCH(EmcmcF64)(s, g, xi, xa, t, a, mt, ma, n);
}
template <>
void ApplyEntropySgdInnerStep(const EntropySgdInnerStep<float>& s, const float* g, const float* xi, float* x,
                              float* xp, float* mu, float* m, float* om, int64_t n) {
  HWY_DYNAMIC_DISPATCH(EntropySgdInnerF32)(s, g, xi, x, xp, mu, m, om, n);
}
template <>
void ApplyEntropySgdInnerStep(const EntropySgdInnerStep<double>& s, const double* g, const double* xi, double* x,
                              double* xp, double* mu, double* m, double* om, int64_t n) {
  HWY_DYNAMIC_DISPATCH(EntropySgdInnerF64)(s, g, xi, x, xp, mu, m, om, n);
}
template <>
void ApplySamAscent(bool adaptive, float scale, const float* g, const float* w, float* p, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SamAscentF32)(adaptive, scale, g, w, p, n);
}
template <>
void ApplySamAscent(bool adaptive, double scale, const double* g, const double* w, double* p, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SamAscentF64)(adaptive, scale, g, w, p, n);
}

}  // namespace basin
#endif
