#ifndef BASIN_CORE_LAYOUT_H_
#define BASIN_CORE_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace basin {

// One named tensor of a model, e.g. {"fc1.weight", {1024, 784}}. A scalar has an empty shape.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;

  friend bool operator==(const TensorSpec&, const TensorSpec&) = default;
};

// The parameter layout of a session: an ordered list of named tensors, laid end to end in every
// state buffer (tensor i occupies elements [offset(i), offset(i) + size(i))).
class ParameterLayout {
 public:
  // Largest element count a layout may have. Noise is keyed by element index in 32-bit blocks of
  // four (see noise.h), and 2^34 elements (64 GiB of f32 per state variable) is beyond any
  // machine this runs on anyway.
  static constexpr int64_t kMaxElements = int64_t{1} << 34;

  // Validates names (non-empty, unique, at most 256 bytes, printable ASCII) and shapes (no negative
  // dimension, no overflow, total within kMaxElements, at least one element overall).
  static absl::StatusOr<ParameterLayout> Create(std::vector<TensorSpec> tensors);
  // A layout of one tensor named "x" with shape {size}; for objectives and tests.
  static ParameterLayout Flat(int64_t size);

  ParameterLayout() = default;

  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  int64_t num_tensors() const { return static_cast<int64_t>(tensors_.size()); }
  int64_t num_elements() const { return num_elements_; }
  int64_t offset(int64_t tensor) const { return offsets_[tensor]; }
  int64_t size(int64_t tensor) const { return sizes_[tensor]; }
  // Index of the tensor with this name, or NotFound naming it.
  absl::StatusOr<int64_t> Find(absl::string_view name) const;

  friend bool operator==(const ParameterLayout& a, const ParameterLayout& b) {
    return a.tensors_ == b.tensors_;
  }

 private:
  std::vector<TensorSpec> tensors_;
  std::vector<int64_t> offsets_;
  std::vector<int64_t> sizes_;
  int64_t num_elements_ = 0;
};

std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace basin

#endif  // BASIN_CORE_LAYOUT_H_
