#ifndef BASIN_TESTS_FUZZ_TRAIN_CHUNKS_INPUT_H_
#define BASIN_TESTS_FUZZ_TRAIN_CHUNKS_INPUT_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tests/fuzz/fuzz_input.h"

// The input of train_chunks_fuzz, shared with the corpus generator:
//
//   u8 setup     bit 0: f64 state (else f32); bits 1-2: the chunk size limit, kMaxChunkBytes[...]
//   u8 tensors   1 + value % 4 tensors, named kTensorNames[i]
//   per tensor   u8 rank (value % 3), then rank × u8 dimension (value % 6)
//   then records until the input ends:
//     u8 op      op % 16 == 15: the next tick's gradient starts (Reset); anything else: a chunk
//     u8 tensor  value % (tensors + 1); `tensors` names none of the layout: "W", or 300 bytes
//                of 0xff when bit 7 is set
//     u8 dtype   the proto DType as is (0 and 5..255 are not wire dtypes)
//     u8 offset  255: an i64 offset follows; otherwise the offset
//     u8 length  then that many bytes of data
namespace basin::fuzz::train_chunks {

inline constexpr std::array<int64_t, 4> kMaxChunkBytes = {0, 8, 24, 64};  // 0: the 1 MiB default
inline constexpr std::array<const char*, 4> kTensorNames = {"w", "b", "c.d", "e"};
inline constexpr uint8_t kReset = 15;
inline constexpr uint8_t kLongOffset = 255;

struct Tensor {
  std::vector<uint8_t> shape;  // each < 6
};

inline void WriteSetup(FuzzInputWriter& w, bool f64, int max_chunk_index, const std::vector<Tensor>& tensors) {
  w.Write<uint8_t>(static_cast<uint8_t>((f64 ? 1 : 0) | (max_chunk_index << 1)));
  w.Write<uint8_t>(static_cast<uint8_t>(tensors.size() - 1));
  for (const Tensor& t : tensors) {
    w.Write<uint8_t>(static_cast<uint8_t>(t.shape.size()));
    for (uint8_t d : t.shape) w.Write<uint8_t>(d);
  }
}

inline void WriteChunk(FuzzInputWriter& w, uint8_t tensor, uint8_t dtype, int64_t offset, absl::string_view data) {
  w.Write<uint8_t>(0).Write<uint8_t>(tensor).Write<uint8_t>(dtype);
  if (offset >= 0 && offset < kLongOffset) {
    w.Write<uint8_t>(static_cast<uint8_t>(offset));
  } else {
    w.Write<uint8_t>(kLongOffset).Write<int64_t>(offset);
  }
  w.Write<uint8_t>(static_cast<uint8_t>(data.size())).Bytes(data.substr(0, 255));
}

inline void WriteReset(FuzzInputWriter& w) { w.Write<uint8_t>(kReset); }

}  // namespace basin::fuzz::train_chunks

#endif  // BASIN_TESTS_FUZZ_TRAIN_CHUNKS_INPUT_H_
