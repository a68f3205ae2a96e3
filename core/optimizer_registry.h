#ifndef BASIN_CORE_OPTIMIZER_REGISTRY_H_
#define BASIN_CORE_OPTIMIZER_REGISTRY_H_

#include <memory>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/layout.h"
#include "core/optimizer.h"
#include "core/optimizer_config.h"

namespace basin {

// Builds the optimizer the spec's config names. The spec is checked first (InvalidArgument naming
// the field and value). `initial` sets the model (zeros when empty); EMCMC's anchor starts as a
// copy of it.
template <typename Real>
absl::StatusOr<std::unique_ptr<Optimizer<Real>>> CreateOptimizer(const OptimizerSpec& spec,
                                                                  const ParameterLayout& layout,
                                                                  absl::Span<const Real> initial = {});

// An optimizer whose precision is chosen at run time (a session's state dtype).
using AnyOptimizer = std::variant<std::unique_ptr<Optimizer<float>>, std::unique_ptr<Optimizer<double>>>;

absl::StatusOr<AnyOptimizer> CreateAnyOptimizer(const OptimizerSpec& spec, const ParameterLayout& layout,
                                                DType dtype);

}  // namespace basin

#endif  // BASIN_CORE_OPTIMIZER_REGISTRY_H_
