#include "core/layout.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace basin {

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<ParameterLayout> ParameterLayout::Create(std::vector<TensorSpec> tensors) {
  if (tensors.empty()) return absl::InvalidArgumentError("layout has no tensors");
  ParameterLayout layout;
  absl::flat_hash_set<std::string> names;
  int64_t total = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& t = tensors[i];
    if (t.name.empty()) return absl::InvalidArgumentError(absl::StrCat("tensor ", i, " has an empty name"));
    if (t.name.size() > 256) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", i, " name is ", t.name.size(), " bytes long; the limit is 256"));
    }
    for (char c : t.name) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tensor ", i, " name has a byte 0x", absl::Hex(static_cast<unsigned char>(c)),
            " that is not printable ASCII"));
      }
    }
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("tensor name '", t.name, "' appears twice"));
    }
    int64_t size = 1;
    for (int64_t dim : t.shape) {
      if (dim < 0) {
        return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' has a negative dimension in shape ",
                                                       ShapeToString(t.shape)));
      }
      if (dim != 0 && size > kMaxElements / dim) {
        return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' shape ", ShapeToString(t.shape),
                                                       " has more than ", kMaxElements, " elements"));
      }
      size *= dim;
    }
    if (total + size > kMaxElements) {
      return absl::InvalidArgumentError(
          absl::StrCat("layout has more than ", kMaxElements, " elements (at tensor '", t.name, "')"));
    }
    layout.offsets_.push_back(total);
    layout.sizes_.push_back(size);
    total += size;
  }
  if (total == 0) return absl::InvalidArgumentError("layout has zero elements");
  layout.num_elements_ = total;
  layout.tensors_ = std::move(tensors);
  return layout;
}

ParameterLayout ParameterLayout::Flat(int64_t size) {
  return *Create({TensorSpec{"x", {size}}});
}

absl::StatusOr<int64_t> ParameterLayout::Find(absl::string_view name) const {
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].name == name) return static_cast<int64_t>(i);
  }
  return absl::NotFoundError(absl::StrCat("no tensor named '", name, "' in the layout"));
}

}  // namespace basin
