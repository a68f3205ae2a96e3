#ifndef BASIN_CORE_OBJECTIVES_OBJECTIVE_DRIVER_H_
#define BASIN_CORE_OBJECTIVES_OBJECTIVE_DRIVER_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "core/objectives/objective.h"
#include "core/optimizer.h"

namespace basin {

// The minibatch a tick evaluates: a fresh one per tick, or one per outer step where the
// optimizer's ticks must share it (SAM).
template <typename Real>
SampleKey SampleKeyForTick(const Optimizer<Real>& optimizer, uint64_t data_seed) {
  const int64_t index = optimizer.ticks_share_minibatch() ? optimizer.step() : optimizer.tick();
  return SampleKey{data_seed, static_cast<uint64_t>(index)};
}

// Runs `ticks` ticks of `optimizer` on `objective` in-process: the loop a client would run, with
// the objective's gradient at each query point. `on_tick(tick, loss)` is called after each
// accepted tick. InvalidArgument if the dimensions differ; any Tell error is returned as is.
template <typename Real>
absl::Status DriveObjective(Optimizer<Real>& optimizer, const Objective& objective, int64_t ticks,
                            uint64_t data_seed, const std::function<void(int64_t, double)>& on_tick = nullptr);

}  // namespace basin

#endif  // BASIN_CORE_OBJECTIVES_OBJECTIVE_DRIVER_H_
