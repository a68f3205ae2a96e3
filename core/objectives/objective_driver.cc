#include "core/objectives/objective_driver.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace basin {

template <typename Real>
absl::Status DriveObjective(Optimizer<Real>& optimizer, const Objective& objective, int64_t ticks,
                            uint64_t data_seed, const std::function<void(int64_t, double)>& on_tick) {
  const int64_t d = optimizer.dimension();
  if (objective.dimension() != d) {
    return absl::InvalidArgumentError(absl::StrCat("objective ", objective.name(), " has ", objective.dimension(),
                                                   " parameters; the optimizer has ", d));
  }
  std::vector<double> point(static_cast<std::size_t>(d));
  std::vector<double> gradient(static_cast<std::size_t>(d));
  std::vector<Real> gradient_state(static_cast<std::size_t>(d));
  for (int64_t k = 0; k < ticks; ++k) {
    absl::Span<const Real> query = optimizer.Query();
    for (int64_t i = 0; i < d; ++i) point[i] = static_cast<double>(query[i]);
    const double loss = objective.Evaluate(point, absl::MakeSpan(gradient), SampleKeyForTick(optimizer, data_seed));
    for (int64_t i = 0; i < d; ++i) gradient_state[i] = static_cast<Real>(gradient[i]);
    absl::Status s = optimizer.Tell(gradient_state, loss);
    if (!s.ok()) return s;
    if (on_tick) on_tick(optimizer.tick(), loss);
  }
  return absl::OkStatus();
}

template absl::Status DriveObjective<float>(Optimizer<float>&, const Objective&, int64_t, uint64_t,
                                            const std::function<void(int64_t, double)>&);
template absl::Status DriveObjective<double>(Optimizer<double>&, const Objective&, int64_t, uint64_t,
                                             const std::function<void(int64_t, double)>&);

}  // namespace basin
