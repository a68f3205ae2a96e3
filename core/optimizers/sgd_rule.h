#ifndef BASIN_CORE_OPTIMIZERS_SGD_RULE_H_
#define BASIN_CORE_OPTIMIZERS_SGD_RULE_H_

#include "core/kernels/update_kernels.h"

namespace basin {

// The torch.optim.SGD rule (update_kernels.h) for SGD's tick and SAM's descent, from their config.
template <typename Real, typename Config>
SgdRule<Real> MakeSgdRule(const Config& c, double lr, bool first_step) {
  return {static_cast<Real>(lr), static_cast<Real>(c.momentum), static_cast<Real>(c.dampening),
          static_cast<Real>(c.weight_decay), c.nesterov, first_step};
}

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZERS_SGD_RULE_H_
