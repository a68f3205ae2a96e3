#ifndef BASIN_CORE_TENSOR_CHUNKS_H_
#define BASIN_CORE_TENSOR_CHUNKS_H_

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/aligned_buffer.h"
#include "core/half.h"
#include "core/layout.h"

// Tensors travel as chunks: contiguous runs of one tensor's elements as little-endian bytes
// (basin.v1.TensorChunk). This file turns a stream of chunks into a flat state-dtype vector and a
// flat vector back into chunks. It knows nothing of gRPC or protobuf, so it is tested alone; the
// service adapts each proto chunk to a ChunkView.

namespace basin {

// One chunk, borrowed: `tensor` and `data` must outlive the call that receives the view.
struct ChunkView {
  absl::string_view tensor;  // tensor name
  int64_t offset = 0;        // first element, counted from the start of the tensor
  // May hold a value that is not a WireDType (an unknown proto enum value cast by the service);
  // ChunkAssembler::Add rejects it.
  WireDType dtype = WireDType::kF32;
  absl::string_view data;  // little-endian elements of `dtype`
};

// Largest chunk when the peer asks for 0 ("the default").
inline constexpr int64_t kDefaultMaxChunkBytes = int64_t{1} << 20;

// Assembles one complete set of tensor values (a tick's gradient, or the parameters of a
// PutParameters call) from chunks into a flat buffer of the state dtype, laid out as the layout
// says. Each chunk is decoded straight into its place, so its bytes are read once.
//
// The chunks must cover every tensor in layout order, each from offset 0 upwards without gaps or
// overlaps, each no larger than the limit given at construction. A tensor with zero elements
// needs no chunk; an empty chunk (no data) is accepted wherever the next chunk may start,
// including for a zero-element tensor, and changes nothing.
//
// A rejected Add changes nothing: neither the values nor the position, so the next chunk is
// judged as if the rejected one had never arrived. (The service still discards the tick, since
// the protocol has no way to resend a chunk, but nothing here depends on that.)
//
// Not thread-safe; one per stream.
template <typename Real>
class ChunkAssembler {
  static_assert(std::is_same_v<Real, float> || std::is_same_v<Real, double>, "state is f32 or f64");

 public:
  // `max_chunk_bytes` is the largest `data` accepted; 0 or less means kDefaultMaxChunkBytes. The
  // layout must outlive the assembler.
  ChunkAssembler(const ParameterLayout& layout, int64_t max_chunk_bytes);

  // Starts the next set of values. The buffer keeps its old contents until overwritten; complete()
  // guarantees every element was.
  void Reset();

  // RESOURCE_EXHAUSTED for a chunk over the size limit. INVALID_ARGUMENT for an unknown dtype, an
  // unknown tensor, a chunk out of order (a tensor out of layout order, one started before the
  // previous tensors were complete, or an offset other than where the tensor's previous chunk
  // ended), a data length that is not a whole number of elements, a chunk running past its
  // tensor's end, or a chunk with data after every element arrived. Every message names the
  // chunk's tensor and offset, and for order errors the tensor and offset expected.
  absl::Status Add(const ChunkView& chunk);

  // Every element of every tensor has arrived.
  bool complete() const { return filled_ == layout_->num_elements(); }
  // OK when complete; otherwise INVALID_ARGUMENT naming the first tensor and offset missing.
  absl::Status Finish() const;

  // The assembled values; only meaningful once complete() (before, only the elements of the
  // chunks accepted since Reset are this set's).
  absl::Span<const Real> values() const { return absl::MakeConstSpan(values_.data(), values_.size()); }
  int64_t max_chunk_bytes() const { return max_chunk_bytes_; }

 private:
  // Index of the tensor named `name`, or -1.
  int64_t FindTensor(absl::string_view name) const;
  // The first element still missing, as (tensor, offset); (num_tensors, 0) when complete.
  std::pair<int64_t, int64_t> FirstMissing() const;
  // "tensor 'b' at offset 5", or that no chunk with data is expected.
  std::string DescribeExpected() const;

  const ParameterLayout* layout_;
  int64_t max_chunk_bytes_;
  AlignedBuffer<Real> values_;
  // The position: every tensor before tensor_ is complete and tensor_ has its first offset_
  // elements (offset_ may equal its size). A chunk may start here, or at offset 0 of a later
  // tensor when tensor_ is complete and every tensor in between has zero elements.
  int64_t tensor_ = 0;
  int64_t offset_ = 0;
  int64_t filled_ = 0;  // elements accepted since Reset: layout offset of tensor_ plus offset_
};

extern template class ChunkAssembler<float>;
extern template class ChunkAssembler<double>;

// Splits flat state values into chunks in layout order and hands each to `emit`, in `dtype`, each
// chunk's data at most `max_chunk_bytes` (0 means kDefaultMaxChunkBytes) and a whole number of
// elements, so a limit that is not a multiple of the element size rounds down (6 bytes of f32:
// one element per chunk). Tensors with zero elements produce no chunk; a tensor larger than the
// limit produces several, at increasing offsets.
//
// The view passed to `emit` is valid only during the call: its data lives in a buffer reused for
// every chunk (or, when `dtype` is the state's own, points straight into `values`). The first
// non-OK status from `emit` stops the walk and is returned. INVALID_ARGUMENT, before any emit, if
// `values` does not have the layout's size, `dtype` is unknown, or `max_chunk_bytes` is negative
// or smaller than one element.
template <typename Real>
absl::Status ForEachChunk(const ParameterLayout& layout, absl::Span<const Real> values, WireDType dtype,
                          int64_t max_chunk_bytes, absl::FunctionRef<absl::Status(const ChunkView&)> emit);

extern template absl::Status ForEachChunk<float>(const ParameterLayout&, absl::Span<const float>, WireDType,
                                                 int64_t, absl::FunctionRef<absl::Status(const ChunkView&)>);
extern template absl::Status ForEachChunk<double>(const ParameterLayout&, absl::Span<const double>, WireDType,
                                                  int64_t, absl::FunctionRef<absl::Status(const ChunkView&)>);

}  // namespace basin

#endif  // BASIN_CORE_TENSOR_CHUNKS_H_
