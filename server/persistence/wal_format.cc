#include "server/persistence/wal_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/byte_io.h"
#include "core/status_macros.h"

namespace basin {
namespace {

constexpr absl::string_view kMagic = "BASNWAL1";
constexpr std::size_t kFrameBytes = 8;  // u32 length + u32 crc
// The fixed payload fields before the values.
constexpr std::size_t kFixedPayloadBytes = 8 + 1 + 4 + 8 + 8 + 8 + 1 + 8;

std::string FixedPayload(const WalRecord& r, uint64_t count) {
  std::string out;
  out.reserve(kFixedPayloadBytes);
  ByteWriter w(&out);
  w.Put<uint64_t>(r.seq);
  w.Put<uint8_t>(static_cast<uint8_t>(r.kind));
  w.Put<int32_t>(r.worker);
  w.Put<int64_t>(r.tick);
  w.Put<double>(r.loss);
  w.Put<double>(r.batch_size);
  w.Put<uint8_t>(static_cast<uint8_t>(r.dtype));
  w.Put<uint64_t>(count);
  return out;
}

absl::StatusOr<WalRecord> DecodePayload(absl::string_view payload) {
  ByteReader r(payload);
  WalRecord record;
  BASIN_ASSIGN_OR_RETURN(record.seq, r.Get<uint64_t>("seq"));
  BASIN_ASSIGN_OR_RETURN(uint8_t kind, r.Get<uint8_t>("kind"));
  if (kind < 1 || kind > 3) return absl::DataLossError(absl::StrCat("record kind ", kind, " is unknown"));
  record.kind = static_cast<WalRecord::Kind>(kind);
  BASIN_ASSIGN_OR_RETURN(record.worker, r.Get<int32_t>("worker"));
  BASIN_ASSIGN_OR_RETURN(record.tick, r.Get<int64_t>("tick"));
  BASIN_ASSIGN_OR_RETURN(record.loss, r.Get<double>("loss"));
  BASIN_ASSIGN_OR_RETURN(record.batch_size, r.Get<double>("batch_size"));
  BASIN_ASSIGN_OR_RETURN(uint8_t dtype, r.Get<uint8_t>("dtype"));
  if (dtype > 1) return absl::DataLossError(absl::StrCat("record dtype ", dtype, " is unknown"));
  record.dtype = static_cast<DType>(dtype);
  BASIN_ASSIGN_OR_RETURN(uint64_t count, r.Get<uint64_t>("count"));
  const uint64_t size = static_cast<uint64_t>(DTypeSize(record.dtype));
  if (count > r.remaining() / size || count * size != r.remaining()) {
    return absl::DataLossError(absl::StrCat("record of ", count, " elements in ", r.remaining(), " bytes"));
  }
  record.values.resize(count * size);
  BASIN_RETURN_IF_ERROR(r.GetBytes("values", record.values.data(), record.values.size()));
  return record;
}

}  // namespace

std::string EncodeWalHeader(absl::string_view session_id, uint64_t first_seq) {
  std::string out;
  ByteWriter w(&out);
  w.PutBytes(kMagic.data(), kMagic.size());
  w.PutString(session_id);
  w.Put<uint64_t>(first_seq);
  w.Put<uint32_t>(Crc32c(out));
  return out;
}

std::string EncodeWalRecordPrefix(const WalRecord& record, absl::string_view values) {
  const uint64_t count = values.size() / static_cast<uint64_t>(DTypeSize(record.dtype));
  const std::string payload = FixedPayload(record, count);
  std::string out;
  out.reserve(kFrameBytes + payload.size());
  ByteWriter w(&out);
  w.Put<uint32_t>(static_cast<uint32_t>(payload.size() + values.size()));
  w.Put<uint32_t>(Crc32c(values, Crc32c(payload)));
  out += payload;
  return out;
}

absl::StatusOr<WalContents> ParseWal(absl::string_view bytes) {
  WalContents contents;
  ByteReader header(bytes);
  std::string magic(kMagic.size(), '\0');
  if (!header.GetBytes("magic", magic.data(), magic.size()).ok() || magic != kMagic) {
    return absl::DataLossError(absl::StrCat("not a basin log (", bytes.size(), " bytes, no BASNWAL1 header)"));
  }
  BASIN_ASSIGN_OR_RETURN(contents.session_id, header.GetString("log session id", 4096));
  BASIN_ASSIGN_OR_RETURN(contents.first_seq, header.Get<uint64_t>("first_seq"));
  const std::size_t header_end = header.position();
  BASIN_ASSIGN_OR_RETURN(uint32_t header_crc, header.Get<uint32_t>("header checksum"));
  if (Crc32c(bytes.substr(0, header_end)) != header_crc) {
    return absl::DataLossError("log header checksum mismatch");
  }
  std::size_t pos = header.position();
  contents.valid_bytes = pos;
  uint64_t expected_seq = contents.first_seq;
  while (pos < bytes.size()) {
    const std::size_t left = bytes.size() - pos;
    // A crash of the machine (not of the process) can leave the end of a file zero-filled.
    if (bytes.find_first_not_of('\0', pos) == absl::string_view::npos) {
      contents.torn_bytes = left;
      return contents;
    }
    uint32_t length = 0, crc = 0;
    const bool framed = left >= kFrameBytes;
    if (framed) {
      std::memcpy(&length, bytes.data() + pos, 4);
      std::memcpy(&crc, bytes.data() + pos + 4, 4);
    }
    const bool complete = framed && length <= left - kFrameBytes;
    const bool last = !complete || pos + kFrameBytes + length == bytes.size();
    if (!complete || Crc32c(bytes.substr(pos + kFrameBytes, length)) != crc) {
      if (last) {
        contents.torn_bytes = left;
        return contents;
      }
      return absl::DataLossError(absl::StrCat("log record ", contents.records.size(), " at byte ", pos,
                                              " fails its checksum and ", left - kFrameBytes - length,
                                              " bytes follow it: the log is damaged"));
    }
    auto record = DecodePayload(bytes.substr(pos + kFrameBytes, length));
    if (!record.ok()) {
      return absl::DataLossError(absl::StrCat("log record at byte ", pos, ": ", record.status().message()));
    }
    if (record->seq != expected_seq) {
      return absl::DataLossError(absl::StrCat("log record at byte ", pos, " has sequence number ", record->seq,
                                              " where ", expected_seq, " was expected"));
    }
    ++expected_seq;
    contents.records.push_back(*std::move(record));
    pos += kFrameBytes + length;
    contents.valid_bytes = pos;
  }
  return contents;
}

}  // namespace basin
