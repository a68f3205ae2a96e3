#ifndef BASIN_CORE_STATE_CODEC_H_
#define BASIN_CORE_STATE_CODEC_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/optimizer.h"
#include "core/optimizer_registry.h"

namespace basin {

// The complete state of an optimizer as bytes: spec, layout, counters, statistics, every state
// buffer and every sample. Decoding and continuing gives a trajectory bitwise equal to the
// uninterrupted run. Format (little-endian), version 1:
//
//   "BASNSTAT" u32 version u8 dtype
//   string optimizer   u32 n {string field, f64 value}      the config, every field
//   u32 n {string field, f64 value}                          sample collection
//   u64 seed
//   u32 tensors {string name, u32 rank, i64 dim...}
//   i64 tick, step, phase   f64 last_loss, step_loss_sum, last_step_mean_loss, last_gradient_norm
//   i64 samples_dropped
//   u32 buffers {string name, u64 count, count × dtype}
//   u32 samples {i64 step, u8 variable, dimension × dtype}
//   u32 crc32c of everything before it
//
// Decoding trusts nothing: a bad checksum, a truncation, an unknown, missing, repeated or
// misplaced field or a buffer of the wrong size is DataLoss (InvalidArgument for values that parse
// but are out of range) and no optimizer is returned. What decodes is exactly what encoding the
// decoded optimizer writes.
template <typename Real>
class StateCodec {
 public:
  static std::string Encode(const Optimizer<Real>& optimizer);
  static absl::StatusOr<std::unique_ptr<Optimizer<Real>>> Decode(absl::string_view bytes);
};

std::string EncodeState(const AnyOptimizer& optimizer);
absl::StatusOr<AnyOptimizer> DecodeState(absl::string_view bytes);

}  // namespace basin

#endif  // BASIN_CORE_STATE_CODEC_H_
