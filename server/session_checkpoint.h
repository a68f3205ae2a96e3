#ifndef BASIN_SERVER_SESSION_CHECKPOINT_H_
#define BASIN_SERVER_SESSION_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "basin/v1/optimizer_service.pb.h"
#include "server/session.h"
#include "server/session_manager.h"

namespace basin {

// A session as a checkpoint (ExportSession's bytes, a serialized v1::SessionCheckpoint) and back.
inline constexpr uint32_t kCheckpointFormatVersion = 1;

struct EncodedCheckpoint {
  std::string bytes;
  int64_t tick = 0;  // the session's tick in the checkpoint
};

// The session's worker policy and complete optimizer state, taken under its lock.
EncodedCheckpoint EncodeCheckpoint(const Session& session);

// ExportSession's bytes as a checkpoint: InvalidArgument for bytes that are not one, or of another
// format version.
absl::StatusOr<v1::SessionCheckpoint> ParseCheckpoint(absl::string_view bytes);

// The session a checkpoint describes, checked: the worker policy, and the state (DataLoss or
// InvalidArgument from the state codec, prefixed "checkpoint state: "). The spec's initialize step
// installs the decoded optimizer, so SessionManager applies its limits to it like to any new
// session. `header` names the request id and metrics label; the fingerprint ties the request id
// to this checkpoint.
absl::StatusOr<CreateSessionSpec> CreateSessionSpecFromCheckpoint(const v1::SessionCheckpoint& checkpoint,
                                                                 const v1::ImportHeader& header);

}  // namespace basin

#endif  // BASIN_SERVER_SESSION_CHECKPOINT_H_
