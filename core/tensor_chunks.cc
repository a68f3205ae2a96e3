#include "core/tensor_chunks.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"

namespace basin {

namespace {

// The name comes from the peer: escaped and cut to a layout name's longest (256 bytes) so a
// status never carries a megabyte of arbitrary bytes back.
std::string Describe(const ChunkView& chunk) {
  constexpr std::size_t kMaxShownName = 256;
  return absl::StrCat("chunk of tensor '", absl::CHexEscape(chunk.tensor.substr(0, kMaxShownName)),
                      chunk.tensor.size() > kMaxShownName ? "...' at offset " : "' at offset ", chunk.offset);
}

}  // namespace

template <typename Real>
ChunkAssembler<Real>::ChunkAssembler(const ParameterLayout& layout, int64_t max_chunk_bytes)
    : layout_(&layout),
      max_chunk_bytes_(max_chunk_bytes > 0 ? max_chunk_bytes : kDefaultMaxChunkBytes),
      values_(static_cast<std::size_t>(layout.num_elements())) {}

template <typename Real>
void ChunkAssembler<Real>::Reset() {
  tensor_ = 0;
  offset_ = 0;
  filled_ = 0;
}

template <typename Real>
int64_t ChunkAssembler<Real>::FindTensor(absl::string_view name) const {
  // A valid chunk names the current tensor or one shortly after it, so start looking there:
  // a stream then costs O(chunks + tensors) comparisons, not O(chunks · tensors).
  const std::vector<TensorSpec>& tensors = layout_->tensors();
  const int64_t n = layout_->num_tensors();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = (tensor_ + i) % n;
    if (tensors[t].name == name) return t;
  }
  return -1;
}

template <typename Real>
std::pair<int64_t, int64_t> ChunkAssembler<Real>::FirstMissing() const {
  if (offset_ < layout_->size(tensor_)) return {tensor_, offset_};
  for (int64_t t = tensor_ + 1; t < layout_->num_tensors(); ++t) {
    if (layout_->size(t) > 0) return {t, 0};
  }
  return {layout_->num_tensors(), 0};
}

template <typename Real>
std::string ChunkAssembler<Real>::DescribeExpected() const {
  const auto [tensor, offset] = FirstMissing();
  if (tensor == layout_->num_tensors()) return "no further data: every element has arrived";
  return absl::StrCat("expected tensor '", layout_->tensors()[tensor].name, "' at offset ", offset);
}

template <typename Real>
absl::Status ChunkAssembler<Real>::Add(const ChunkView& chunk) {
  // Everything is checked before anything is written, so a rejected chunk changes nothing.
  const int64_t num_bytes = static_cast<int64_t>(chunk.data.size());
  if (num_bytes > max_chunk_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(Describe(chunk), " has ", num_bytes,
                                                     " bytes of data; the limit is ", max_chunk_bytes_, " bytes"));
  }
  if (!IsValidWireDType(chunk.dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(chunk), " has unknown dtype ", static_cast<int>(chunk.dtype)));
  }
  const int64_t tensor = FindTensor(chunk.tensor);
  if (tensor < 0) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(chunk), ": no tensor of that name in the layout"));
  }

  // Position. A chunk continues the current tensor where it stands, or starts a later tensor at 0
  // when nothing in between is missing.
  const char* problem = nullptr;
  if (chunk.offset < 0) {
    problem = "has a negative offset";
  } else if (tensor == tensor_) {
    if (chunk.offset < offset_) problem = "overlaps elements already received";
    if (chunk.offset > offset_) problem = "leaves a gap";
  } else if (tensor < tensor_) {
    problem = "is out of layout order";
  } else if (FirstMissing().first < tensor) {
    problem = "skips elements of an earlier tensor";
  } else if (chunk.offset != 0) {
    problem = "leaves a gap";
  }
  if (problem != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(chunk), " ", problem, "; ", DescribeExpected(),
        " (tensors come in layout order, each from offset 0 without gaps or overlaps)"));
  }

  const int element_bytes = WireDTypeSize(chunk.dtype);
  if (num_bytes % element_bytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(chunk), " has ", num_bytes, " bytes of data, not a whole ",
                                                   "number of ", WireDTypeName(chunk.dtype), " elements (",
                                                   element_bytes, " bytes each)"));
  }
  const int64_t count = num_bytes / element_bytes;
  const int64_t tensor_size = layout_->size(tensor);
  // chunk.offset is now the position, so within [0, tensor_size].
  if (count > tensor_size - chunk.offset) {
    if (filled_ == layout_->num_elements()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(chunk), " has ", count, " elements after every element of the layout arrived"));
    }
    return absl::InvalidArgumentError(absl::StrCat(Describe(chunk), " has ", count,
                                                   " elements, running past the tensor's end at ", tensor_size));
  }

  DecodeToState(chunk.dtype, chunk.data.data(), count, values_.data() + layout_->offset(tensor) + chunk.offset);
  tensor_ = tensor;
  offset_ = chunk.offset + count;
  filled_ = layout_->offset(tensor) + offset_;
  return absl::OkStatus();
}

template <typename Real>
absl::Status ChunkAssembler<Real>::Finish() const {
  if (complete()) return absl::OkStatus();
  const auto [tensor, offset] = FirstMissing();
  return absl::InvalidArgumentError(absl::StrCat("chunks end with tensor '", layout_->tensors()[tensor].name,
                                                 "' incomplete: its elements from offset ", offset, " of ",
                                                 layout_->size(tensor), " are missing"));
}

template class ChunkAssembler<float>;
template class ChunkAssembler<double>;

template <typename Real>
absl::Status ForEachChunk(const ParameterLayout& layout, absl::Span<const Real> values, WireDType dtype,
                          int64_t max_chunk_bytes, absl::FunctionRef<absl::Status(const ChunkView&)> emit) {
  if (static_cast<int64_t>(values.size()) != layout.num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat("values have ", values.size(), " elements; the layout has ",
                                                   layout.num_elements()));
  }
  if (!IsValidWireDType(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown dtype ", static_cast<int>(dtype)));
  }
  if (max_chunk_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_chunk_bytes must be ≥ 0, got ", max_chunk_bytes));
  }
  if (max_chunk_bytes == 0) max_chunk_bytes = kDefaultMaxChunkBytes;
  const int element_bytes = WireDTypeSize(dtype);
  if (max_chunk_bytes < element_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("max_chunk_bytes ", max_chunk_bytes, " is smaller than one ",
                                                   WireDTypeName(dtype), " element (", element_bytes, " bytes)"));
  }
  const int64_t chunk_elements = max_chunk_bytes / element_bytes;

  // The state's own dtype needs no conversion: its memory already is the little-endian wire form.
  const bool same_as_state = dtype == WireDTypeOf(DTypeOf<Real>());
  std::unique_ptr<char[]> buffer;
  if (!same_as_state) {
    // Sized for the largest chunk actually produced, not for a limit the peer may have set huge.
    int64_t largest = 0;
    for (int64_t t = 0; t < layout.num_tensors(); ++t) {
      largest = std::max(largest, std::min(layout.size(t), chunk_elements));
    }
    buffer = std::make_unique_for_overwrite<char[]>(static_cast<std::size_t>(largest * element_bytes));
  }

  for (int64_t t = 0; t < layout.num_tensors(); ++t) {
    const int64_t size = layout.size(t);
    const Real* tensor_values = values.data() + layout.offset(t);
    for (int64_t start = 0; start < size; start += chunk_elements) {
      const int64_t count = std::min(chunk_elements, size - start);
      const std::size_t num_bytes = static_cast<std::size_t>(count * element_bytes);
      const char* data;
      if (same_as_state) {
        data = reinterpret_cast<const char*>(tensor_values + start);
      } else {
        EncodeFromState(dtype, tensor_values + start, count, buffer.get());
        data = buffer.get();
      }
      const absl::Status status =
          emit(ChunkView{layout.tensors()[t].name, start, dtype, absl::string_view(data, num_bytes)});
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

template absl::Status ForEachChunk<float>(const ParameterLayout&, absl::Span<const float>, WireDType, int64_t,
                                          absl::FunctionRef<absl::Status(const ChunkView&)>);
template absl::Status ForEachChunk<double>(const ParameterLayout&, absl::Span<const double>, WireDType, int64_t,
                                           absl::FunctionRef<absl::Status(const ChunkView&)>);

}  // namespace basin
