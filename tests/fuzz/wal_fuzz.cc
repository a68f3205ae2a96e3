// Fuzz target: a session's write-ahead log (server/persistence/wal_format.h) as a server reads it
// back at start-up, on untrusted bytes. Each input is parsed as it is and, since a mutation almost
// always breaks a checksum, once more with the header's and every whole record's CRC-32C made
// right, so the fuzzer reaches the record decoder and the sequence check.
//
// Invariants: no crash, leak or unbounded allocation; a refusal is DATA_LOSS with a message; for a
// log that parses, valid_bytes + torn_bytes is its size; the records run in sequence from
// first_seq; the header and the records encoded again (EncodeWalHeader, EncodeWalRecordPrefix and
// the values) are exactly its first valid_bytes bytes; the torn tail, if any, is what a cut-short
// write leaves at the end and nothing else (zeros to the end, or one frame that is cut off or fails
// its checksum and ends the file); and the log cut at valid_bytes, as recovery cuts it, parses to
// the same records, takes the next record appended after them.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/byte_io.h"
#include "server/persistence/wal_format.h"
#include "tests/fuzz/allocation_meter.h"
#include "tests/fuzz/fuzz_check.h"

namespace basin {
namespace {

constexpr std::size_t kFrameBytes = 8;  // u32 length, u32 crc32c

std::string FirstDifference(absl::string_view a, absl::string_view b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return absl::StrCat("sizes ", a.size(), " and ", b.size(), ", first difference at byte ", i, ": '",
                      absl::CHexEscape(a.substr(i, 16)), "' vs '", absl::CHexEscape(b.substr(i, 16)), "'");
}

bool SameRecord(const WalRecord& a, const WalRecord& b) {
  return a.seq == b.seq && a.kind == b.kind && a.worker == b.worker && a.tick == b.tick &&
         std::memcmp(&a.loss, &b.loss, sizeof(double)) == 0 &&
         std::memcmp(&a.batch_size, &b.batch_size, sizeof(double)) == 0 && a.dtype == b.dtype && a.values == b.values;
}

// What a write cut short can leave after the last whole record: zeros to the end (blocks allocated
// but never written), or the start of one record that runs past the end or, ending exactly at the
// end, fails its checksum.
bool LooksTorn(absl::string_view tail) {
  if (tail.find_first_not_of('\0') == absl::string_view::npos) return true;
  if (tail.size() < kFrameBytes) return true;
  uint32_t length = 0, crc = 0;
  std::memcpy(&length, tail.data(), 4);
  std::memcpy(&crc, tail.data() + 4, 4);
  if (length > tail.size() - kFrameBytes) return true;
  return length == tail.size() - kFrameBytes && Crc32c(tail.substr(kFrameBytes)) != crc;
}

void CheckLog(absl::string_view bytes) {
  absl::StatusOr<WalContents> contents;
  {
    fuzz::AllocationMeter meter;
    contents = ParseWal(bytes);
    // The session id and each record's values are copies of bytes that are there.
    const int64_t allowed = 3 * static_cast<int64_t>(bytes.size()) + (64 << 10);
    BASIN_FUZZ_CHECK(!fuzz::AllocationMeter::available() || meter.peak_bytes() <= allowed, "parsing ", bytes.size(),
                     " bytes allocated ", meter.peak_bytes(), " at the peak");
  }
  if (!contents.ok()) {
    BASIN_FUZZ_CHECK(contents.status().code() == absl::StatusCode::kDataLoss && !contents.status().message().empty(),
                     "a refused log: ", contents.status().ToString());
    return;
  }
  BASIN_FUZZ_CHECK(contents->valid_bytes + contents->torn_bytes == bytes.size(), "valid ", contents->valid_bytes,
                   " + torn ", contents->torn_bytes, " bytes of a ", bytes.size(), "-byte log");

  std::string encoded = EncodeWalHeader(contents->session_id, contents->first_seq);
  for (std::size_t i = 0; i < contents->records.size(); ++i) {
    const WalRecord& r = contents->records[i];
    BASIN_FUZZ_CHECK(r.seq == contents->first_seq + i, "record ", i, " has sequence number ", r.seq, " in a log from ",
                     contents->first_seq);
    encoded += EncodeWalRecordPrefix(r, r.values);
    encoded += r.values;
  }
  const absl::string_view valid = bytes.substr(0, contents->valid_bytes);
  BASIN_FUZZ_CHECK(encoded == valid, "the records encoded again differ from the log's valid bytes: ",
                   FirstDifference(valid, encoded));
  if (contents->torn_bytes > 0) {
    BASIN_FUZZ_CHECK(LooksTorn(bytes.substr(contents->valid_bytes)), "a torn tail of ", contents->torn_bytes,
                     " bytes is not what a cut-short write leaves: '",
                     absl::CHexEscape(bytes.substr(contents->valid_bytes, 32)), "'");
  }

  // Recovery cuts the log at valid_bytes and appends the next record there.
  WalRecord next;
  next.seq = contents->first_seq + contents->records.size();
  next.kind = WalRecord::Kind::kSetModel;
  next.dtype = DType::kF64;
  next.values = std::string(16, '\x3f');
  const std::string appended = std::string(valid) + EncodeWalRecordPrefix(next, next.values) + next.values;
  auto again = ParseWal(appended);
  BASIN_FUZZ_CHECK(again.ok(), "the log cut at its valid bytes, with a record appended, does not parse: ",
                   again.status().ToString());
  BASIN_FUZZ_CHECK(again->torn_bytes == 0 && again->records.size() == contents->records.size() + 1,
                   "the log cut at its valid bytes, with a record appended: ", again->records.size(), " records, ",
                   again->torn_bytes, " torn bytes");
  for (std::size_t i = 0; i < contents->records.size(); ++i) {
    BASIN_FUZZ_CHECK(SameRecord(again->records[i], contents->records[i]), "record ", i,
                     " reads differently once the log is cut at its valid bytes");
  }
  BASIN_FUZZ_CHECK(SameRecord(again->records.back(), next), "the appended record reads back differently");
}

// The input with the header's checksum and every whole record's checksum made right.
std::string WithChecksumsFixed(absl::string_view bytes) {
  std::string fixed(bytes);
  // Header: 8-byte magic, u32 length + session id, u64 first_seq, u32 crc32c of what precedes it.
  if (fixed.size() < 12) return fixed;
  uint32_t id_length = 0;
  std::memcpy(&id_length, fixed.data() + 8, 4);
  const uint64_t header_end = 12 + static_cast<uint64_t>(id_length) + 8;
  if (header_end + 4 > fixed.size()) return fixed;
  const uint32_t header_crc = Crc32c(absl::string_view(fixed).substr(0, header_end));
  std::memcpy(fixed.data() + header_end, &header_crc, 4);
  std::size_t pos = header_end + 4;
  while (fixed.size() - pos >= kFrameBytes) {
    uint32_t length = 0;
    std::memcpy(&length, fixed.data() + pos, 4);
    if (length > fixed.size() - pos - kFrameBytes) break;
    const uint32_t crc = Crc32c(absl::string_view(fixed).substr(pos + kFrameBytes, length));
    std::memcpy(fixed.data() + pos + 4, &crc, 4);
    pos += kFrameBytes + length;
  }
  return fixed;
}

}  // namespace
}  // namespace basin

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  basin::CheckLog(bytes);
  const std::string fixed = basin::WithChecksumsFixed(bytes);
  if (fixed != bytes) basin::CheckLog(fixed);
  return 0;
}
