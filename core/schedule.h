#ifndef BASIN_CORE_SCHEDULE_H_
#define BASIN_CORE_SCHEDULE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "core/config_fields.h"

namespace basin {

// How a rate (learning rate, step size) changes with the outer step t = 0, 1, 2, ...
// `base` is the rate at t = 0 (the optimizer's lr field). All kinds:
//   constant:          base
//   step:              base · factor^floor(t / step_size)                      (torch StepLR)
//   cosine:            final + (base − final)/2 · (1 + cos(π · min(t, total) / total))
//   cyclical_cosine:   P = floor(total / cycles);
//                      final + (base − final)/2 · (cos(π · (t mod P) / P) + 1) (cSGLD, EMCMC §2.3)
//   polynomial:        base · (offset + t)^(−power)                           (Welling–Teh a(b+t)^−γ)
// t is a double so the EMCMC reference's fractional batch counter can be reproduced exactly.
struct Schedule {
  enum class Kind { kConstant = 0, kStep = 1, kCosine = 2, kCyclicalCosine = 3, kPolynomial = 4 };

  Kind kind = Kind::kConstant;
  int64_t step_size = 1;     // step
  double factor = 0.1;       // step
  double total = 1;          // cosine, cyclical_cosine: length in outer steps
  int64_t cycles = 1;        // cyclical_cosine: M
  double final_value = 0;    // cosine, cyclical_cosine
  double offset = 1;         // polynomial: b
  double power = 0.55;       // polynomial: γ

  double Value(double base, double t) const;

  static const std::vector<FieldDef<Schedule>>& Fields();
  // Cross-field checks beyond each field's own range (e.g. total >= cycles).
  absl::Status Check(absl::string_view scope) const;
};

}  // namespace basin

#endif  // BASIN_CORE_SCHEDULE_H_
