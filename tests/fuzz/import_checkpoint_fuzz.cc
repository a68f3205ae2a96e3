// Fuzz target: a checkpoint (a serialized v1::SessionCheckpoint, what ExportSession streams and
// ImportSession reads) through ImportSession's path: ParseCheckpoint,
// CreateSessionSpecFromCheckpoint, then SessionManager::Create under small limits. Each input is
// tried as it is and, when it parses, once more with the embedded state's CRC-32C made right, so
// the fuzzer gets past the checksum.
//
// Invariants: no crash, leak or unbounded allocation; a refusal is a client error
// (INVALID_ARGUMENT, DATA_LOSS, RESOURCE_EXHAUSTED, FAILED_PRECONDITION) with a message and leaves
// no session; an imported session exports the same state and worker policy it was imported from,
// and runs a tick.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "basin/v1/optimizer_service.pb.h"
#include "core/byte_io.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/proto_convert.h"
#include "server/session_checkpoint.h"
#include "server/session_manager.h"
#include "tests/fuzz/allocation_meter.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/session_checks.h"

namespace basin {
namespace {

ServerLimits FuzzLimits() {
  ServerLimits limits;
  limits.max_sessions = 2;
  limits.max_parameters_per_session = int64_t{1} << 18;
  limits.max_total_state_bytes = int64_t{1} << 20;
  limits.max_workers_per_session = 8;
  return limits;
}

bool IsClientError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

// protobuf reserves a declared string's length, up to 50 MB (EpsCopyInputStream's
// kSafeStringSize), before it knows the bytes are there: a 200-byte message can allocate that
// much while it parses. Library behaviour, transient, the same for every request gRPC parses
// (docs/reliability.md); measured apart from basin's own code.
constexpr int64_t kProtobufStringReserve = 50'000'000;

void CheckImport(absl::string_view bytes) {
  const ServerLimits limits = FuzzLimits();
  SessionManager sessions(limits);
  absl::StatusOr<v1::SessionCheckpoint> checkpoint;
  {
    fuzz::AllocationMeter meter;
    checkpoint = ParseCheckpoint(bytes);
    const int64_t allowed = kProtobufStringReserve + 4 * static_cast<int64_t>(bytes.size()) + (64 << 10);
    BASIN_FUZZ_CHECK(!fuzz::AllocationMeter::available() || meter.peak_bytes() <= allowed, "parsing ",
                     bytes.size(), " bytes allocated ", meter.peak_bytes(), " at the peak");
  }
  absl::StatusOr<std::shared_ptr<Session>> session = absl::UnknownError("not imported");
  if (!checkpoint.ok()) {
    session = checkpoint.status();
  } else {
    fuzz::AllocationMeter meter;
    auto spec = CreateSessionSpecFromCheckpoint(*checkpoint, v1::ImportHeader());
    session = spec.ok() ? sessions.Create(*std::move(spec)) : spec.status();
    // The decoded state (up to 9 times its bytes, as in state_codec_fuzz) and the fresh optimizer
    // Create builds before the decoded one replaces it (at most the state limit).
    const int64_t allowed = 9 * static_cast<int64_t>(bytes.size()) + limits.max_total_state_bytes + (256 << 10);
    BASIN_FUZZ_CHECK(!fuzz::AllocationMeter::available() || meter.peak_bytes() <= allowed, "importing ",
                     bytes.size(), " bytes allocated ", meter.peak_bytes(), " at the peak; result: ",
                     session.ok() ? "imported" : session.status().ToString());
  }
  if (!session.ok()) {
    BASIN_FUZZ_CHECK(IsClientError(session.status()) && !session.status().message().empty(),
                     "a refused checkpoint: ", session.status().ToString());
    BASIN_FUZZ_CHECK(sessions.num_sessions() == 0 && sessions.total_state_bytes() == 0,
                     "a refused checkpoint left ", sessions.num_sessions(), " sessions");
    return;
  }

  const v1::SessionCheckpoint& imported = *checkpoint;
  v1::SessionCheckpoint exported;
  const EncodedCheckpoint encoded = EncodeCheckpoint(**session);
  BASIN_FUZZ_CHECK(exported.ParseFromString(encoded.bytes), "the export does not parse");
  BASIN_FUZZ_CHECK(exported.state() == imported.state(), "the imported session exports another state");
  const v1::WorkerPolicy workers = WorkerPolicyToProto(*WorkerPolicyFromProto(imported.workers()));
  BASIN_FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(exported.workers(), workers),
                   "the imported session exports another worker policy: ", exported.workers().ShortDebugString(),
                   " for ", imported.workers().ShortDebugString());

  fuzz::CheckAcceptsAZeroGradient(**session);
}

}  // namespace
}  // namespace basin

// protobuf logs every string field with invalid UTF-8 it refuses to parse; the fuzzer makes
// thousands a second.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  basin::CheckImport(bytes);
  basin::v1::SessionCheckpoint checkpoint;
  if (size > INT32_MAX || !checkpoint.ParseFromArray(data, static_cast<int>(size)) || checkpoint.state().size() < 4) {
    return 0;
  }
  std::string state = checkpoint.state();
  const uint32_t crc = basin::Crc32c(absl::string_view(state).substr(0, state.size() - 4));
  std::memcpy(state.data() + state.size() - 4, &crc, 4);
  if (state == checkpoint.state()) return 0;
  checkpoint.set_state(state);
  basin::CheckImport(checkpoint.SerializeAsString());
  return 0;
}
