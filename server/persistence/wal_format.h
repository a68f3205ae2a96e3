#ifndef BASIN_SERVER_PERSISTENCE_WAL_FORMAT_H_
#define BASIN_SERVER_PERSISTENCE_WAL_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/dtype.h"

namespace basin {

// One accepted change of a session, in the order the session applied it. Replaying the records
// after the snapshot they follow, through the same code that applied them, rebuilds the state bit
// for bit (steps are pure functions of state, gradient and tick).
struct WalRecord {
  enum class Kind : uint8_t { kGradient = 1, kSetModel = 2, kSetAnchor = 3 };
  uint64_t seq = 0;
  Kind kind = Kind::kGradient;
  int32_t worker = 0;      // gradient: the sender
  int64_t tick = 0;        // gradient: the tick it was computed at
  double loss = 0;
  double batch_size = 1;
  DType dtype = DType::kF32;
  std::string values;      // little-endian elements of dtype
};

// The bytes a record's values are written from: the elements as they lie in memory
// (little-endian, as every basin format).
template <typename Real>
absl::string_view ValueBytes(absl::Span<const Real> values) {
  return absl::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(Real));
}

// A log file: a header, then records, each framed as u32 length, u32 crc32c, payload.
//   header: "BASNWAL1" string session_id u64 first_seq u32 crc32c(header)
//   payload: u64 seq u8 kind i32 worker i64 tick f64 loss f64 batch_size u8 dtype u64 count,
//            count × dtype
std::string EncodeWalHeader(absl::string_view session_id, uint64_t first_seq);
// The frame and fixed fields of a record; its values follow it in the file, so a large gradient
// is written from where it lies instead of being copied into the frame.
std::string EncodeWalRecordPrefix(const WalRecord& record, absl::string_view values);

struct WalContents {
  std::string session_id;
  uint64_t first_seq = 0;
  std::vector<WalRecord> records;
  uint64_t valid_bytes = 0;  // header and whole, checksummed records
  uint64_t torn_bytes = 0;   // an incomplete or unchecksummed last record (a write cut short)
};

// Parses a log read from disk. A last record cut short or failing its checksum is a torn tail:
// reported in torn_bytes for the caller to truncate (it was never acknowledged). A bad record
// followed by more bytes, a bad header, or records out of sequence is DataLoss: the log was
// damaged after it was written, and replaying around the damage would give silently wrong state.
absl::StatusOr<WalContents> ParseWal(absl::string_view bytes);

}  // namespace basin

#endif  // BASIN_SERVER_PERSISTENCE_WAL_FORMAT_H_
