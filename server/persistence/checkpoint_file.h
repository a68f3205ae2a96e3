#ifndef BASIN_SERVER_PERSISTENCE_CHECKPOINT_FILE_H_
#define BASIN_SERVER_PERSISTENCE_CHECKPOINT_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace basin {

// A server-side checkpoint as it lies in the data directory: what ListCheckpoints shows, then
// the checkpoint itself (ExportSession's bytes).
struct StoredCheckpoint {
  std::string checkpoint_id;
  std::string session_id;  // the session it was taken from
  std::string optimizer;   // sgd | sgld | sam | entropy_sgd | emcmc
  int64_t tick = 0;        // that session's tick at the time
  uint64_t size = 0;       // bytes of `checkpoint`
  std::string checkpoint;  // empty when only the header was read
};

// The file (little-endian, version 1):
//   "BASNCKPT" u32 version u32 header_size
//   header: string checkpoint_id, session_id, optimizer  i64 tick  u64 size
//   u32 crc32c of everything before it
//   size bytes of checkpoint   u32 crc32c of them
// The header has its own checksum so that a listing reads a few hundred bytes per checkpoint,
// not the whole state.
std::string EncodeCheckpointFile(const StoredCheckpoint& checkpoint);

// The most bytes DecodeCheckpointHeader needs.
inline constexpr std::size_t kCheckpointHeaderMaxBytes = 16 + 3 * (4 + 256) + 16 + 4;

// The header of a file whose first bytes are `prefix` (at least its header; more is fine).
// DataLoss for anything damaged.
absl::StatusOr<StoredCheckpoint> DecodeCheckpointHeader(absl::string_view prefix);
// The whole file, header and checkpoint, both checksums checked. DataLoss for anything damaged.
absl::StatusOr<StoredCheckpoint> DecodeCheckpointFile(absl::string_view bytes);

}  // namespace basin

#endif  // BASIN_SERVER_PERSISTENCE_CHECKPOINT_FILE_H_
