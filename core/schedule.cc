#include "core/schedule.h"

#include <cmath>
#include <numbers>

namespace basin {

double Schedule::Value(double base, double t) const {
  switch (kind) {
    case Kind::kConstant:
      return base;
    case Kind::kStep:
      return base * std::pow(factor, std::floor(t / static_cast<double>(step_size)));
    case Kind::kCosine: {
      const double progress = std::min(t, total) / total;
      return final_value + (base - final_value) / 2 * (1 + std::cos(std::numbers::pi * progress));
    }
    case Kind::kCyclicalCosine: {
      const double period = std::floor(total / static_cast<double>(cycles));
      return final_value + (base - final_value) / 2 * (std::cos(std::numbers::pi * std::fmod(t, period) / period) + 1);
    }
    case Kind::kPolynomial:
      return base * std::pow(offset + t, -power);
  }
  return base;
}

const std::vector<FieldDef<Schedule>>& Schedule::Fields() {
  static const auto* fields = new std::vector<FieldDef<Schedule>>{
      EnumField("kind", &Schedule::kind, {"constant", "step", "cosine", "cyclical_cosine", "polynomial"},
                "how the rate changes with the outer step"),
      IntField("step_size", &Schedule::step_size, FieldRange::AtLeast(1),
               "step: the rate is multiplied by `factor` every step_size steps"),
      RealField("factor", &Schedule::factor, FieldRange::Positive(), "step: the multiplier"),
      RealField("total", &Schedule::total, FieldRange::Positive(),
                "cosine, cyclical_cosine: length of the schedule in outer steps"),
      IntField("cycles", &Schedule::cycles, FieldRange::AtLeast(1), "cyclical_cosine: number of cycles M"),
      RealField("final_value", &Schedule::final_value, FieldRange::NonNegative(),
                "cosine, cyclical_cosine: the rate at the end of a cycle"),
      RealField("offset", &Schedule::offset, FieldRange::Positive(), "polynomial: b in base·(b + t)^−power"),
      RealField("power", &Schedule::power, FieldRange::NonNegative(),
                "polynomial: the decay exponent γ (Welling–Teh: (0.5, 1])"),
  };
  return *fields;
}

absl::Status Schedule::Check(absl::string_view scope) const {
  if (kind == Kind::kCyclicalCosine && total < static_cast<double>(cycles)) {
    return absl::InvalidArgumentError(absl::StrCat(scope, ".total (", total, ") must be at least ", scope,
                                                   ".cycles (", cycles, ") so each cycle has a step"));
  }
  return absl::OkStatus();
}

}  // namespace basin
