#include "core/config_fields.h"

#include <cmath>

#include "absl/strings/str_join.h"

namespace basin {

std::string FieldRange::Describe() const {
  const bool has_lo = std::isfinite(lo);
  const bool has_hi = std::isfinite(hi);
  if (has_lo && has_hi) {
    return absl::StrCat("in ", lo_open ? "(" : "[", lo, ", ", hi, hi_open ? ")" : "]");
  }
  if (has_lo) return absl::StrCat(lo_open ? "> " : ">= ", lo);
  if (has_hi) return absl::StrCat(hi_open ? "< " : "<= ", hi);
  return "finite";
}

absl::Status CheckFieldValue(absl::string_view scope, absl::string_view name, FieldType type,
                             const FieldRange& range, const std::vector<std::string>& enum_names,
                             double value) {
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat(scope, ".", name, " must be a finite number, got ", value));
  }
  if (type == FieldType::kEnum) {
    if (value != std::floor(value) || !range.Contains(value)) {
      return absl::InvalidArgumentError(absl::StrCat(scope, ".", name, " must be one of {",
                                                     absl::StrJoin(enum_names, ", "), "}, got value ", value));
    }
    return absl::OkStatus();
  }
  if (type == FieldType::kBool && value != 0 && value != 1) {
    return absl::InvalidArgumentError(absl::StrCat(scope, ".", name, " must be 0 or 1, got ", value));
  }
  if (type == FieldType::kInt && (value != std::floor(value) || std::fabs(value) > 9007199254740992.0)) {
    return absl::InvalidArgumentError(absl::StrCat(scope, ".", name, " must be an integer, got ", value));
  }
  if (!range.Contains(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(scope, ".", name, " must be ", range.Describe(), ", got ", value));
  }
  return absl::OkStatus();
}

}  // namespace basin
