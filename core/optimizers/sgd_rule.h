#ifndef BASIN_CORE_OPTIMIZERS_SGD_RULE_H_
#define BASIN_CORE_OPTIMIZERS_SGD_RULE_H_

#include <cstdint>

namespace basin {

// torch.optim.SGD on elements [begin, end), in the state's precision and torch's order of
// operations. SGD applies it at every tick; SAM applies it with the gradient from w + ε.
template <typename Real>
struct SgdRule {
  Real lr;
  Real momentum;
  Real dampening;
  Real weight_decay;
  bool nesterov;
  bool first_step;  // torch starts the momentum buffer at d instead of mixing it in

  void Apply(const Real* g, Real* w, Real* buf, int64_t begin, int64_t end) const {
    for (int64_t i = begin; i < end; ++i) {
      Real d = g[i] + weight_decay * w[i];
      if (momentum != 0) {
        buf[i] = first_step ? d : momentum * buf[i] + (1 - dampening) * d;
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      w[i] -= lr * d;
    }
  }
};

template <typename Real, typename Config>
SgdRule<Real> MakeSgdRule(const Config& c, double lr, bool first_step) {
  return {static_cast<Real>(lr), static_cast<Real>(c.momentum), static_cast<Real>(c.dampening),
          static_cast<Real>(c.weight_decay), c.nesterov, first_step};
}

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZERS_SGD_RULE_H_
