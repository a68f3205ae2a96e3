#ifndef BASIN_CORE_DTYPE_H_
#define BASIN_CORE_DTYPE_H_

#include <cstdint>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace basin {

// The precision of a session's state. Gradients and query points travel in other dtypes on the
// wire; inside core every state variable has this one.
enum class DType : uint8_t { kF32 = 0, kF64 = 1 };

template <typename Real>
constexpr DType DTypeOf() {
  static_assert(std::is_same_v<Real, float> || std::is_same_v<Real, double>, "state is f32 or f64");
  return std::is_same_v<Real, float> ? DType::kF32 : DType::kF64;
}

inline absl::string_view DTypeName(DType d) { return d == DType::kF32 ? "f32" : "f64"; }
inline int DTypeSize(DType d) { return d == DType::kF32 ? 4 : 8; }

}  // namespace basin

#endif  // BASIN_CORE_DTYPE_H_
