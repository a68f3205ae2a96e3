#include "server/persistence/checkpoint_file.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/byte_io.h"
#include "core/status_macros.h"

namespace basin {
namespace {

constexpr absl::string_view kMagic = "BASNCKPT";
constexpr uint32_t kVersion = 1;
constexpr std::size_t kMaxString = 256;
constexpr std::size_t kFixedPrefix = 8 + 4 + 4;  // magic, version, header size

uint32_t ReadU32(absl::string_view bytes, std::size_t at) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + at, 4);
  return v;
}

}  // namespace

std::string EncodeCheckpointFile(const StoredCheckpoint& checkpoint) {
  std::string header;
  ByteWriter h(&header);
  h.PutString(checkpoint.checkpoint_id);
  h.PutString(checkpoint.session_id);
  h.PutString(checkpoint.optimizer);
  h.Put<int64_t>(checkpoint.tick);
  h.Put<uint64_t>(checkpoint.checkpoint.size());

  std::string out;
  out.reserve(kFixedPrefix + header.size() + 8 + checkpoint.checkpoint.size());
  ByteWriter w(&out);
  w.PutBytes(kMagic.data(), kMagic.size());
  w.Put<uint32_t>(kVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(header.size()));
  w.PutBytes(header.data(), header.size());
  w.Put<uint32_t>(Crc32c(out));
  w.PutBytes(checkpoint.checkpoint.data(), checkpoint.checkpoint.size());
  w.Put<uint32_t>(Crc32c(checkpoint.checkpoint));
  return out;
}

absl::StatusOr<StoredCheckpoint> DecodeCheckpointHeader(absl::string_view prefix) {
  if (prefix.size() < kFixedPrefix || prefix.substr(0, kMagic.size()) != kMagic) {
    return absl::DataLossError(absl::StrCat("not a basin checkpoint file (", prefix.size(), " bytes, no BASNCKPT header)"));
  }
  const uint32_t version = ReadU32(prefix, 8);
  if (version != kVersion) {
    return absl::DataLossError(absl::StrCat("checkpoint file format version ", version, " is not ", kVersion));
  }
  const uint32_t header_size = ReadU32(prefix, 12);
  if (header_size > kCheckpointHeaderMaxBytes || prefix.size() < kFixedPrefix + header_size + 4) {
    return absl::DataLossError(absl::StrCat("checkpoint file header of ", header_size, " bytes is cut short or too long"));
  }
  const absl::string_view covered = prefix.substr(0, kFixedPrefix + header_size);
  if (Crc32c(covered) != ReadU32(prefix, covered.size())) {
    return absl::DataLossError("checkpoint file header checksum mismatch");
  }
  ByteReader r(covered.substr(kFixedPrefix));
  StoredCheckpoint checkpoint;
  BASIN_ASSIGN_OR_RETURN(checkpoint.checkpoint_id, r.GetString("checkpoint id", kMaxString));
  BASIN_ASSIGN_OR_RETURN(checkpoint.session_id, r.GetString("session id", kMaxString));
  BASIN_ASSIGN_OR_RETURN(checkpoint.optimizer, r.GetString("optimizer", kMaxString));
  BASIN_ASSIGN_OR_RETURN(checkpoint.tick, r.Get<int64_t>("tick"));
  BASIN_ASSIGN_OR_RETURN(checkpoint.size, r.Get<uint64_t>("size"));
  if (r.remaining() != 0) {
    return absl::DataLossError(absl::StrCat("checkpoint file header has ", r.remaining(), " bytes after its fields"));
  }
  return checkpoint;
}

absl::StatusOr<StoredCheckpoint> DecodeCheckpointFile(absl::string_view bytes) {
  BASIN_ASSIGN_OR_RETURN(StoredCheckpoint checkpoint, DecodeCheckpointHeader(bytes));
  const std::size_t start = kFixedPrefix + ReadU32(bytes, 12) + 4;
  if (bytes.size() - start < 4 || bytes.size() - start - 4 != checkpoint.size) {
    return absl::DataLossError(absl::StrCat("checkpoint file holds ", bytes.size() - start, " bytes after its header; ",
                                            "its header says ", checkpoint.size, " and a checksum"));
  }
  const absl::string_view body = bytes.substr(start, checkpoint.size);
  if (Crc32c(body) != ReadU32(bytes, start + checkpoint.size)) {
    return absl::DataLossError(absl::StrCat("checkpoint checksum mismatch over ", checkpoint.size, " bytes"));
  }
  checkpoint.checkpoint = std::string(body);
  return checkpoint;
}

}  // namespace basin
