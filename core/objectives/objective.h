#ifndef BASIN_CORE_OBJECTIVES_OBJECTIVE_H_
#define BASIN_CORE_OBJECTIVES_OBJECTIVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "core/layout.h"

namespace basin {

// Which minibatch (or which gradient-noise draw) a stochastic objective evaluates. Deterministic
// objectives ignore it. Two evaluations with equal keys see the same data, so a run through the
// service and the same run in-process get identical gradients.
struct SampleKey {
  uint64_t seed = 0;
  uint64_t tick = 0;
};

// A built-in loss with an exact gradient: for tests, demos, experiments and benchmarks, and the
// server's RunObjective. Evaluation is in double precision; f32 sessions convert.
class Objective {
 public:
  virtual ~Objective() = default;

  virtual std::string name() const = 0;
  // Named tensors of the parameter vector, in the order Evaluate reads them.
  virtual const ParameterLayout& layout() const = 0;
  int64_t dimension() const { return layout().num_elements(); }

  // Returns the loss at x and writes its gradient into `gradient` unless `gradient` is empty.
  // x.size() and (non-empty) gradient.size() must equal dimension().
  virtual double Evaluate(absl::Span<const double> x, absl::Span<double> gradient,
                          const SampleKey& sample) const = 0;

  // A sensible starting point (zeros unless the objective says otherwise).
  virtual std::vector<double> InitialPoint() const {
    return std::vector<double>(static_cast<std::size_t>(dimension()), 0.0);
  }
};

}  // namespace basin

#endif  // BASIN_CORE_OBJECTIVES_OBJECTIVE_H_
