#ifndef BASIN_CORE_STATUS_MACROS_H_
#define BASIN_CORE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"

// Early returns for absl::Status / absl::StatusOr, as in Abseil's internal macros (which this
// Abseil version does not export).
#define BASIN_STATUS_CONCAT_INNER(a, b) a##b
#define BASIN_STATUS_CONCAT(a, b) BASIN_STATUS_CONCAT_INNER(a, b)

#define BASIN_RETURN_IF_ERROR(expr)            \
  do {                                         \
    const ::absl::Status basin_status_ = (expr); \
    if (!basin_status_.ok()) return basin_status_; \
  } while (0)

// BASIN_ASSIGN_OR_RETURN(auto x, StatusOrExpr()) or with an existing lvalue.
#define BASIN_ASSIGN_OR_RETURN(lhs, expr) \
  BASIN_ASSIGN_OR_RETURN_IMPL(BASIN_STATUS_CONCAT(basin_statusor_, __LINE__), lhs, expr)
#define BASIN_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) return statusor.status();          \
  lhs = std::move(*statusor)

#endif  // BASIN_CORE_STATUS_MACROS_H_
