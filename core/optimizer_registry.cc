#include "core/optimizer_registry.h"

#include <type_traits>

#include "core/optimizers/emcmc.h"
#include "core/optimizers/entropy_sgd.h"
#include "core/optimizers/sam.h"
#include "core/optimizers/sgd.h"
#include "core/optimizers/sgld.h"

namespace basin {
namespace {

template <typename Config, typename Real>
struct ImplementationOf;
template <typename Real>
struct ImplementationOf<SgdConfig, Real> { using type = Sgd<Real>; };
template <typename Real>
struct ImplementationOf<SgldConfig, Real> { using type = Sgld<Real>; };
template <typename Real>
struct ImplementationOf<SamConfig, Real> { using type = Sam<Real>; };
template <typename Real>
struct ImplementationOf<EntropySgdConfig, Real> { using type = EntropySgd<Real>; };
template <typename Real>
struct ImplementationOf<EmcmcConfig, Real> { using type = Emcmc<Real>; };

}  // namespace

template <typename Real>
absl::StatusOr<std::unique_ptr<Optimizer<Real>>> CreateOptimizer(const OptimizerSpec& spec,
                                                                  const ParameterLayout& layout,
                                                                  absl::Span<const Real> initial) {
  absl::Status s = CheckSpec(spec);
  if (!s.ok()) return s;
  std::unique_ptr<Optimizer<Real>> optimizer = std::visit(
      [&](const auto& config) -> std::unique_ptr<Optimizer<Real>> {
        using Impl = typename ImplementationOf<std::decay_t<decltype(config)>, Real>::type;
        return std::make_unique<Impl>(spec, layout);
      },
      spec.config);
  if (!initial.empty()) {
    s = optimizer->SetStartingPoint(initial);
    if (!s.ok()) return s;
  }
  return optimizer;
}

absl::StatusOr<AnyOptimizer> CreateAnyOptimizer(const OptimizerSpec& spec, const ParameterLayout& layout,
                                                DType dtype) {
  if (dtype == DType::kF32) {
    auto o = CreateOptimizer<float>(spec, layout);
    if (!o.ok()) return o.status();
    return AnyOptimizer(std::move(*o));
  }
  auto o = CreateOptimizer<double>(spec, layout);
  if (!o.ok()) return o.status();
  return AnyOptimizer(std::move(*o));
}

template absl::StatusOr<std::unique_ptr<Optimizer<float>>> CreateOptimizer<float>(const OptimizerSpec&,
                                                                                 const ParameterLayout&,
                                                                                 absl::Span<const float>);
template absl::StatusOr<std::unique_ptr<Optimizer<double>>> CreateOptimizer<double>(const OptimizerSpec&,
                                                                                   const ParameterLayout&,
                                                                                   absl::Span<const double>);

}  // namespace basin
