#ifndef BASIN_PROTO_CHUNK_VIEW_H_
#define BASIN_PROTO_CHUNK_VIEW_H_

#include <string>

#include "basin/v1/optimizer_service.pb.h"
#include "core/tensor_chunks.h"

namespace basin {

// WireDType numbers are the proto's DType numbers, so the dtype passes through as is; an unknown
// value stays unknown and ChunkAssembler refuses it.
static_assert(static_cast<int>(WireDType::kF32) == v1::DTYPE_F32 &&
              static_cast<int>(WireDType::kF64) == v1::DTYPE_F64 &&
              static_cast<int>(WireDType::kBF16) == v1::DTYPE_BF16 &&
              static_cast<int>(WireDType::kF16) == v1::DTYPE_F16);

// A view of a received chunk; valid while the message lives.
inline ChunkView ViewOf(const v1::TensorChunk& chunk) {
  return ChunkView{chunk.tensor(), chunk.offset(), static_cast<WireDType>(chunk.dtype()), chunk.data()};
}

// Fills a chunk to send (its data is copied: the view's buffer is reused for the next chunk).
inline void FillChunk(const ChunkView& view, v1::TensorChunk* chunk) {
  chunk->set_tensor(std::string(view.tensor));
  chunk->set_offset(view.offset);
  chunk->set_dtype(static_cast<v1::DType>(view.dtype));
  chunk->set_data(std::string(view.data));
}

}  // namespace basin

#endif  // BASIN_PROTO_CHUNK_VIEW_H_
